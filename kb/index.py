"""Keep a Whoosh index in step with the content folder: full builds, incremental updates, freshness checks.

Layout of an index folder::

    CURRENT          name of the live generation folder (replaced atomically by a rename)
    writer.lock      flock held by the one process writing (the OS drops it when that process dies)
    gen-<id>/        Whoosh files + manifest.json (stamp, source file signatures, index file checksums)
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
import hashlib
import json
import os
import shutil
import signal
import threading
import time
import uuid
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

from . import __version__
from .analysis import ANALYSIS_VERSION
from .codec import open_writer
from .discover import Discovery, SourceFile, discover
from .errors import IndexDamaged, IndexOutdated, IndexReadOnly, IndexUnusable
from .locking import LOCK_NAME, PIN_NAME, Pin, WriterLock, claim, make_pin_file, pin
from .model import Page, Passage, Problem, ReindexReport

if TYPE_CHECKING:
    from multiprocessing.pool import AsyncResult

SCHEMA_VERSION = 2  # 2: immutable generations, manifest records index file checksums
CURRENT = "CURRENT"
MANIFEST = "manifest.json"
CRUMB_SEP = "\x1f"

Progress = Callable[[int, int], None]
Note = Callable[[str], None]


@dataclass(frozen=True)
class Settings:
    """What changes the content of the index; any change forces a full rebuild."""

    include_drafts: bool = False
    max_file_bytes: int = 5 * 1024 * 1024

    def stamp(self) -> str:
        return f"{format_stamp()};drafts={int(self.include_drafts)};max={self.max_file_bytes}"


def format_stamp() -> str:
    """The part of the stamp that decides whether this kb can search an index at all (version, schema, analysis);
    the rest (which pages to include) only matters when writing."""
    return f"kb={__version__};schema={SCHEMA_VERSION};analysis={ANALYSIS_VERSION}"


@dataclass
class Entry:
    """What the manifest remembers of one file: enough to skip it next time without reading it."""

    size: int
    mtime_ns: int
    sha1: str
    page: str | None = None  # None: the file was skipped (binary, draft, unreadable...)
    title: str = ""
    sections: int = 0
    passages: int = 0
    problems: list[dict[str, object]] = field(default_factory=list)


@dataclass
class Manifest:
    """What a generation holds: the build stamp, each source file's signature, and each index file's checksum."""

    stamp: str
    content: str
    files: dict[str, Entry]
    index: dict[str, tuple[int, str]] = field(default_factory=dict)  # index file name -> (size, sha1)
    docs: int = -1

    @classmethod
    def load(cls, path: Path) -> "Manifest":
        data = json.loads(path.read_text(encoding="utf-8"))
        files = {str(rel): Entry(**e) for rel, e in data["files"].items()}
        index = {str(name): (int(v[0]), str(v[1])) for name, v in data["index"].items()}
        return cls(str(data["stamp"]), str(data["content"]), files, index, int(data["docs"]))

    def save(self, path: Path) -> None:
        data = {"stamp": self.stamp, "content": self.content, "docs": self.docs,
                "index": {name: list(v) for name, v in sorted(self.index.items())},
                "files": {rel: e.__dict__ for rel, e in sorted(self.files.items())}}
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(data, fh, separators=(",", ":"))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)


@dataclass(frozen=True)
class Plan:
    """How the content folder differs from the manifest, by stat signature only."""

    new: tuple[SourceFile, ...]
    changed: tuple[SourceFile, ...]
    removed: tuple[str, ...]
    unchanged: tuple[SourceFile, ...]
    problems: tuple[Problem, ...]

    @property
    def stale(self) -> bool:
        return bool(self.new or self.changed or self.removed)


def plan(discovery: Discovery, manifest: Manifest) -> Plan:
    new, changed, unchanged = [], [], []
    seen = set()
    for f in discovery.files:
        seen.add(f.rel)
        entry = manifest.files.get(f.rel)
        if entry is None:
            new.append(f)
        elif (entry.size, entry.mtime_ns) != f.signature:
            changed.append(f)
        else:
            unchanged.append(f)
    removed = tuple(rel for rel in manifest.files if rel not in seen)
    return Plan(tuple(new), tuple(changed), removed, tuple(unchanged), discovery.problems)


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
            raise IndexUnusable(f"index folder {self.folder} cannot be read ({exc.strerror}); "
                                "fix its permissions or pass --index DIR") from None
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
            yield from (c for c in self.folder.iterdir() if c.name.startswith("gen-"))
        except OSError:
            return

    def manifest(self, gen: Path | None = None) -> Manifest | None:
        gen = gen or self.live()
        if gen is None:
            return None
        try:
            return Manifest.load(gen / MANIFEST)
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None

    def verify(self, gen: Path, manifest: Manifest, *, deep: bool) -> str | None:
        """Why the generation's files differ from what its manifest recorded (None when they match).

        The quick check (names and sizes) runs before every open, because a truncated segment opens fine and only
        fails on some later search; the deep check (SHA-1) runs on every reindex and whenever a search fails.
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
                return f"{name} cannot be read ({exc.strerror})"
            if actual != size:
                return f"{name} is {actual} bytes, expected {size}"
            if deep:
                try:
                    digest = _sha1_file(path)
                except OSError as exc:
                    return f"{name} cannot be read ({exc.strerror})"
                if digest != sha1:
                    return f"{name} is corrupted (checksum mismatch)"
        return None

    def open_reader(self, weighting: object) -> "Reader":
        """Open a searcher on the live generation without ever waiting for a writer.

        A writer may publish a newer generation and delete ours between reading CURRENT and opening the files;
        that shows as the pointer having moved, and we simply follow it. Anything else that fails is damage.
        """
        from whoosh.index import open_dir

        for _ in range(20):
            gen, why = self.diagnose()
            if gen is None:
                if why:
                    raise IndexDamaged(f"index in {self.folder} is damaged ({why})")
                raise IndexUnusable(f"no index in {self.folder}; run `kb reindex`")
            held = pin(gen)
            if held is None:
                continue  # being deleted: CURRENT has moved on
            try:
                manifest = self.manifest(gen)
                if manifest is None:
                    stamp = _raw_stamp(gen / MANIFEST)
                    if stamp is not None:
                        held.release()
                        raise IndexOutdated(f"index in {self.folder} was built by another kb version ({stamp})")
                    raise _Damage("its manifest is missing or unreadable")
                problem = self.verify(gen, manifest, deep=False)
                if problem:
                    raise _Damage(problem)
                ix = open_dir(str(gen))
                searcher = ix.searcher(weighting=weighting)
                if searcher.doc_count() != manifest.docs:
                    searcher.close()
                    raise _Damage("its document count differs from its manifest")
                return Reader(gen, manifest, searcher, held)
            except IndexOutdated:
                raise
            except Exception as exc:  # noqa: BLE001 - whatever Whoosh raises on bad files means damage
                held.release()
                if self.live() != gen:
                    continue
                why = str(exc) if isinstance(exc, _Damage) else f"{type(exc).__name__}: {exc}"[:200]
                raise IndexDamaged(f"index in {self.folder} is damaged ({why})") from None
        raise IndexUnusable(f"index in {self.folder} keeps changing under the search; try again")

    def ensure_folder(self) -> None:
        if self.folder.exists() and not self.folder.is_dir():
            raise IndexUnusable(f"index path {self.folder} is a file, not a folder; remove it or pass --index DIR")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise IndexReadOnly(f"index folder {self.folder} cannot be created ({exc.strerror}); "
                                "pass --index DIR") from None

    def generation_name(self) -> Path:
        return self.folder / f"gen-{time.strftime('%Y%m%d%H%M%S')}-{uuid.uuid4().hex[:8]}"

    def create_generation(self, gen: Path) -> None:
        gen.mkdir()
        make_pin_file(gen)

    def discard(self, gen: Path | None) -> None:
        """Remove an unpublished generation after a failure or Ctrl-C, unless it did get published."""
        if gen is None or self.live() == gen:
            return
        with deferred_interrupt():
            shutil.rmtree(gen, ignore_errors=True)

    def publish(self, gen: Path) -> None:
        """Point CURRENT at `gen` in one rename: readers see the old generation or this one, never a mix."""
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
        for child in list(self.folder.iterdir()):
            name = child.name
            if child == keep:
                continue
            if name.startswith("gen-"):
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
            elif name.startswith((".trash-", f".{CURRENT}.")):
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child, ignore_errors=True)
                else:
                    child.unlink(missing_ok=True)


class _Damage(Exception):
    pass


@contextmanager
def deferred_interrupt() -> Iterator[None]:
    """Hold Ctrl-C until the block is done (clean-up that a second Ctrl-C must not cut short)."""
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


def _sha1_file(path: Path) -> str:
    h = hashlib.sha1()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _fsync_tree(gen: Path) -> None:
    """Flush a generation's files before publishing it, so that a power cut cannot publish empty files."""
    for child in gen.iterdir():
        if child.is_file():
            try:
                fd = os.open(child, os.O_RDONLY)
            except OSError:
                continue
            try:
                os.fsync(fd)
            except OSError:
                pass
            finally:
                os.close(fd)
    _fsync_dir(gen)


@dataclass
class Processed:
    """One file after reading and parsing (what a worker process sends back)."""

    file: SourceFile
    sha1: str
    page: Page | None
    problems: tuple[Problem, ...]
    docs: tuple[dict[str, object], ...] = ()  # the page's passages as analysed Whoosh documents


_SCHEMA: object | None = None  # this process's schema, whose fields analyse (and cache) values


def _analysed_docs(page: Page) -> tuple[dict[str, object], ...]:
    """Analyse a page's passages here, in the (worker) process that parsed it, not in the one writing the index."""
    global _SCHEMA
    from .analysis import analyse_doc, build_schema

    if _SCHEMA is None:
        _SCHEMA = build_schema()
    return tuple(analyse_doc(passage_doc(p), _SCHEMA) for p in page.passages)  # type: ignore[arg-type]


def process_file(file: SourceFile, settings: Settings, known_sha1: str = "") -> Processed:
    """Read, hash and parse one file; never raises for a bad file.

    When the content hashes to `known_sha1` (a file touched but not changed) the page is not parsed at all, and
    the Markdown renderer is never even imported: a no-change reindex stays cheap.
    """
    from .parse import Skip, parse_bytes, read_category

    try:
        if file.size > settings.max_file_bytes:
            mb = settings.max_file_bytes / 1048576
            raise Skip(Problem(file.rel, f"file is {file.size / 1048576:.1f} MB, over the {mb:g} MB limit",
                               "skipped (raise it with --max-file-size)"))
        try:
            data = file.path.read_bytes()
        except FileNotFoundError:
            raise Skip(Problem(file.rel, "file vanished while indexing", "skipped")) from None
        except PermissionError:
            raise Skip(Problem(file.rel, "file cannot be read (permission denied)", "skipped; fix its permissions")) from None
        except OSError as exc:
            raise Skip(Problem(file.rel, f"file cannot be read ({exc.strerror or exc})", "skipped")) from None
        labels: list[str] = []
        category_problems: list[Problem] = []
        for cat_rel, cat_path in file.categories:
            label, problem = read_category(cat_path, cat_rel)
            labels += [label] if label else []
            category_problems += [problem] if problem else []
        sha1 = hashlib.sha1(data + "\0".join(labels).encode("utf-8")).hexdigest()
        if known_sha1 and sha1 == known_sha1:
            return Processed(file, sha1, None, ())
        from .sections import build_page

        raw = parse_bytes(data, file.rel)
        page = build_page(raw, category=tuple(labels))
        if category_problems:
            page = replace(page, problems=tuple(category_problems) + page.problems)
    except Skip as skip:
        return Processed(file, "", None, (skip.problem,))
    if page.draft and not settings.include_drafts:
        return Processed(file, sha1, None, page.problems + (
            Problem(file.rel, "page is marked draft or unlisted", "skipped (index it with --include-drafts)"),))
    return Processed(file, sha1, page, page.problems, _analysed_docs(page))


def process_all(files: list[SourceFile], settings: Settings, *, workers: int,
                known: dict[str, str] | None = None) -> Iterator[Processed]:
    """Parse files, on several cores when there are enough of them to repay starting the workers.

    Results come back in order and one at a time, with at most a few pages per worker parsed ahead, so the caller
    can index each page and let it go: memory does not grow with the size of the site. `known` maps a path to the
    content hash already indexed (see `process_file`).
    """
    known = known or {}
    if workers > 1 and len(files) >= 200:
        import multiprocessing

        ctx = multiprocessing.get_context("fork") if hasattr(os, "fork") else multiprocessing.get_context()
        with ctx.Pool(workers, initializer=_worker_init) as pool:
            # A bounded window of pages in flight: workers run ahead of the writer, but never by the whole site.
            window: deque[AsyncResult[Processed]] = deque()
            for f in files:
                window.append(pool.apply_async(process_file, (f, settings, known.get(f.rel, ""))))
                if len(window) >= workers * 8:
                    yield window.popleft().get()
            while window:
                yield window.popleft().get()
    else:
        for f in files:
            yield process_file(f, settings, known.get(f.rel, ""))


def passage_doc(p: Passage) -> dict[str, object]:
    """A passage as a Whoosh document."""
    inner = p.breadcrumb[1:-1] if len(p.breadcrumb) > 2 else ()
    labels = [c for c in p.breadcrumb if c not in (p.title, p.section) and c not in inner]
    return {
        "key": p.key,
        "path": p.path,
        "page": p.page,
        "anchor": p.anchor,
        "section": p.section,
        "breadcrumb": CRUMB_SEP.join(p.breadcrumb),
        "line": p.line,
        "part": p.part,
        "title": p.title,
        "heading": " \n ".join([p.section] + labels) if p.level else " \n ".join(labels),
        "crumbs": " \n ".join(inner),
        "body": p.text,
        "code": p.code,
        "meta": " \n ".join([p.description, *p.keywords]),
        "tags": ",".join(t.lower().replace(",", " ") for t in p.tags),
        "exact": " \n ".join([p.title, p.section, *labels, *inner, p.text]),
    }


def _entry(proc: Processed) -> Entry:
    page = proc.page
    return Entry(
        size=proc.file.size,
        mtime_ns=proc.file.mtime_ns,
        sha1=proc.sha1,
        page=page.id if page else None,
        title=page.title if page else "",
        sections=len(page.sections) if page else 0,
        passages=len(page.passages) if page else 0,
        problems=[p.__dict__ for p in proc.problems],
    )


def _problems_of(entry: Entry) -> list[Problem]:
    return [Problem(**p) for p in entry.problems]  # type: ignore[arg-type]


WHOOSH_LOCK_SUFFIX = "_WRITELOCK"
_NOT_INDEX_FILES = (MANIFEST, PIN_NAME, LOCK_NAME)


def _index_files(gen: Path) -> list[Path]:
    """The Whoosh files of a generation (what the manifest checksums and an update links into its copy)."""
    return sorted(c for c in gen.iterdir()
                  if c.is_file() and c.name not in _NOT_INDEX_FILES and not c.name.startswith(".")
                  and not c.name.endswith(WHOOSH_LOCK_SUFFIX))


def _checksums(gen: Path, known: dict[str, tuple[int, str]]) -> dict[str, tuple[int, str]]:
    """Size and SHA-1 of each index file; files linked unchanged from the previous generation reuse its sums."""
    out: dict[str, tuple[int, str]] = {}
    for path in _index_files(gen):
        size = path.stat().st_size
        old = known.get(path.name)
        out[path.name] = old if old is not None and old[0] == size else (size, _sha1_file(path))
    return out


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _worker_init() -> None:
    """Parse workers leave Ctrl-C to the parent, which stops them; otherwise each prints a traceback."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


class Indexer:
    """Builds and updates the index of one content folder in one index folder."""

    def __init__(self, content: Path, store: IndexStore, settings: Settings, *, lock_timeout: float = 10.0,
                 workers: int | None = None, on_note: Note | None = None) -> None:
        self.content = Path(content)
        self.store = store
        self.settings = settings
        self.lock_timeout = lock_timeout
        self.workers = workers if workers is not None else min(os.cpu_count() or 1, 4)
        self.note = on_note or (lambda _msg: None)

    def check(self) -> Plan | None:
        """Stat-only freshness check; None means there is no usable index yet (or it needs a rebuild)."""
        manifest = self.store.manifest()
        if manifest is None or manifest.stamp != self.settings.stamp():
            return None
        return plan(discover(self.content), manifest)

    def reindex(self, *, full: bool = False, progress: Progress | None = None, wait: bool = True,
                why: str | None = None) -> ReindexReport:
        """Update (or with `full`, rebuild) the index; with `wait=False`, fail at once if another writer runs.

        `why` is noted once the lock is ours, so a rebuild that cannot start does not announce itself.
        """
        started = time.perf_counter()
        discovery = discover(self.content)
        self.store.ensure_folder()
        lock = WriterLock(self.store.folder, timeout=self.lock_timeout if wait else 0.0,
                          on_wait=lambda pid: self.note(
                              f"waiting up to {self.lock_timeout:g}s for another reindex (pid {pid}) to finish..."))
        try:
            with lock:
                if why:
                    self.note(why)
                manifest = None if full else self._usable_manifest()
                if manifest is None:
                    report = self._full(discovery, progress)
                else:
                    report = self._incremental(discovery, manifest, progress)
                live = self.store.live()
                if live is not None:
                    self.store.remove_old(keep=live)  # also what killed or interrupted runs left behind
        except OSError as exc:
            raise _write_error(self.store.folder, exc) from None
        return _finish(report, started)

    def _usable_manifest(self) -> Manifest | None:
        """The live generation's manifest if it can be updated in place; None (with a note why) to rebuild."""
        gen, why = self.store.diagnose()
        where = self.store.folder
        if gen is None:
            if why:
                self.note(f"warning: index in {where} is damaged ({why}); rebuilding it from the content")
            return None
        manifest = self.store.manifest(gen)
        if manifest is None:
            stamp = _raw_stamp(gen / MANIFEST)
            if stamp is not None and stamp != self.settings.stamp():
                self.note("index was built by another kb version or with other settings; rebuilding it")
            else:
                self.note(f"warning: index in {where} is damaged (its manifest is missing or unreadable); "
                          "rebuilding it from the content")
            return None
        if manifest.stamp != self.settings.stamp():
            self.note("index was built by another kb version or with other settings; rebuilding it")
            return None
        problem = self.store.verify(gen, manifest, deep=True)
        if problem is None:
            try:
                from whoosh.index import open_dir

                ix = open_dir(str(gen))
                try:
                    with ix.searcher() as searcher:
                        if searcher.doc_count() != manifest.docs:
                            problem = "its document count differs from its manifest"
                finally:
                    ix.close()
            except Exception as exc:  # noqa: BLE001 - any Whoosh failure to open means the files are damaged
                problem = f"{type(exc).__name__}: {exc}"[:200]
        if problem:
            self.note(f"warning: index in {where} is damaged ({problem}); rebuilding it from the content")
            return None
        return manifest

    def _publish(self, gen: Path, manifest: Manifest, known: dict[str, tuple[int, str]]) -> None:
        from whoosh.index import open_dir

        ix = open_dir(str(gen))
        try:
            manifest.docs = ix.doc_count()
        finally:
            ix.close()
        manifest.index = _checksums(gen, known)
        manifest.save(gen / MANIFEST)
        self.store.publish(gen)

    def _full(self, discovery: Discovery, progress: Progress | None) -> ReindexReport:
        from whoosh.index import create_in

        from .analysis import build_schema

        gen: Path | None = None
        published = False
        try:
            gen = self.store.generation_name()
            self.store.create_generation(gen)
            ix = create_in(str(gen), build_schema())
            writer = open_writer(ix, limitmb=128)
            entries: dict[str, Entry] = {}
            problems: list[Problem] = list(discovery.problems)
            files = list(discovery.files)
            pages = sections = skipped = 0
            try:
                for n, proc in enumerate(process_all(files, self.settings, workers=self.workers), 1):
                    entries[proc.file.rel] = _entry(proc)
                    problems.extend(proc.problems)
                    if proc.page is None:
                        skipped += 1
                    else:
                        pages += 1
                        sections += len(proc.page.sections)
                        for doc in proc.docs:
                            writer.add_document(**doc)
                    if progress:
                        progress(n, len(files))
                writer.commit()
            except BaseException:
                writer.cancel()
                raise
            ix.close()
            self._publish(gen, Manifest(self.settings.stamp(), str(self.content), entries), {})
            published = True
        finally:
            if not published:
                self.store.discard(gen)
        return ReindexReport(added=len(files), updated=0, removed=0, unchanged=0, pages=pages, sections=sections,
                             seconds=0.0, full=True, skipped=skipped, warnings=tuple(dict.fromkeys(problems)))

    def _incremental(self, discovery: Discovery, manifest: Manifest, progress: Progress | None) -> ReindexReport:
        diff = plan(discovery, manifest)
        problems: list[Problem] = list(discovery.problems)
        for f in diff.unchanged:
            problems.extend(_problems_of(manifest.files[f.rel]))
        todo = list(diff.new) + list(diff.changed)
        added = updated = 0
        unchanged = len(diff.unchanged)
        touched = False
        results: list[Processed] = []
        known = {f.rel: manifest.files[f.rel].sha1 for f in diff.changed}
        for n, proc in enumerate(process_all(todo, self.settings, workers=self.workers, known=known), 1):
            old = manifest.files.get(proc.file.rel)
            if old is not None and old.sha1 and old.sha1 == proc.sha1:
                old.size, old.mtime_ns = proc.file.size, proc.file.mtime_ns  # touched, not changed
                problems.extend(_problems_of(old))
                unchanged += 1
                touched = True
            else:
                results.append(proc)
                problems.extend(proc.problems)
            if progress:
                progress(n, len(todo))
        if results or diff.removed or touched:
            self._commit_copy(manifest, diff.removed, results)
            for proc in results:
                if proc.file.rel in manifest.files:
                    updated += 1
                else:
                    added += 1
        files = {rel: e for rel, e in manifest.files.items() if rel not in diff.removed}
        files.update((proc.file.rel, _entry(proc)) for proc in results)
        live = [e for e in files.values() if e.page is not None]
        skipped = sum(1 for e in files.values() if e.page is None)
        return ReindexReport(added=added, updated=updated, removed=len(diff.removed), unchanged=unchanged,
                             pages=len(live), sections=sum(e.sections for e in live), seconds=0.0, full=False,
                             skipped=skipped, warnings=tuple(dict.fromkeys(problems)))

    def _commit_copy(self, manifest: Manifest, removed: tuple[str, ...], results: list[Processed]) -> None:
        """Apply changes to a copy of the live generation and publish the copy; the live one is never touched."""
        from whoosh.index import open_dir

        live = self.store.live()
        if live is None:
            raise IndexDamaged(f"index in {self.store.folder} vanished during the update; run `kb reindex` again")
        gen: Path | None = None
        published = False
        try:
            gen = self.store.generation_name()
            self.store.create_generation(gen)
            for path in _index_files(live):
                _link_or_copy(path, gen / path.name)
            if results or removed:
                ix = open_dir(str(gen))
                writer = open_writer(ix, limitmb=64)
                try:
                    for rel in removed:
                        writer.delete_by_term("path", rel)
                    for proc in results:
                        writer.delete_by_term("path", proc.file.rel)
                        for doc in proc.docs:
                            writer.add_document(**doc)
                    writer.commit()
                except BaseException:
                    writer.cancel()
                    raise
                finally:
                    ix.close()
            files = {rel: e for rel, e in manifest.files.items() if rel not in removed}
            files.update((proc.file.rel, _entry(proc)) for proc in results)
            self._publish(gen, Manifest(self.settings.stamp(), str(self.content), files), manifest.index)
            published = True
        finally:
            if not published:
                self.store.discard(gen)


def _raw_stamp(path: Path) -> str | None:
    """The stamp of a manifest this kb version cannot load (an older or newer format), if it has one."""
    try:
        stamp = json.loads(path.read_text(encoding="utf-8")).get("stamp")
    except (OSError, ValueError, AttributeError):
        return None
    return stamp if isinstance(stamp, str) else None


def _write_error(folder: Path, exc: OSError) -> IndexUnusable:
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return IndexReadOnly(f"index folder {folder} cannot be written ({exc.strerror}); "
                             "fix its permissions or pass --index DIR")
    if exc.errno == errno.ENOSPC:
        return IndexUnusable(f"no space left to write the index in {folder}; free some space and run `kb reindex`")
    return IndexUnusable(f"index in {folder} cannot be written ({exc.strerror or exc}); the previous index is "
                         "unchanged")


def _finish(report: ReindexReport, started: float) -> ReindexReport:
    from dataclasses import replace

    return replace(report, seconds=round(time.perf_counter() - started, 3))
