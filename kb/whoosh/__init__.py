"""Everything that touches Whoosh's internals, fenced here: the codec and posting pool (`codec`), the posting-list
scoring engine (`engine`), the memory-mapped storage searchers read through (`storage`), and the one capability
check that picks their fast path or Whoosh's stock path. Importing this package imports Whoosh itself without
modules it would pull in for nothing (urllib.request, html, asyncio, OpenSSL's hashlib), so kb imports it before any
other Whoosh module.

whoosh-reloaded is no longer maintained upstream; kb pins the version it is tested with. Indexes pickle the codec
by import path: segments written before this package existed name `kb.codec.KbCodec`, so that name is kept as an
alias of `kb.whoosh.codec` (an index must never turn "damaged" because a module moved).
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # rather than typing's: a cold search does not import typing (kb/__init__.py)
if TYPE_CHECKING:
    from typing import Any


def urlretrieve(*args: Any, **kwargs: Any) -> Any:
    """`urllib.request.urlretrieve`, imported when called: what `whoosh.compat.urlretrieve` is when kb imported
    Whoosh (kb never calls it; anyone else who does gets the real function's behaviour)."""
    from urllib.request import urlretrieve as real

    return real(*args, **kwargs)


def htmlescape(s: str, quote: bool = True) -> str:
    """`html.escape`, imported when called: what `whoosh.compat.htmlescape` is when kb imported Whoosh (only
    Whoosh's highlighter calls it, which kb does not use; `html` builds its table of 2,000 entities at import)."""
    from html import escape

    return escape(s, quote)


def _import_compat_without_urllib() -> None:
    """Import whoosh.compat with a stand-in `urllib.request` (a lazy `urlretrieve`) and a stand-in `html` (a lazy
    `escape`, ~8 M instructions saved), given to its code alone (kb/standins.py).

    whoosh.compat re-exports `urllib.request.urlretrieve` (which nothing in Whoosh calls), and importing
    urllib.request pulls in http.client, email, ssl and socket: about a quarter of `import whoosh.index`
    itself. When urllib.request (or whoosh.compat) is already loaded there is nothing to save.
    """
    if "urllib.request" in sys.modules:
        return
    import types

    from ..standins import import_with

    stand_ins = {"urllib.request": types.ModuleType("urllib.request"), "html": types.ModuleType("html")}
    stand_ins["urllib.request"].urlretrieve = urlretrieve  # type: ignore[attr-defined]
    stand_ins["html"].escape = htmlescape  # type: ignore[attr-defined]
    import_with("whoosh.compat", stand_ins)


def copyfileobj(*args: Any, **kwargs: Any) -> Any:
    """`shutil.copyfileobj`, imported when called: what `whoosh.filedb.compound.copyfileobj` is when kb imported
    Whoosh (used to copy files into a compound file, which kb's indexes are not)."""
    from shutil import copyfileobj as real

    return real(*args, **kwargs)


def _import_storage_without_tempfile() -> None:
    """Import Whoosh's file storage, compound files and external sort with a stand-in `tempfile` (a Lazy module)
    and a stand-in `shutil` (a lazy `copyfileobj`), given to their code alone (kb/standins.py).

    Each imports one of them at its top for a function a search never calls (a temporary folder, a compound file,
    a sort spilled to disk), and tempfile imports shutil, which imports bz2 and lzma: ~12 M instructions, ~4% of
    `import whoosh.index` (callgrind). When tempfile (or these modules) is already loaded there is nothing to save.
    """
    if "tempfile" in sys.modules or "shutil" in sys.modules:
        return
    import types

    from ..standins import Lazy, import_with

    tempfile = Lazy("tempfile")
    shutil = types.ModuleType("shutil")
    shutil.copyfileobj = copyfileobj  # type: ignore[attr-defined]
    import_with("whoosh.filedb.filestore", {"tempfile": tempfile})
    import_with("whoosh.filedb.compound", {"shutil": shutil})
    import_with("whoosh.externalsort", {"tempfile": tempfile})


def _import_filetables_without_openssl() -> None:
    """Import whoosh.filedb.filetables with a stand-in `hashlib` whose `md5` is CPython's own (`_md5`).

    The terms file is a hash table keyed by MD5 (Whoosh's default hash type), and filetables takes `md5` from
    hashlib, whose import loads OpenSSL's libcrypto: ~3 CPU-ms of every cold search, more than the search of a rare
    word. `_md5` gives the same digests (and is faster for keys this short). When hashlib is already loaded, or this
    Python was built without `_md5`, the real module is used.
    """
    if "hashlib" in sys.modules or "whoosh.filedb.filetables" in sys.modules:
        return
    try:
        from _md5 import md5
    except ImportError:  # a build without CPython's own hashes (FIPS): hashlib's
        return
    import types

    from ..standins import import_with

    stand_in = types.ModuleType("hashlib")
    stand_in.md5 = md5  # type: ignore[attr-defined]
    import_with("whoosh.filedb.filetables", {"hashlib": stand_in})


def _import_reading_without_asyncio() -> None:
    """Import whoosh.reading with functools.cached_property standing in for the `cached_property` package.

    whoosh.reading takes one decorator from that package, and the package imports asyncio (with concurrent.futures,
    logging, subprocess...): over a third of the instructions of a cold `kb search`. functools' decorator does the
    same for a plain method. The stand-in is removed again at once, so anyone importing `cached_property` later
    gets the real package; when it (or whoosh.reading) is already loaded there is nothing to save.
    """
    if "whoosh.reading" in sys.modules or "cached_property" in sys.modules:
        return
    import functools
    import types

    stand_in = types.ModuleType("cached_property")
    stand_in.cached_property = functools.cached_property  # type: ignore[attr-defined]
    sys.modules["cached_property"] = stand_in
    try:
        import whoosh.reading  # noqa: F401
    finally:
        if sys.modules.get("cached_property") is stand_in:
            del sys.modules["cached_property"]


_import_compat_without_urllib()
_import_filetables_without_openssl()
_import_storage_without_tempfile()
_import_reading_without_asyncio()

from . import codec  # noqa: E402 - after whoosh.reading is in: the codec imports it

sys.modules.setdefault("kb.codec", codec)


def open_index(folder: str, *, mapped: bool = False) -> Any:
    """Open the Whoosh index in a generation folder (with the `kb.codec` alias in place for old segments); mapped:
    its files read through memory maps (`kb.whoosh.storage`), for searchers only."""
    if mapped:
        from .storage import MappedStorage

        return MappedStorage(folder).open_index()
    from whoosh.index import open_dir

    return open_dir(folder)
