"""Import a module with stand-ins for some of the modules it imports, for a cold `kb search`: modules imported at
the top of a library but used only in rare calls (whoosh.compat's `urllib.request` and `html`, dataclasses'
`inspect`) cost a fresh process more than the search itself uses of them.

A stand-in is given to that one module's code alone, through its own `__import__`, and never enters sys.modules:
any other code (a thread of the user's meanwhile, anything imported later) gets the real module. When the module
is already loaded there is nothing to save and nothing is done.
"""

from __future__ import annotations

import sys
import types
from typing import Any


class Lazy(types.ModuleType):
    """A stand-in that is the real module on first use: any attribute read imports the real one and reads it."""

    def __getattr__(self, attr: str) -> Any:
        return getattr(__import__(self.__name__, fromlist=["_"]), attr)


def import_with(name: str, stand_ins: dict[str, types.ModuleType]) -> None:
    """Import module `name` (if it is not loaded yet) with `stand_ins` in place of those modules for its own
    top-level imports."""
    if name in sys.modules:
        return
    finder = _Finder(name, stand_ins)
    sys.meta_path.insert(0, finder)
    try:
        __import__(name)
    finally:
        sys.meta_path.remove(finder)


def import_dataclasses_without_inspect() -> None:
    """dataclasses imports inspect (with ast, dis, tokenize: ~35 M instructions, a tenth of `import whoosh.index`)
    to word the `__doc__` of a class that has no docstring, on Python 3.10 and 3.11; kb's classes on the search path
    have docstrings, so a search never needs it (from 3.12 every dataclass reads inspect, which then loads)."""
    if "inspect" not in sys.modules:
        import_with("dataclasses", {"inspect": Lazy("inspect")})


class _Finder:
    """Finds the module as the other finders do, with a loader that runs it under its own `__import__`."""

    def __init__(self, name: str, stand_ins: dict[str, types.ModuleType]) -> None:
        self.name, self.stand_ins = name, stand_ins

    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        if name != self.name:
            return None
        from importlib.machinery import PathFinder

        spec = PathFinder.find_spec(name, path)
        if spec is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _Loader(spec.loader, self.stand_ins)  # type: ignore[assignment]
        return spec


class _Loader:
    def __init__(self, loader: Any, stand_ins: dict[str, types.ModuleType]) -> None:
        self.loader, self.stand_ins = loader, stand_ins

    def create_module(self, spec: Any) -> Any:
        return self.loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        import builtins

        own = module.__builtins__ = _builtins(self.stand_ins)  # exec() keeps a module's own builtins
        try:
            self.loader.exec_module(module)
        finally:  # its functions keep `own`: they import as everyone else does from now on
            own["__import__"] = builtins.__import__


def _builtins(stand_ins: dict[str, types.ModuleType]) -> dict[str, Any]:
    import builtins

    real_import = builtins.__import__

    def own_import(name: str, *args: Any, **kwargs: Any) -> Any:
        return stand_ins[name] if name in stand_ins else real_import(name, *args, **kwargs)

    return {**vars(builtins), "__import__": own_import}
