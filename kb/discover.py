"""Find the pages of a knowledge base: which files count, and their stat signature for cheap freshness checks.

This module runs on every `kb search` (to see whether the index is stale), so it only lists and stats; it never
reads file contents and imports nothing heavy.
"""

from __future__ import annotations

import os
import stat
from bisect import bisect_left
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path

from .errors import ContentError, ran_out
from .model import Problem

TYPE_CHECKING = False  # rather than typing's: a cold search does not import typing (kb/__init__.py)
if TYPE_CHECKING:
    from typing import Any

PAGE_SUFFIXES = (".md", ".mdx", ".markdown")
CATEGORY_FILES = ("_category_.json", "_category_.yml", "_category_.yaml")
CATEGORY_PREFIX = "_category_"  # what every one of CATEGORY_FILES starts with
SKIPPED_DIRS = frozenset({"node_modules", "__pycache__"})
# Each folder is listed through a descriptor of its own where the platform allows, so that its entries are stat'ed
# relative to it (fstatat) rather than by full path from the root: ~9% of the freshness walk's CPU time at 10,000
# pages, which the kernel spent resolving the same folders' names again for every page. Chosen once, here.
BY_FD = os.scandir in os.supports_fd and hasattr(os, "O_DIRECTORY")
_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0)
_FIRST = itemgetter(0)


@dataclass(frozen=True)
class SourceFile:
    """A page file as found on disk; `rel` is its POSIX path relative to the content root, the page's address."""

    path: str  # a plain string: building a Path per file was most of a freshness check's cost
    rel: str
    size: int
    mtime_ns: int  # the newest of the page's and its folders' `_category_` files: a new label means a new crumb
    categories: tuple[tuple[str, str], ...] = ()  # (rel, path) of each enclosing `_category_` file, outermost first

    @property
    def signature(self) -> tuple[int, int]:
        return (self.size, self.mtime_ns)


@dataclass(frozen=True)
class Discovery:
    """What a walk found: the pages, and the entries skipped with why (warnings, never failures)."""

    files: tuple[SourceFile, ...]
    problems: tuple[Problem, ...]


def escaped_name(name: str) -> str:
    """A file name as printable text: bytes that are not UTF-8 shown as \\xNN, control characters escaped."""
    text = os.fsencode(name).decode("utf-8", errors="backslashreplace")
    return "".join(ch if ch.isprintable() or ch == " " else ascii(ch)[1:-1] for ch in text)


def _undecodable(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def is_page_name(name: str) -> bool:
    return name.lower().endswith(PAGE_SUFFIXES) and not name.startswith(".")


def discover(root: Path) -> Discovery:
    """List page files under `root`, following symlinks only while they stay inside it.

    Raises ContentError when the root is not a folder. Problems with single entries (a link leaving the root, a
    loop, an unreadable folder) become warnings, never failures.
    """
    root = Path(root)
    if not root.exists():
        raise ContentError(f"content folder {root} does not exist", fix="content")
    if not root.is_dir():
        raise ContentError(f"content path {root} is not a folder", fix="content")
    rows, problems = _rows(root)
    files = [_source_file(path, rel, size, mtime, categories) for rel, size, mtime, path, categories in rows]
    if not files:
        skipped = f" ({len(problems)} entries skipped: {problems[0]})" if problems else ""
        raise ContentError(f"content folder {root} holds no Markdown pages (.md, .mdx, .markdown){skipped}",
                           fix="content")
    return Discovery(tuple(files), tuple(problems))


def discover_signature(root: Path) -> bytes | None:
    """The stat signature of the pages discover() would list (kb.manifest.signature_of of its files: each page's
    rel, size and mtime_ns, NUL-separated, in rel order), from the same walk but built as it goes, without a
    SourceFile or a tuple per page: a search of a fresh index compares only this with the manifest's head. None
    when discover() would say more than its files (no such folder, no page, a problem to report); the caller then
    runs discover() itself."""
    if not os.path.isdir(root):
        return None
    rows: list[str] = []
    problems: list[Problem] = []
    real_root = os.path.realpath(root)
    _walk(root, "", real_root, {real_root}, rows, problems, (), signature=True)
    if problems or not rows:
        return None
    rows.sort()  # "rel\0size\0mtime" sorts as rel alone: rels are unique, hold no NUL, and NUL sorts first
    return "\0".join(rows).encode("utf-8", "surrogatepass")


def _rows(root: Path) -> tuple[list[tuple[str, int, int, str, tuple[tuple[str, str], ...]]], list[Problem]]:
    """(rel, size, mtime_ns, path, categories) of each page under a folder that exists, sorted by rel, and the
    problems met on the way."""
    real_root = os.path.realpath(root)
    rows: list[tuple[str, int, int, str, tuple[tuple[str, str], ...]]] = []
    problems: list[Problem] = []
    seen_dirs: set[str] = {real_root}
    _walk(root, "", real_root, seen_dirs, rows, problems, ())
    rows.sort(key=_FIRST)  # rel is unique: the other items are never compared
    return rows, problems


def inside(real: str, real_root: str) -> bool:
    """Whether a real path (links followed) is `real_root` or under it: what discovery indexes."""
    return real == real_root or real.startswith(real_root.rstrip(os.sep) + os.sep)


def read_regular(path: str, most: int) -> bytes | None:
    """At most `most` bytes of a regular file; None for anything else or a file that cannot be read. Opened
    without blocking, then checked: a FIFO (or device) put where a page was is never waited on."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except OSError:
        return None
    with os.fdopen(fd, "rb") as fh:
        try:
            return fh.read(most) if stat.S_ISREG(os.fstat(fd).st_mode) else None
        except OSError:
            return None


def _walk(
    folder: str | Path,
    prefix: str,
    real_root: str,
    seen_dirs: set[str],
    rows: list[Any],
    problems: list[Problem],
    categories: tuple[tuple[str, str, int], ...],
    real_folder: str = "",
    *,
    signature: bool = False,
) -> None:
    """List one folder into `rows` and `problems`, then its subfolders. This runs for every file on every search
    (the freshness check), so the common case (a plain file or folder with an ASCII name) takes the fewest calls:
    a folder's real path is its parent's plus its name unless it is a link, which alone needs os.path.realpath.
    A row is (rel, size, mtime_ns, path, categories), or with `signature` the text "rel\0size\0mtime_ns"
    (discover_signature): the same pages and values either way."""
    folder = os.fspath(folder)
    try:
        fd = os.open(folder, _DIR_FLAGS) if BY_FD else None
    except OSError as exc:
        _unlisted(prefix, exc, problems)
        return
    try:
        _list(folder, fd, prefix, real_root, seen_dirs, rows, problems, categories, real_folder or real_root,
              signature)
    finally:
        if fd is not None:
            os.close(fd)


def _unlisted(prefix: str, exc: OSError, problems: list[Problem]) -> None:
    """A folder that cannot be listed is skipped with a warning, unless the system ran out of something: then its
    pages would look deleted (or the content folder empty), so the search or reindex stops and says what ran out."""
    exhausted = ran_out(exc, f"listing {prefix or '.'} in the content folder")
    if exhausted is not None:
        raise exhausted from None
    problems.append(Problem(prefix or ".", f"folder cannot be read ({exc.strerror})", "skipped"))


def _list(folder: str, fd: int | None, prefix: str, real_root: str, seen_dirs: set[str], rows: list[Any],
          problems: list[Problem], categories: tuple[tuple[str, str, int], ...], real_folder: str,
          signature: bool) -> None:
    """_walk's work in one folder, listed through `fd` when given (its entries then stat relative to it).

    A plain entry (an ASCII name, not a link: nearly all of them) takes the fewest calls; any other goes through
    _unusual first, which says whether and as what it counts."""
    try:
        entries = sorted([(entry.name, entry) for entry in os.scandir(folder if fd is None else fd)], key=_FIRST)
    except OSError as exc:
        _unlisted(prefix, exc, problems)
        return
    if prefix:
        categories = _with_category(entries, folder, fd, prefix, categories)
    newest_category = max((c[2] for c in categories), default=0)
    category_files = tuple((c[0], c[1]) for c in categories)
    for name, entry in entries:
        if name.startswith("."):
            continue
        try:
            plain = name.isascii() and not entry.is_symlink()
            is_dir = entry.is_dir()
        except OSError as exc:  # a link to itself (ELOOP), or an entry gone since the listing
            if is_page_name(name) and not isinstance(exc, FileNotFoundError):
                problems.append(Problem(f"{prefix}{name}", f"cannot be read ({exc.strerror or exc})", "skipped"))
            continue
        real = ""
        if not plain:
            found = _unusual(name, entry, folder, fd, prefix, real_root, is_dir, problems)
            if found is None:
                continue
            real = found
        if is_dir:
            if name in SKIPPED_DIRS:
                continue
            real = real or os.path.join(real_folder, name)
            if real in seen_dirs:
                problems.append(Problem(f"{prefix}{name}", "folder link loops back to a folder already read",
                                        "skipped"))
                continue
            seen_dirs.add(real)
            _walk(_path(folder, fd, entry), f"{prefix}{name}/", real_root, seen_dirs, rows, problems, categories,
                  real, signature=signature)
        elif name.endswith(PAGE_SUFFIXES) or name.lower().endswith(PAGE_SUFFIXES):  # ".md" first: the usual name
            try:
                if not entry.is_file():
                    continue
                st = entry.stat()
            except OSError:
                continue  # vanished between listing and stat: it is simply not a page any more
            mtime = st.st_mtime_ns
            if mtime < newest_category:
                mtime = newest_category
            if signature:
                rows.append(f"{prefix}{name}\0{st.st_size}\0{mtime}")
            else:
                rows.append((f"{prefix}{name}", st.st_size, mtime, _path(folder, fd, entry), category_files))


def _with_category(entries: list[tuple[str, os.DirEntry[str]]], folder: str, fd: int | None, prefix: str,
                   categories: tuple[tuple[str, str, int], ...]) -> tuple[tuple[str, str, int], ...]:
    """`categories` with the folder's own `_category_` file (the first of CATEGORY_FILES by name), if it has one:
    found by bisection in the sorted entries rather than by looking at every one."""
    at = bisect_left(entries, (CATEGORY_PREFIX,))
    for name, entry in entries[at:at + len(CATEGORY_FILES)]:
        if name in CATEGORY_FILES:
            try:
                return categories + ((f"{prefix}{name}", _path(folder, fd, entry), entry.stat().st_mtime_ns),)
            except OSError:
                return categories
    return categories


def _unusual(name: str, entry: os.DirEntry[str], folder: str, fd: int | None, prefix: str, real_root: str,
             is_dir: bool, problems: list[Problem]) -> str | None:
    """For an entry with a non-ASCII name or a link: None when it is skipped (with a problem where the user should
    hear of it), else the real path of a link that stays inside the root ("" for anything else)."""
    rel = f"{prefix}{name}"
    if not name.isascii() and _undecodable(name):  # an ASCII name always is UTF-8: no encoding check
        # A name that is not UTF-8 can be neither stored, printed nor sent as JSON: skip it, say which.
        if is_dir or is_page_name(name):
            problems.append(Problem(escaped_name(rel), "file name is not valid UTF-8", "skipped; rename it"))
        return None
    try:
        if not entry.is_symlink():
            return ""
    except OSError:
        return None
    try:
        real = os.path.realpath(_path(folder, fd, entry))
    except OSError as exc:  # a link along the way cannot be read (/proc/N/exe of another user or a kernel thread)
        if is_dir or is_page_name(name):
            problems.append(Problem(rel, f"symbolic link cannot be followed ({exc.strerror or exc})", "skipped"))
        return None
    if not inside(real, real_root):
        if is_dir or is_page_name(name):
            problems.append(Problem(rel, "symbolic link points outside the content folder", "skipped"))
        return None
    if not os.path.exists(real):
        if is_page_name(name):
            problems.append(Problem(rel, "symbolic link is broken", "skipped"))
        return None
    return real


def _path(folder: str, fd: int | None, entry: os.DirEntry[str]) -> str:
    """The entry's path as `os.scandir(folder)` gives it (listed through a descriptor, `entry.path` is the name)."""
    return entry.path if fd is None else os.path.join(folder, entry.name)


_new = object.__new__
_set = object.__setattr__


def _source_file(path: str, rel: str, size: int, mtime_ns: int,
                 categories: tuple[tuple[str, str], ...]) -> SourceFile:
    """SourceFile(path, rel, size, mtime_ns, categories), made without the frozen dataclass's __init__ (five
    object.__setattr__ calls, about a third of the walk's own instructions): one per page on every search."""
    made = _new(SourceFile)
    _set(made, "__dict__", {"path": path, "rel": rel, "size": size, "mtime_ns": mtime_ns, "categories": categories})
    return made
