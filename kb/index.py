"""Keep a Whoosh index in step with the content folder: full builds, incremental updates, freshness checks.

Layout of an index folder::

    CURRENT          name of the live generation folder (replaced atomically)
    writer.lock      fcntl lock held by the one process writing
    gen-<id>/        Whoosh segment files + manifest.json (what was indexed, from which file signatures)

A full build writes a fresh generation and publishes it by replacing CURRENT, so readers see the old index or the
new one, never a mix. An incremental update commits into the live generation: Whoosh writes its table of contents
last and atomically, so a kill leaves the previous commit readable, and the manifest is written after the commit,
so on the next run any page whose manifest entry is behind the index is simply re-indexed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import uuid
from collections import deque
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Iterator

from . import __version__
from .analysis import ANALYSIS_VERSION
from .codec import open_writer
from .discover import Discovery, SourceFile, discover
from .errors import IndexUnusable
from .locking import WriterLock
from .model import Page, Passage, Problem, ReindexReport

if TYPE_CHECKING:
    from multiprocessing.pool import AsyncResult

SCHEMA_VERSION = 1
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
        return (f"kb={__version__};schema={SCHEMA_VERSION};analysis={ANALYSIS_VERSION};"
                f"drafts={int(self.include_drafts)};max={self.max_file_bytes}")


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
    stamp: str
    content: str
    files: dict[str, Entry]

    @classmethod
    def load(cls, path: Path) -> "Manifest":
        data = json.loads(path.read_text(encoding="utf-8"))
        files = {rel: Entry(**e) for rel, e in data["files"].items()}
        return cls(data["stamp"], data["content"], files)

    def save(self, path: Path) -> None:
        data = {"stamp": self.stamp, "content": self.content,
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
    """The on-disk index folder: which generation is live, its manifest, and opening it for reading."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def live(self) -> Path | None:
        try:
            name = (self.folder / CURRENT).read_text(encoding="utf-8").strip()
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise IndexUnusable(f"index folder {self.folder} cannot be read ({exc.strerror})") from None
        if not name or "/" in name or name.startswith("."):
            return None
        gen = self.folder / name
        return gen if gen.is_dir() else None

    def manifest(self) -> Manifest | None:
        gen = self.live()
        if gen is None:
            return None
        try:
            return Manifest.load(gen / MANIFEST)
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def open(self):  # -> whoosh.index.Index
        from whoosh.index import open_dir

        gen = self.live()
        if gen is None:
            raise IndexUnusable(f"no index in {self.folder}; run `kb reindex`")
        return open_dir(str(gen))

    def ensure_folder(self) -> None:
        if self.folder.exists() and not self.folder.is_dir():
            raise IndexUnusable(f"index path {self.folder} is a file, not a folder; remove it or pass --index DIR")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise IndexUnusable(f"index folder {self.folder} cannot be created ({exc.strerror}); "
                                "pass --index DIR") from None

    def publish(self, gen: Path) -> None:
        tmp = self.folder / f".{CURRENT}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(gen.name)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.folder / CURRENT)
        _fsync_dir(self.folder)

    def remove_old(self, keep: Path) -> None:
        """Delete generations other than `keep` (open readers on Linux keep their files until they close)."""
        for child in self.folder.iterdir():
            if child.is_dir() and child.name.startswith("gen-") and child != keep:
                shutil.rmtree(child, ignore_errors=True)
            elif child.name.startswith((".gen-", f".{CURRENT}.")) and child != keep:
                if child.is_dir():
                    shutil.rmtree(child, ignore_errors=True)
                else:
                    child.unlink(missing_ok=True)


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
        with ctx.Pool(workers) as pool:
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

    def reindex(self, *, full: bool = False, progress: Progress | None = None) -> ReindexReport:
        started = time.perf_counter()
        discovery = discover(self.content)
        self.store.ensure_folder()
        lock = WriterLock(self.store.folder, timeout=self.lock_timeout,
                          on_wait=lambda pid: self.note(f"waiting for another reindex (pid {pid}) to finish..."))
        with lock:
            manifest = None if full else self._usable_manifest()
            if manifest is None:
                report = self._full(discovery, progress)
            else:
                report = self._incremental(discovery, manifest, progress)
        return _finish(report, started)

    def _usable_manifest(self) -> Manifest | None:
        gen = self.store.live()
        if gen is None:
            if (self.store.folder / CURRENT).exists() or any(self.store.folder.glob("gen-*")):
                self.note(f"index in {self.store.folder} is damaged; rebuilding it from the content")
            return None
        manifest = self.store.manifest()
        if manifest is None:
            self.note(f"index in {self.store.folder} has no readable manifest; rebuilding it from the content")
            return None
        if manifest.stamp != self.settings.stamp():
            self.note("index was built by another kb version or with other settings; rebuilding it")
            return None
        try:
            ix = self.store.open()
            ix.close()
        except Exception as exc:  # any Whoosh failure to open means the files are damaged
            self.note(f"index in {self.store.folder} is damaged ({type(exc).__name__}); rebuilding it from the content")
            return None
        return manifest

    def _full(self, discovery: Discovery, progress: Progress | None) -> ReindexReport:
        from whoosh.index import create_in

        from .analysis import build_schema

        gen = self.store.folder / f"gen-{time.strftime('%Y%m%d%H%M%S')}-{uuid.uuid4().hex[:8]}"
        gen.mkdir()
        try:
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
            Manifest(self.settings.stamp(), str(self.content), entries).save(gen / MANIFEST)
            _fsync_dir(gen)
            self.store.publish(gen)
        except BaseException:
            shutil.rmtree(gen, ignore_errors=True)
            raise
        self.store.remove_old(keep=gen)
        return ReindexReport(added=len(files), updated=0, removed=0, unchanged=0, pages=pages, sections=sections,
                             seconds=0.0, full=True, skipped=skipped, warnings=tuple(dict.fromkeys(problems)))

    def _incremental(self, discovery: Discovery, manifest: Manifest, progress: Progress | None) -> ReindexReport:
        diff = plan(discovery, manifest)
        problems: list[Problem] = list(discovery.problems)
        for f in diff.unchanged:
            problems.extend(_problems_of(manifest.files[f.rel]))
        todo = list(diff.new) + list(diff.changed)
        added = updated = unchanged = 0
        unchanged = len(diff.unchanged)
        results: list[Processed] = []
        known = {f.rel: manifest.files[f.rel].sha1 for f in diff.changed}
        for n, proc in enumerate(process_all(todo, self.settings, workers=self.workers, known=known), 1):
            old = manifest.files.get(proc.file.rel)
            if old is not None and old.sha1 and old.sha1 == proc.sha1:
                old.size, old.mtime_ns = proc.file.size, proc.file.mtime_ns  # touched, not changed
                problems.extend(_problems_of(old))
                unchanged += 1
            else:
                results.append(proc)
                problems.extend(proc.problems)
            if progress:
                progress(n, len(todo))
        if results or diff.removed:
            ix = self.store.open()
            writer = open_writer(ix, limitmb=64)
            try:
                for rel in diff.removed:
                    writer.delete_by_term("path", rel)
                for proc in results:
                    rel = proc.file.rel
                    writer.delete_by_term("path", rel)
                    for doc in proc.docs:
                        writer.add_document(**doc)
                    if rel in manifest.files:
                        updated += 1
                    else:
                        added += 1
                writer.commit()
            except BaseException:
                writer.cancel()
                raise
            finally:
                ix.close()
        for rel in diff.removed:
            del manifest.files[rel]
        for proc in results:
            manifest.files[proc.file.rel] = _entry(proc)
        if results or diff.removed or diff.changed:
            gen = self.store.live()
            assert gen is not None
            manifest.save(gen / MANIFEST)
        live = [e for e in manifest.files.values() if e.page is not None]
        skipped = sum(1 for e in manifest.files.values() if e.page is None)
        return ReindexReport(added=added, updated=updated, removed=len(diff.removed), unchanged=unchanged,
                             pages=len(live), sections=sum(e.sections for e in live), seconds=0.0, full=False,
                             skipped=skipped, warnings=tuple(dict.fromkeys(problems)))


def _finish(report: ReindexReport, started: float) -> ReindexReport:
    from dataclasses import replace

    return replace(report, seconds=round(time.perf_counter() - started, 3))


def iter_docs(pages: Iterable[Page]) -> Iterator[dict[str, object]]:
    for page in pages:
        for p in page.passages:
            yield passage_doc(p)
