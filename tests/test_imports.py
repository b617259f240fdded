"""No import cycles between kb's modules, counting imports inside functions too (a lazy import still ties two
modules together: each needs the other to be understood, and the order they load in starts to matter)."""

from __future__ import annotations

import ast
import os
import sys
from pathlib import Path
from typing import Any

PACKAGE = Path(__file__).resolve().parent.parent / "kb"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path, modules: set[str]) -> set[str]:
    """The kb modules a module imports, anywhere in it, except for type checkers only and in the package's lazy
    `__getattr__` re-export of its API."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == "__getattr__" and path.name == "__init__.py":
            skip.update(id(n) for n in ast.walk(node))
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            skip.update(id(n) for n in ast.walk(node))
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "kb")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            elif node.module and node.module.split(".")[0] == "kb":
                target = node.module
            else:
                continue
            for alias in node.names:  # `from . import x` may name a module or an attribute of the package
                sub = f"{target}.{alias.name}"
                found.add(sub if sub in modules else target)
    found.discard(name)
    return {m for m in found if m in modules}


def graph() -> dict[str, set[str]]:
    paths = sorted(PACKAGE.rglob("*.py"))
    modules = {module_name(p) for p in paths}
    return {module_name(p): imports(p, modules) for p in paths}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def test_the_graph_sees_lazy_imports() -> None:
    edges = graph()
    assert "kb.search" in edges["kb.api"]  # imported inside KnowledgeBase.search
    assert "kb.whoosh.engine" in edges["kb.search"]


def test_no_import_cycles() -> None:
    assert cycles(graph()) == []


def test_a_cycle_is_found() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == [["a", "b", "c"]]


# What a `kb search` of a fresh index must not import (docs/performance.md, "Cold path"): the writer and the parsers,
# Whoosh's query language and searcher (kb scores with kb/whoosh/engine.py), asyncio (which whoosh.reading's
# `cached_property` package would pull in), urllib.request with http/email/ssl (whoosh.compat's `urlretrieve`), and
# the records only a reindex or `kb show` builds.
NOT_ON_THE_SEARCH_PATH = ("kb.index", "kb.records", "kb.parse", "kb.sections", "kb.dialects", "asyncio",
                          "concurrent.futures", "whoosh.searching", "whoosh.query", "whoosh.qparser",
                          "whoosh.highlight", "cached_property", "markdown_it", "bs4", "frontmatter", "yaml",
                          # whoosh.compat's `urlretrieve` would pull these in (kb/whoosh/__init__.py)
                          "urllib.request", "http.client", "email.parser", "ssl", "html", "html.entities",
                          # Whoosh's storage, compound files and external sort: a temporary folder, a file copy
                          "tempfile", "shutil", "bz2", "lzma",
                          "signal",  # Ctrl-C held while a generation is published, a parse's deadline: writer-side
                          "shlex",  # the tips of a search with no hit
                          "hashlib", "_hashlib",  # SHA-1 (OpenSSL): the open check reads CRC-32 (Manifest.crc32)
                          "kb.semantic",  # with the model turned off (KB_MODEL=none)
                          "numpy", "kb.dense",  # a small query's first search: numpy's import would not pay
                          # a plain `kb search` is read without click (kb/fastcli.py), nor what click imports
                          "click", "kb.cli", "gettext", "uuid", "platform",
                          "typing",  # kb's annotations are strings and TYPE_CHECKING its own (kb/__init__.py)
                          ) + (("inspect", "ast", "dis", "tokenize") if sys.version_info < (3, 12) else ())
# (dataclasses imports inspect to word a class's missing docstring; from Python 3.12 it reads every class with it)


def test_a_search_of_a_fresh_index_imports_only_what_it_needs(seed_kb: Any) -> None:
    import json
    import subprocess
    import sys

    code = ("import atexit, json, sys\n"
            "atexit.register(lambda: print('LOADED', json.dumps(sorted(sys.modules)), file=sys.stderr))\n"
            "from kb.__main__ import main\n"
            f"sys.argv = ['kb', '--content', {str(seed_kb.content_dir)!r}, '--index', {str(seed_kb.index_dir)!r}, "
            "'search', 'partners']\n"
            "main()\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "KB_MODEL": "none"})
    assert done.returncode == 0, done.stderr
    assert "Atos" in done.stdout  # it did search (and found the partner passage)
    loaded = set(json.loads(done.stderr.rsplit("LOADED ", 1)[1]))
    assert {"kb.search", "kb.whoosh.searcher", "whoosh.reading"} <= loaded  # the check sees what it should
    assert sorted(m for m in NOT_ON_THE_SEARCH_PATH if m in loaded) == []
    # the real package stays importable for others: kb's stand-in is gone once whoosh.reading is in
    assert "cached_property" not in loaded


def test_whoosh_imported_by_kb_leaves_the_real_modules_to_others(tmp_path: Path) -> None:
    """kb's stand-ins (urllib.request, cached_property, tempfile, shutil, hashlib) exist only while Whoosh is imported:
    afterwards a program importing those modules gets the real ones, and whoosh.compat.urlretrieve still downloads."""
    import subprocess
    import sys

    source = tmp_path / "page.txt"
    source.write_text("fetched", encoding="utf-8")
    code = ("import sys\n"
            "import kb.whoosh\n"
            "import whoosh.compat, whoosh.reading\n"
            "import whoosh.filedb.filestore, whoosh.filedb.compound, whoosh.externalsort\n"
            "assert 'tempfile' not in sys.modules and 'shutil' not in sys.modules\n"
            "import whoosh.filedb.filetables as tables\n"
            "assert 'hashlib' not in sys.modules and tables.md5_hash(b'body\\0word') == 2439320199\n"
            "import hashlib\n"
            "assert sys.modules['hashlib'] is hashlib and hasattr(hashlib, 'sha256'), hashlib\n"
            "assert int(hashlib.md5(b'body\\0word').hexdigest(), 16) & 0xFFFFFFFF == 2439320199\n"
            "assert whoosh.filedb.filestore.tempfile.gettempdir() == whoosh.externalsort.tempfile.gettempdir()\n"
            "import io, tempfile, shutil\n"
            "assert sys.modules['tempfile'] is tempfile and hasattr(tempfile, 'mkdtemp'), tempfile\n"
            "assert sys.modules['shutil'] is shutil and hasattr(shutil, 'rmtree'), shutil\n"
            "copied = io.BytesIO()\n"
            "whoosh.filedb.compound.copyfileobj(io.BytesIO(b'abc'), copied)\n"
            "assert copied.getvalue() == b'abc'\n"
            "assert 'urllib.request' not in sys.modules and 'cached_property' not in sys.modules\n"
            "assert 'html' not in sys.modules and whoosh.compat.htmlescape('<a \"b\">') == '&lt;a &quot;b&quot;&gt;'\n"
            "import html\n"
            "assert whoosh.compat.htmlescape('<a>', quote=False) == html.escape('<a>', False)\n"
            "import urllib, urllib.request\n"
            "assert urllib.request.__file__ and hasattr(urllib.request, 'urlopen'), urllib.request\n"
            "assert urllib.request is sys.modules['urllib.request']\n"
            "import cached_property\n"
            "assert hasattr(cached_property, 'threaded_cached_property'), cached_property\n"
            f"path, _ = whoosh.compat.urlretrieve({source.as_uri()!r}, {str(tmp_path / 'copy.txt')!r})\n"
            "print(open(path, encoding='utf-8').read())\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "fetched"


def test_whoosh_imported_before_kb_is_left_as_it_is() -> None:
    import subprocess
    import sys

    code = ("import sys, urllib.request, whoosh.compat\n"
            "import kb.whoosh, kb.manifest\n"
            "assert whoosh.compat.urlretrieve is urllib.request.urlretrieve\n"
            "assert sys.modules['urllib.request'] is urllib.request\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_the_model_settings_that_mean_off_are_the_same_in_both_places() -> None:
    import kb.api
    import kb.semantic

    assert kb.api.MODEL_OFF == kb.semantic.OFF


def test_a_thread_importing_urllib_request_while_kb_imports_whoosh_gets_the_real_module() -> None:
    """The urllib.request stand-in is whoosh.compat's alone: another thread importing urllib.request while
    kb.whoosh is being imported (here: while whoosh.compat imports pickle) must not get it."""
    import subprocess
    import sys

    code = ("import sys, threading\n"
            "seen, threads = [], []\n"
            "def other():\n"
            "    try:\n"
            "        from urllib.request import Request  # noqa: F401\n"
            "        seen.append('ok')\n"
            "    except ImportError as exc:\n"
            "        seen.append(repr(exc))\n"
            "class Hook:\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name == 'pickle' and 'whoosh.compat' in sys.modules and not threads:\n"
            "            threads.append(threading.Thread(target=other))\n"
            "            threads[0].start()\n"
            "            threads[0].join(1)  # it may have to wait for this import's lock\n"
            "        return None\n"
            "assert 'pickle' not in sys.modules and 'urllib.request' not in sys.modules\n"
            "sys.meta_path.insert(0, Hook())\n"
            "import kb.whoosh\n"
            "threads[0].join()\n"
            "print(seen)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['ok']"


def test_dataclasses_imported_by_a_search_leave_inspect_to_others() -> None:
    """kb/standins.py: dataclasses gets a lazy `inspect` of its own; a class without a docstring still gets the
    signature as its doc (the real inspect is imported then), and everyone else's `import inspect` is the real one."""
    import subprocess

    code = ("import sys\n"
            "from kb.standins import import_dataclasses_for_search\n"
            "import_dataclasses_for_search()\n"
            "import dataclasses\n"
            "assert 'inspect' not in sys.modules\n"
            "@dataclasses.dataclass\n"
            "class Point:\n"
            "    x: int\n"
            "    y: int = 0\n"
            "assert Point.__doc__ == 'Point(x: int, y: int = 0)', Point.__doc__\n"
            "import inspect\n"
            "assert sys.modules['inspect'] is inspect and inspect.__file__ and hasattr(inspect, 'signature')\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
