"""Import a module with stand-ins for some of the modules or builtins it uses, for a cold `kb search`: modules
imported at the top of a library but used only in rare calls (whoosh.compat's `urllib.request` and `html`,
dataclasses' `inspect`) cost a fresh process more than the search itself uses of them, and dataclasses compiles
the same methods' source afresh in every process (`CodeCache`).

A stand-in is given to that one module's code alone, through builtins of its own (`__import__`, `exec`), and
never enters sys.modules: any other code (a thread of the user's meanwhile, anything imported later) gets the real
module. When the module is already loaded there is nothing to save and nothing is done.
"""

from __future__ import annotations

import marshal
import os
import sys
import types

TYPE_CHECKING = False  # rather than typing's: a cold search does not import typing (kb/__init__.py)
if TYPE_CHECKING:
    from typing import Any


class Lazy(types.ModuleType):
    """A stand-in that is the real module on first use: any attribute read imports the real one and reads it."""

    def __getattr__(self, attr: str) -> Any:
        return getattr(__import__(self.__name__, fromlist=["_"]), attr)


def import_with(name: str, stand_ins: dict[str, types.ModuleType], *,
                builtins: dict[str, Any] | None = None) -> None:
    """Import module `name` (if it is not loaded yet) with `stand_ins` in place of those modules for its own
    top-level imports, and `builtins` in place of those builtins for all its code."""
    if name in sys.modules:
        return
    finder = _Finder(name, stand_ins, builtins or {})
    sys.meta_path.insert(0, finder)
    try:
        __import__(name)
    finally:
        sys.meta_path.remove(finder)


def import_dataclasses_for_search(cache: CodeCache | None = None) -> None:
    """Import dataclasses for a cold search, with two stand-ins of its own.

    `inspect`: dataclasses imports it (with ast, dis, tokenize: ~35 M instructions, a tenth of `import
    whoosh.index`) to word the `__doc__` of a class that has no docstring, on Python 3.10 and 3.11; kb's classes on
    the search path have docstrings, so a search never needs it (from 3.12 every dataclass reads inspect, which
    then loads). `exec`: `cache` (by default `CodeCache.beside_bytecode()`) keeps the compiled methods."""
    if "dataclasses" in sys.modules:
        return
    stand_ins: dict[str, types.ModuleType] = {} if "inspect" in sys.modules else {"inspect": Lazy("inspect")}
    cache = cache or CodeCache.beside_bytecode()
    import_with("dataclasses", stand_ins, builtins={} if cache is None else {"exec": cache.exec})


class CodeCache:
    """Compiled code for the source texts dataclasses writes and runs with `exec`, kept in a file between
    processes as Python keeps a module's bytecode.

    dataclasses writes each method of a class (`__init__`, `__repr__`, `__eq__`, `__hash__`, a frozen class's
    `__setattr__` and `__delattr__`) as source and compiles it when the class is made, in every process: for the
    ~24 classes on a search's path, ~70% of ~15 ms, a sixth of `import whoosh.index`. The source text is the key, so
    a cached code object is exactly what compiling that text gives (on the same bytecode version, which the file's
    header holds). The file is rewritten, atomically, only after a process compiled something new; if it cannot be
    read or written the code is compiled as it would have been, as Python does with bytecode it cannot cache.
    """

    LIMIT = 512  # texts kept; past it, only those the last process used

    def __init__(self, path: str) -> None:
        self.path = path
        self.codes = self._read()
        self.used: set[str] = set()
        self.new = False

    @classmethod
    def beside_bytecode(cls) -> CodeCache | None:
        """The cache in kb's own `__pycache__`, or None where Python keeps no bytecode cache."""
        tag = sys.implementation.cache_tag
        if tag is None:
            return None
        return cls(os.path.join(os.path.dirname(__file__), "__pycache__", f"dataclass-methods.{tag}.bin"))

    def exec(self, source: Any, globals: Any = None, locals: Any = None) -> None:
        """`exec` for dataclasses' own calls: a source string's code comes from the cache."""
        if not isinstance(source, str):
            exec(source, globals, locals)
            return
        code = self.codes.get(source)
        if code is None:
            code = self.codes[source] = compile(source, "<string>", "exec", dont_inherit=True)
            if not self.new:
                self.new = True
                import atexit

                atexit.register(self.save)
        self.used.add(source)
        exec(code, globals, locals)

    def save(self) -> None:
        """Write the cache if this process compiled something new and Python may write bytecode here."""
        if not self.new or sys.dont_write_bytecode:
            return
        keep = self.codes if len(self.codes) <= self.LIMIT else {s: self.codes[s] for s in self.used}
        temporary = f"{self.path}.{os.getpid()}.tmp"
        try:
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            with open(temporary, "wb") as out:
                out.write(_header() + marshal.dumps(keep))
            os.replace(temporary, self.path)
        except OSError:
            _remove_own(temporary)
            return
        self.new = False

    def _read(self) -> dict[str, types.CodeType]:
        try:
            with open(self.path, "rb") as f:
                data = f.read()
        except OSError:
            return {}
        header = _header()
        if not data.startswith(header):
            return {}
        try:
            codes = marshal.loads(data[len(header):])
        except (EOFError, ValueError, TypeError):
            return {}
        if not isinstance(codes, dict):
            return {}
        return {s: c for s, c in codes.items() if isinstance(s, str) and isinstance(c, types.CodeType)}


def _header() -> bytes:
    """The bytecode version (as in a .pyc) and the optimisation level the code was compiled for."""
    from importlib.util import MAGIC_NUMBER

    return MAGIC_NUMBER + bytes([sys.flags.optimize])


def _remove_own(path: str) -> None:
    """Remove a temporary file this process made, if it is there."""
    try:
        os.remove(path)
    except OSError:
        pass


class _Finder:
    """Finds the module as the other finders do, with a loader that runs it under its own `__import__`."""

    def __init__(self, name: str, stand_ins: dict[str, types.ModuleType], builtins: dict[str, Any]) -> None:
        self.name, self.stand_ins, self.builtins = name, stand_ins, builtins

    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        if name != self.name:
            return None
        from importlib.machinery import PathFinder

        spec = PathFinder.find_spec(name, path)
        if spec is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _Loader(spec.loader, self.stand_ins, self.builtins)  # type: ignore[assignment]
        return spec


class _Loader:
    def __init__(self, loader: Any, stand_ins: dict[str, types.ModuleType], builtins: dict[str, Any]) -> None:
        self.loader, self.stand_ins, self.builtins = loader, stand_ins, builtins

    def create_module(self, spec: Any) -> Any:
        return self.loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        import builtins

        own = module.__builtins__ = _builtins(self.stand_ins, self.builtins)  # exec() keeps a module's own builtins
        try:
            self.loader.exec_module(module)
        finally:  # its functions keep `own`: they import as everyone else does from now on
            own["__import__"] = builtins.__import__


def _builtins(stand_ins: dict[str, types.ModuleType], replaced: dict[str, Any]) -> dict[str, Any]:
    import builtins

    real_import = builtins.__import__

    def own_import(name: str, *args: Any, **kwargs: Any) -> Any:
        return stand_ins[name] if name in stand_ins else real_import(name, *args, **kwargs)

    return {**vars(builtins), **replaced, "__import__": own_import}
