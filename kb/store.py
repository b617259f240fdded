"""The index folder on disk: generations, the CURRENT pointer, publishing, damage checks and pinned readers.

Layout of an index folder::

    CURRENT          name of the live generation folder (replaced atomically by a rename)
    writer.lock      flock held by the one process writing (the OS drops it when that process dies)
    .kb-index        marker written when kb makes (or adopts) the folder: kb writes only into folders it marks
    gen-<id>/        Whoosh files + manifest.json (stamp, source file signatures, index file checksums)
                     + .manifest-head (what a search needs of the manifest, kb/manifest.py; optional)
                     + reader.lock (shared flock held by every searcher open on this generation)

A published generation is never modified. A full build writes a fresh generation; an incremental update hard-links
the live generation's files into a fresh one and commits there (Whoosh never rewrites an existing file). Either
way the new generation is flushed, checksummed into its manifest, and published by replacing CURRENT, so a reader
sees the old index or the new one, never a mix, and a kill at any instant leaves the previous one live. Old
generations are deleted only when no searcher holds them; whatever a killed run left is swept by the next one.

Damage (a missing or truncated file, a garbage table of contents or pointer, a file where a folder belongs) is
told apart from "no index yet" and reported as IndexDamaged; the stamp (kb version, schema, analysis, settings)
decides when an index must be rebuilt rather than updated.
"""

from __future__ import annotations

import errno
import json
import os
import re
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .errors import (
    RESOURCE_ERRNOS,
    IndexDamaged,
    IndexFolderRefused,
    IndexOutdated,
    IndexReadOnly,
    IndexUnusable,
    ResourceExhausted,
    ran_out,
)
from .locking import LOCK_NAME, PIN_NAME, Pin, claim, make_pin_file, pin
from .manifest import Manifest, ManifestHead

TYPE_CHECKING = False  # rather than typing's: a cold search does not import typing (kb/__init__.py)
if TYPE_CHECKING:
    from typing import Any, TypeVar
    _T = TypeVar("_T")

CURRENT = "CURRENT"
MANIFEST = "manifest.json"
MARKER = ".kb-index"
# Files that version control or the OS leave in an otherwise empty folder (a repository's `index/.gitkeep`): a
# folder holding only these counts as empty, and kb never deletes them (its sweep takes only its own names).
PLACEHOLDERS = frozenset({".gitkeep", ".keep", ".gitignore", ".DS_Store"})
MARKER_TEXT = "This folder is a kb search index: kb may replace or delete anything in it.\n"
# The only names kb ever creates in an index folder; nothing else in it is ever swept or deleted.
GEN_NAME = re.compile(r"gen-\d{14}-[0-9a-f]{8}")  # the only folders kb names (and deletes) as generations
_TRASH = re.compile(r"\.trash-gen-\d{14}-[0-9a-f]{8}")
_TMP_POINTER = re.compile(r"\.CURRENT\.\d+\.tmp")


def resource_error(exc: BaseException, folder: Path) -> ResourceExhausted | None:
    """The system running out of something is not index damage: say what ran out, and rebuild nothing."""
    if isinstance(exc, MemoryError):
        return ResourceExhausted(f"out of memory while using the index in {folder}; the index is intact, "
                                 "close some programs and try again")
    if isinstance(exc, OSError):
        return ran_out(exc, f"using the index in {folder}; the index is intact")
    return None


def is_generation_name(name: str) -> bool:
    return GEN_NAME.fullmatch(name) is not None


def _kb_made(name: str) -> bool:
    return (name in (CURRENT, LOCK_NAME, MARKER) or GEN_NAME.fullmatch(name) is not None
            or _TRASH.fullmatch(name) is not None or _TMP_POINTER.fullmatch(name) is not None)

SMALL_FILE = 256 * 1024  # index files up to this size are checksummed on every open (~1 ms for all of them)


class IndexStore:
    """The on-disk index folder: which generation is live, its manifest, opening it for reading, publishing.

    Generations never change once published: an update copies the live one (hard links, so it is cheap), commits
    into the copy and publishes it. A reader therefore only ever sees files that no writer touches, and holds a
    pin on its generation so that a writer deletes it only once nobody reads it.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def diagnose(self) -> tuple[Path | None, str | None]:
        """(live generation, None); (None, None) when there is no index yet; (None, why) when it is damaged."""
        pointer = self.folder / CURRENT
        try:
            raw = pointer.read_bytes()
        except FileNotFoundError:
            if self.folder.exists() and not self.folder.is_dir():
                return None, None  # ensure_folder() gives the message for that one
            if any(self._generations()):
                return None, f"{CURRENT} pointer is missing"
            return None, None
        except NotADirectoryError:
            return None, None
        except IsADirectoryError:
            return None, f"{CURRENT} is a folder, not a file"
        except OSError as exc:
            raise resource_error(exc, self.folder) or IndexUnusable(
                f"index folder {self.folder} cannot be read ({exc.strerror})", fix="index") from None
        try:
            name = raw.decode("ascii").strip()
        except UnicodeDecodeError:
            name = ""
        if not name.startswith("gen-") or "/" in name or "\\" in name or len(name) > 100:
            return None, f"{CURRENT} holds garbage"
        gen = self.folder / name
        if gen.is_dir():
            return gen, None
        if gen.exists():
            return None, f"{name} is a file, not a folder"
        return None, f"{name} is missing"

    def live(self) -> Path | None:
        return self.diagnose()[0]

    def _generations(self) -> Iterator[Path]:
        try:
            yield from (c for c in self.folder.iterdir() if is_generation_name(c.name))
        except OSError:
            return

    def manifest(self, gen: Path | None = None) -> Manifest | None:
        gen = gen or self.live()
        if gen is None:
            return None
        return self._unless_unreadable(Manifest.load, gen / MANIFEST)

    def manifest_head(self, gen: Path) -> ManifestHead | None:
        """The generation's manifest head (what a search needs of its manifest, kb/manifest.py); None when it has
        none that matches its manifest, or it cannot be read (then `manifest` decides)."""
        return self._unless_unreadable(ManifestHead.read, gen / MANIFEST)

    def _unless_unreadable(self, read: Callable[[Path], _T], path: Path) -> _T | None:
        """`read(path)`, or None when the file is missing or not what kb wrote (the caller then treats the
        generation as having no manifest); running out of descriptors or memory is raised, not taken for damage."""
        try:
            return read(path)
        except OSError as exc:
            resource = resource_error(exc, self.folder)
            if resource is not None:
                raise resource from None
            return None
        except (ValueError, KeyError, TypeError, AttributeError, IndexError):
            return None

    def verify(self, gen: Path, manifest: Manifest, *, deep: bool, small: int = 0) -> str | None:
        """Why the generation's files differ from what its manifest recorded (None when they match).

        The quick check (names and sizes) runs before every open, because a truncated segment opens fine and only
        fails on some later search; with it, files of at most `small` bytes are checksummed too (the per-field
        length columns: a wrong byte there changes scores without any error). The deep check (SHA-1 of every file)
        runs on `kb reindex --verify` and whenever a search fails.
        """
        if not manifest.index:
            return "its manifest lists no index files"
        for name, (size, sha1) in manifest.index.items():
            path = gen / name
            try:
                actual = path.stat().st_size
            except FileNotFoundError:
                return f"{name} is missing"
            except OSError as exc:
                resource = resource_error(exc, self.folder)
                if resource is not None:
                    raise resource from None
                return f"{name} cannot be read ({exc.strerror})"
            if actual != size:
                return f"{name} is {actual} bytes, expected {size}"
            if deep or size <= small:
                try:
                    same = _intact(path, sha1, manifest.crc32.get(name), deep=deep)
                except OSError as exc:
                    resource = resource_error(exc, self.folder)
                    if resource is not None:
                        raise resource from None
                    return f"{name} cannot be read ({exc.strerror})"
                if not same:
                    return f"{name} is corrupted (checksum mismatch)"
        return None

    def open_reader(self, loaded: tuple[Path, Manifest] | None = None) -> Reader:
        """Open a searcher on the live generation without ever waiting for a writer.

        `loaded` is a generation and its manifest that the caller has just read (the freshness check does): when
        that generation is still the live one, its manifest is not read and parsed a second time. Otherwise (a
        search without a refresh) the generation's manifest head is read, which holds what a reader needs (the
        index files, the document count, the stamp); the manifest itself only when there is no head.

        A writer may publish a newer generation and delete ours between reading CURRENT and opening the files;
        that shows as the pointer having moved, and we simply follow it. Anything else that fails is damage.
        """
        from .whoosh.searcher import open_searcher

        for _ in range(20):
            gen, why = self.diagnose()
            if gen is None:
                if why:
                    raise IndexDamaged(f"index in {self.folder} is damaged ({why})")
                raise IndexUnusable(f"no index in {self.folder}", fix="reindex")
            held = pin(gen)
            if held is None:
                continue  # being deleted: CURRENT has moved on
            try:
                if loaded is not None and loaded[0] == gen:
                    manifest: Manifest | None = loaded[1]
                else:  # its head has all a reader needs; the manifest itself when there is none
                    manifest = self.manifest_head(gen) or self.manifest(gen)
                if manifest is None:
                    stamp = raw_stamp(gen / MANIFEST)
                    if stamp is not None:
                        held.release()
                        raise IndexOutdated(f"index in {self.folder} was built by another kb version ({stamp})")
                    raise _Damage("its manifest is missing or unreadable")
                problem = self.verify(gen, manifest, deep=False, small=SMALL_FILE)
                if problem:
                    raise _Damage(problem)
                searcher = open_searcher(str(gen))
                if searcher.doc_count() != manifest.docs:
                    searcher.close()
                    raise _Damage("its document count differs from its manifest")
                return Reader(gen, manifest, searcher, held)
            except (IndexOutdated, ResourceExhausted):
                held.release()
                raise
            except Exception as exc:  # noqa: BLE001 - whatever Whoosh raises on bad files means damage
                held.release()
                resource = resource_error(exc, self.folder)
                if resource is not None:
                    raise resource from None
                if self.live() != gen:
                    continue
                why = str(exc) if isinstance(exc, _Damage) else f"{type(exc).__name__}: {exc}"[:200]
                raise IndexDamaged(f"index in {self.folder} is damaged ({why})") from None
        raise IndexUnusable(f"index in {self.folder} keeps changing under the search; try again")

    def ensure_folder(self, contents: Sequence[Path] = ()) -> None:
        """Make sure the index folder is kb's to write, creating (and marking) it if needed.

        kb deletes old generations and leftovers in its index folder, so it must never write into a folder that
        holds anything else: the content folder, a folder inside it, or a non-empty folder it did not make. An
        index built before the marker existed (only kb's own names in it, a generation with a manifest) is adopted.
        """
        if self.folder.exists() and not self.folder.is_dir():
            raise IndexUnusable(f"index path {self.folder} is a file, not a folder", fix="index")
        for content in contents:  # every content folder (a knowledge base may have several sources)
            self._refuse_overlap(Path(content))
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise IndexReadOnly(f"index folder {self.folder} cannot be created ({exc.strerror})",
                                fix="index") from None
        if (self.folder / MARKER).is_file():
            return
        try:
            names = [c.name for c in self.folder.iterdir()]
        except OSError as exc:
            raise IndexReadOnly(f"index folder {self.folder} cannot be read ({exc.strerror})",
                                fix="index") from None
        names = [n for n in names if n not in PLACEHOLDERS]  # kept by kb's sweep: nothing to lose by adopting
        if names and not self._legacy_index(names):
            raise IndexFolderRefused(
                f"index folder {self.folder} is not empty and was not made by kb; kb deletes old index files in "
                "its index folder", fix="index_folder")
        try:
            (self.folder / MARKER).write_text(MARKER_TEXT, encoding="utf-8")
        except OSError as exc:
            raise write_error(self.folder, exc) from None

    def _refuse_overlap(self, content: Path) -> None:
        index = os.path.realpath(self.folder)
        real_content = os.path.realpath(content)
        if index == real_content:
            raise IndexFolderRefused(f"index folder {self.folder} is the content folder", fix="index_folder")
        inside = index.startswith(real_content.rstrip(os.sep) + os.sep)
        hidden = inside and any(p.startswith(".") for p in os.path.relpath(index, real_content).split(os.sep))
        if inside and not hidden:  # a hidden folder is never read as pages, so it may hold the index
            raise IndexFolderRefused(f"index folder {self.folder} is inside the content folder {content}",
                                     fix="index_folder")

    def _legacy_index(self, names: list[str]) -> bool:
        """An index made by a kb that wrote no marker (or a folder another kb process is just setting up): it holds
        nothing but the names kb gives its own files, so adopting it can cost nobody anything."""
        return all(_kb_made(n) for n in names)

    def generation_name(self) -> Path:
        # os.urandom rather than uuid4: `import uuid` pulls in `platform`, a measurable share of a cold search.
        return self.folder / f"gen-{time.strftime('%Y%m%d%H%M%S')}-{os.urandom(4).hex()}"

    def create_generation(self, gen: Path) -> None:
        gen.mkdir()
        make_pin_file(gen)

    def discard(self, gen: Path | None) -> None:
        """Remove an unpublished generation after a failure or Ctrl-C, unless it did get published."""
        import shutil  # writer-side only: not imported by a search (kb/whoosh/__init__.py)

        if gen is None or self.live() == gen:
            return
        with deferred_interrupt():
            shutil.rmtree(gen, ignore_errors=True)

    def publish(self, gen: Path) -> None:
        """Point CURRENT at `gen` in one rename: readers see the old generation or this one, never a mix."""
        import shutil  # writer-side only: not imported by a search (kb/whoosh/__init__.py)

        _fsync_tree(gen)
        pointer = self.folder / CURRENT
        if pointer.is_dir() and not pointer.is_symlink():
            shutil.rmtree(pointer, ignore_errors=True)  # damage: a folder where the pointer file belongs
        tmp = self.folder / f".{CURRENT}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(gen.name)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, pointer)
        _fsync_dir(self.folder)

    def remove_old(self, keep: Path) -> None:
        """Delete generations other than `keep` that no reader holds, and leftovers of interrupted runs.

        Called with the writer lock held, so nothing else is building a generation at the same time.
        """
        import shutil  # writer-side only: not imported by a search (kb/whoosh/__init__.py)

        if not (self.folder / MARKER).is_file():
            return  # not a folder kb made: never delete anything in it
        for child in list(self.folder.iterdir()):
            name = child.name
            if child == keep:
                continue
            if GEN_NAME.fullmatch(name):
                if not child.is_dir() or child.is_symlink():
                    child.unlink(missing_ok=True)
                    continue
                held = claim(child)
                if held is None:
                    continue  # a search still reads it; a later reindex deletes it
                try:
                    trash = self.folder / f".trash-{name}"
                    os.rename(child, trash)
                    shutil.rmtree(trash, ignore_errors=True)
                finally:
                    held.release()
            elif _TRASH.fullmatch(name) or _TMP_POINTER.fullmatch(name):
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child, ignore_errors=True)
                else:
                    child.unlink(missing_ok=True)


class _Damage(Exception):
    pass


@contextmanager
def deferred_interrupt() -> Iterator[None]:
    """Hold Ctrl-C until the block is done (clean-up that a second Ctrl-C must not cut short)."""
    import signal  # writer-side only: a search does not import it (~3.5 M instructions)

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []
    try:
        previous = signal.signal(signal.SIGINT, lambda signum, _frame: pending.append(signum))
    except ValueError:
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if pending:
            raise KeyboardInterrupt


@dataclass(eq=False)
class Reader:
    """An open searcher on one generation, and the pin that keeps that generation on disk while it is open."""

    gen: Path
    manifest: Manifest
    searcher: Any
    held: Pin
    closed: bool = False
    busy: int = 0  # searches running on it right now (guarded by the owner's lock)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            self.searcher.close()
        finally:
            self.held.release()


def file_digest(path: Path, algorithm: str = "sha1") -> str:
    """The hex digest of a file, read in 1 MB blocks (index checksums: sha1; artifacts: sha256)."""
    import hashlib  # not by a search's open check of a current manifest (file_crc32): OpenSSL's load is ~3 ms

    h = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _fsync_path(path: Path) -> None:
    """Flush one file or folder to disk; a path that cannot be opened or synced is left as it is."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _fsync_dir(folder: Path) -> None:
    _fsync_path(folder)


def _fsync_tree(gen: Path) -> None:
    """Flush a generation's files before publishing it, so that a power cut cannot publish empty files."""
    for child in gen.iterdir():
        if child.is_file():
            _fsync_path(child)
    _fsync_path(gen)


WHOOSH_LOCK_SUFFIX = "_WRITELOCK"


_NOT_INDEX_FILES = (MANIFEST, PIN_NAME, LOCK_NAME)


def index_files(gen: Path) -> list[Path]:
    """The Whoosh files of a generation (what the manifest checksums and an update links into its copy)."""
    return sorted(c for c in gen.iterdir()
                  if c.is_file() and c.name not in _NOT_INDEX_FILES and not c.name.startswith(".")
                  and not c.name.endswith(WHOOSH_LOCK_SUFFIX))


def _intact(path: Path, sha1: str, crc32: int | None, *, deep: bool) -> bool:
    """Whether a file has its recorded sums: the CRC-32 when there is one (the open check's), and the SHA-1 when
    deep or when there is no CRC-32 (an older kb's manifest). Deep checks both, so that an imported archive whose
    CRC-32 disagrees with its files is refused rather than found damaged by every search after it."""
    if crc32 is not None and file_crc32(path) != crc32:
        return False
    return (crc32 is not None and not deep) or file_digest(path) == sha1


def file_crc32(path: Path) -> int:
    """The CRC-32 of a small file, read whole (the open check's files are at most SMALL_FILE bytes)."""
    return zlib.crc32(path.read_bytes())


def small_crc32(gen: Path, index: dict[str, tuple[int, str]], linked: dict[str, int]) -> dict[str, int]:
    """CRC-32 of the index files the open check reads whole (Manifest.crc32); those `linked` unchanged from the
    previous generation keep theirs, as `checksums` keeps their SHA-1."""
    return {name: linked[name] if name in linked else file_crc32(gen / name)
            for name, (size, _sha1) in index.items() if size <= SMALL_FILE}


def checksums(gen: Path, known: dict[str, tuple[int, str]]) -> dict[str, tuple[int, str]]:
    """Size and SHA-1 of each index file; files linked unchanged from the previous generation reuse its sums."""
    out: dict[str, tuple[int, str]] = {}
    for path in index_files(gen):
        size = path.stat().st_size
        old = known.get(path.name)
        out[path.name] = old if old is not None and old[0] == size else (size, file_digest(path))
    return out


def link_or_copy(src: Path, dst: Path) -> None:
    import shutil  # writer-side only: not imported by a search (kb/whoosh/__init__.py)

    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def raw_stamp(path: Path) -> str | None:
    """The stamp of a manifest this kb version cannot load (an older or newer format), if it has one."""
    try:
        stamp = json.loads(path.read_text(encoding="utf-8")).get("stamp")
    except (OSError, ValueError, AttributeError):
        return None
    return stamp if isinstance(stamp, str) else None


def write_error(folder: Path, exc: OSError) -> IndexUnusable:
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return IndexReadOnly(f"index folder {folder} cannot be written ({exc.strerror})", fix="index")
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return IndexUnusable(f"no space left to write the index in {folder}; the previous index is unchanged",
                             fix="reindex")
    if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOMEM):
        return IndexUnusable(f"index in {folder} cannot be written ({RESOURCE_ERRNOS[exc.errno]}); the previous "
                             "index is unchanged")
    return IndexUnusable(f"index in {folder} cannot be written ({exc.strerror or exc}); the previous index is "
                         "unchanged")