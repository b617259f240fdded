"""Keep the index in step with the content folder: parse pages (on all cores), analyse them, and write full or
incremental generations through the store.
"""

from __future__ import annotations

import gc
import hashlib
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from .analysis import CRUMB_SEP
from .discover import Discovery, SourceFile, discover
from .errors import IndexDamaged
from .identity import unique, wanted_ids
from .limits import LOCK_TIMEOUT
from .locking import WriterLock
from .manifest import Entry, Manifest, Plan, Settings, freshness, plan, without_model
from .model import Page, Passage, Problem, ReindexReport
from .semantic import VECTOR_FILES, ModelChoice
from .store import (
    MANIFEST,
    IndexStore,
    checksums,
    index_files,
    link_or_copy,
    raw_stamp,
    resource_error,
    small_crc32,
    write_error,
)
from .whoosh.writer import open_writer

if TYPE_CHECKING:
    from whoosh.fields import Schema

    from .analysis import AnalysedPage
    from .whoosh.writer import TermSegmentWriter

Progress = Callable[[int, int], None]
Note = Callable[[str], None]


@dataclass
class Processed:
    """One file after reading and parsing (what a worker process sends back)."""

    file: SourceFile
    sha1: str
    page: Page | None
    problems: tuple[Problem, ...]
    analysed: AnalysedPage | None = None  # the page's passages, analysed (None: no page)
    counts: tuple[int, int] | None = None  # (sections, passages) of a page sent without them (`_for_writer`)

    @property
    def sections(self) -> int:
        return self.counts[0] if self.counts is not None else len(self.page.sections) if self.page else 0

    @property
    def passages(self) -> int:
        return self.counts[1] if self.counts is not None else len(self.page.passages) if self.page else 0


def _for_writer(proc: Processed) -> Processed:
    """What a parse worker sends: the page without its sections and passages (the writer needs its id, title,
    problems and how many there are; the passages travel analysed), a fifth less to pickle and unpickle."""
    if proc.page is None:
        return proc
    page = replace(proc.page, sections=(), passages=())
    return replace(proc, page=page, counts=(proc.sections, proc.passages))


_SCHEMA: Schema | None = None  # this process's schema, whose fields analyse (and cache) values


def _schema() -> Schema:
    global _SCHEMA
    from .analysis import build_schema

    if _SCHEMA is None:
        _SCHEMA = build_schema()
    return _SCHEMA


def _analyse(docs: list[dict[str, object]]) -> AnalysedPage:
    """Analyse passages here, in the (worker) process that parsed them, not in the one writing the index."""
    from .analysis import analyse_page

    return analyse_page(docs, _schema())


def _add_page(writer: TermSegmentWriter, proc: Processed) -> None:
    if proc.analysed is not None:
        writer.add_page(proc.analysed)


def _page_fields(file: SourceFile, settings: Settings, meta: dict[str, object]) -> dict[str, object]:
    """The page's source name and published route (kb/urls.py), stored with each of its passages."""
    from .urls import route

    name, local, routing = settings.source_for(file.rel)
    path = route(routing, local, meta) if routing is not None else None
    return {"source": name, "route": path or ""}


def process_file(file: SourceFile, settings: Settings, known_sha1: str = "") -> Processed:
    """Read, hash, parse and analyse one file; never raises for a bad file.

    When the content hashes to `known_sha1` (a file touched but not changed) the page is not parsed at all, and
    the Markdown renderer is never even imported: a no-change reindex stays cheap.
    """
    proc, docs = _parse_file(file, settings, known_sha1)
    return replace(proc, analysed=_analyse(docs)) if docs is not None else proc


def _parse_file(file: SourceFile, settings: Settings,
                known_sha1: str) -> tuple[Processed, list[dict[str, object]] | None]:
    """`process_file` before the analysis: the file parsed, and its passages as documents (None: no page)."""
    from .limits import MAX_PARSE_SECONDS, ParseTimeout, bound_page, bound_raw, parse_deadline
    from .parse import Skip, parse_bytes, read_category

    try:
        if file.size > settings.max_file_bytes:
            mb = settings.max_file_bytes / 1048576
            raise Skip(Problem(file.rel, f"file is {file.size / 1048576:.1f} MB, over the {mb:g} MB limit",
                               "skipped (raise it with --max-file-size)"))
        try:
            data = Path(file.path).read_bytes()
        except FileNotFoundError:
            raise Skip(Problem(file.rel, "file vanished while indexing", "skipped")) from None
        except PermissionError:
            raise Skip(Problem(file.rel, "file cannot be read (permission denied)",
                               "skipped; fix its permissions")) from None
        except OSError as exc:
            raise Skip(Problem(file.rel, f"file cannot be read ({exc.strerror or exc})", "skipped")) from None
        labels: list[str] = []
        category_problems: list[Problem] = []
        for cat_rel, cat_path in file.categories:
            label, problem = read_category(Path(cat_path), cat_rel)
            labels += [label] if label else []
            category_problems += [problem] if problem else []
        sha1 = hashlib.sha1(data + "\0".join(labels).encode("utf-8")).hexdigest()
        if known_sha1 and sha1 == known_sha1:
            return Processed(file, sha1, None, ()), None
        from .dialects import dialect_of
        from .sections import build_page

        _warm_parser()
        try:
            with parse_deadline(MAX_PARSE_SECONDS):
                raw = bound_raw(parse_bytes(data, file.rel))
                dialect = dialect_of(settings.dialect_for(file.rel),
                                     file.path[: len(file.path) - len(file.rel)] or ".")
                unpublished = dialect.skip(raw.meta, file.path, file.rel)
                if unpublished:
                    raise Skip(Problem(file.rel, f"page is {unpublished}", "skipped"))
                page = bound_page(build_page(raw, category=tuple(labels), dialect=dialect))
        except ParseTimeout:
            raise Skip(Problem(file.rel, f"page took over {MAX_PARSE_SECONDS:g}s to parse", "skipped")) from None
        if category_problems:
            page = replace(page, problems=tuple(category_problems) + page.problems)
    except Skip as skip:
        return Processed(file, "", None, (skip.problem,)), None
    if page.draft and not settings.include_drafts:
        return Processed(file, sha1, None, page.problems + (
            Problem(file.rel, "page is marked draft or unlisted", "skipped (index it with --include-drafts)"),)), None
    extra = _page_fields(file, settings, raw.meta)
    return Processed(file, sha1, page, page.problems), [{**passage_doc(p), **extra} for p in page.passages]


_WARM = False


def _warm_parser() -> None:
    """Parse a tiny page once per process before any deadline is armed, so that a deadline never fires inside
    the parser's lazy imports (an import cut short leaves a half-initialised module behind)."""
    global _WARM
    if not _WARM:
        from .parse import parse_bytes
        from .sections import build_page

        build_page(parse_bytes(b"---\ntitle: t\n---\n# a\n\nb <b>c</b> [d](e)\n\n```\nf\n```\n", "warm.md"))
        _WARM = True


def process_all(files: list[SourceFile], settings: Settings, *, workers: int,
                known: dict[str, str] | None = None) -> Iterator[Processed]:
    """Parse files, on several cores when there are enough of them to repay starting the workers.

    Results come back in order and one at a time, with at most a few pages per worker parsed ahead, so the caller
    can index each page and let it go: memory does not grow with the size of the site. `known` maps a path to the
    content hash already indexed (see `process_file`).
    """
    known = known or {}
    if workers > 1 and len(files) >= 200 and hasattr(os, "fork"):
        from .parse_workers import run_forked

        # Forked workers (kb/parse_workers.py): each parses every `workers`-th page, a few pages ahead at most.
        yield from run_forked(len(files),
                              lambda i: _for_writer(process_file(files[i], settings, known.get(files[i].rel, ""))),
                              workers=workers, init=_worker_init, name=lambda i: files[i].rel)
    else:
        for f in files:
            yield process_file(f, settings, known.get(f.rel, ""))


PAGES_PER_BATCH = 16  # consecutive pages a full build parses, analyses and hands to the writer together


@dataclass
class Batch:
    """Consecutive pages of a full build, each sent without its passages, and their passages analysed together.

    Why together: the writer handles a batch's postings once per (field, term) of the batch instead of once per
    (field, term) of each page; the title, crumbs and common words recur across neighbouring pages, so at 8 pages
    a batch has about half the groups of its pages apart (1.31 M -> 0.64 M at 1,000 pages), at 16 a quarter fewer
    again (0.47 M), and a worker pickles (and the writer unpickles) as many fewer term keys and lists. The
    postings, and the index, are the same. Larger batches hold more pages in flight per worker (memory).
    """

    procs: list[Processed]  # in file order; `analysed` None on each (see `_for_writer`)
    analysed: AnalysedPage | None  # the passages of every page in `procs`, in order (None: no page)


def process_batch(files: Sequence[SourceFile], settings: Settings) -> Batch:
    """Parse the files, and analyse all their passages in one go (see `Batch`); never raises for a bad file."""
    procs: list[Processed] = []
    docs: list[dict[str, object]] = []
    for f in files:
        proc, page_docs = _parse_file(f, settings, "")
        procs.append(_for_writer(proc))
        docs += page_docs or ()
    return Batch(procs, _analyse(docs) if docs else None)


def process_batches(files: list[SourceFile], settings: Settings, *, workers: int) -> Iterator[Batch]:
    """`process_batch` of every `PAGES_PER_BATCH` consecutive files, on several cores as `process_all` does."""
    size = PAGES_PER_BATCH
    count = (len(files) + size - 1) // size

    def job(b: int) -> Batch:
        return process_batch(files[b * size:(b + 1) * size], settings)

    def name(b: int) -> str:
        first, last = files[b * size].rel, files[min(len(files), (b + 1) * size) - 1].rel
        return first if first == last else f"one of {first} ... {last}"

    if workers > 1 and len(files) >= 200 and hasattr(os, "fork"):
        from .parse_workers import run_forked

        yield from run_forked(count, job, workers=workers, init=_worker_init, name=name)
    else:
        for b in range(count):
            yield job(b)


def _renamed(batch: Batch, procs: list[Processed]) -> AnalysedPage | None:
    """The batch's analysed passages after `unique` gave some of its pages (`procs`) another id: their `page` field
    analysed again."""
    analysed = batch.analysed
    if analysed is None or all(new.page is old.page for new, old in zip(procs, batch.procs, strict=True)):
        return analysed
    docs = list(analysed.docs)
    at = 0
    for proc in procs:
        if proc.page is None:
            continue
        end = at + proc.passages
        if any(doc["page"] != proc.page.id for doc in docs[at:end]):
            docs[at:end] = [{**doc, "page": proc.page.id} for doc in docs[at:end]]
        at = end
    return analysed.with_field(docs, "page", _schema())


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
        sections=proc.sections,
        passages=proc.passages,
        problems=[p.__dict__ for p in proc.problems],
    )


def _moves_an_id(manifest: Manifest, removed: tuple[str, ...], results: list[Processed]) -> bool:
    """Whether an update could change which page holds an id (only a rebuild assigns them in path order)."""
    changed = {proc.file.rel for proc in results} | set(removed)
    kept = {e.page for rel, e in manifest.files.items() if rel not in changed and e.page is not None}
    new = [proc.page.id for proc in results if proc.page is not None]
    if len(new) != len(set(new)) or any(i in kept for i in new):
        return True
    wanted = set().union(*(wanted_ids(e.problems) for e in manifest.files.values()))
    # a page gives up an id that a renamed page asked for: that page must now get it
    return any(manifest.files[rel].page in wanted for rel in changed if rel in manifest.files)


def _problems_of(entry: Entry) -> list[Problem]:
    return [Problem(**p) for p in entry.problems]  # type: ignore[arg-type]


def _worker_init() -> None:
    """Parse workers leave Ctrl-C to the parent, which stops them, and end quietly with it.

    A worker reports everything (problems, errors) to the parent through the pool, never on stderr; so its stderr
    goes to the null device, and a parent killed mid-build (SIGTERM, SIGKILL) does not leave workers printing
    broken-pipe tracebacks. On Linux, workers also get SIGTERM when the parent dies, instead of parsing on.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
    _die_with_parent()
    # What the worker inherited (modules, the parent's objects) is never cyclic garbage of its own: leave it out of
    # the cycle collector's scans, and run them less often (a page makes thousands of short-lived containers).
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)


def _die_with_parent() -> None:
    """prctl(PR_SET_PDEATHSIG, SIGTERM) where it exists (Linux); elsewhere workers stop at their next result."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM, 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return


class Indexer:
    """Builds and updates the index of one content folder in one index folder."""

    def __init__(self, content: Path, store: IndexStore, settings: Settings, *, lock_timeout: float = LOCK_TIMEOUT,
                 workers: int | None = None, on_note: Note | None = None,
                 discover_pages: Callable[[], Discovery] | None = None,
                 content_folders: Sequence[Path] | None = None,
                 source_dialects: Sequence[tuple[str, Path, str]] | None = None,
                 model: ModelChoice | None = None) -> None:
        self.model = model  # passages get vectors from this embedding model (kb/semantic); None: lexical only
        self._rebuild_vectors = False
        self._embedded: tuple[int, float] = (0, 0.0)
        self.content = Path(content)
        self.content_folders = tuple(content_folders) if content_folders is not None else (self.content,)
        # (path prefix, folder, configured dialect or "") per source; one source: the content folder itself
        self.source_dialects = tuple(source_dialects) if source_dialects is not None else (("", self.content, ""),)
        self._discover = discover_pages or (lambda: discover(self.content))  # several sources: kb/sources.py
        self.store = store
        self.settings = settings
        self.lock_timeout = lock_timeout
        self.workers = workers if workers is not None else min(os.cpu_count() or 1, 4)
        self.note = on_note or (lambda _msg: None)

    def parse_settings(self) -> Settings:
        """The settings pages are parsed with: each source's dialect ("auto": detected) resolved here, when pages
        are about to be read, so that a search's freshness check never pays for detecting it."""
        from .dialects import resolve_dialect

        dialects = tuple((prefix, resolve_dialect(folder, explicit or self.settings.dialect))
                         for prefix, folder, explicit in self.source_dialects if folder.is_dir())
        return replace(self.settings, parse_dialects=dialects)

    def check(self) -> Plan | None:
        """Stat-only freshness check; None means there is no usable index yet (or it needs a rebuild)."""
        return freshness(self.store.manifest(), self.settings.stamp(), self._discover)

    def reindex(self, *, full: bool = False, progress: Progress | None = None, wait: bool = True,
                why: str | None = None, verify: bool = False) -> ReindexReport:
        """Update (or with `full`, rebuild) the index; with `wait=False`, fail at once if another writer runs.

        `why` is noted once the lock is ours, so a rebuild that cannot start does not announce itself. Before an
        update, the live index is checked by file names and sizes and by opening it; `verify` also compares every
        file's checksum (seconds on a large index, so it is asked for, or done when a search fails).
        """
        started = time.perf_counter()
        if self.model is not None:
            from .semantic import load_encoder

            load_encoder(self.model)  # a missing or broken model fails here, before the index is touched
        discovery = self._discover()
        self.store.ensure_folder(self.content_folders)
        lock = WriterLock(self.store.folder, timeout=self.lock_timeout if wait else 0.0,
                          on_wait=lambda pid: self.note(
                              f"waiting up to {self.lock_timeout:g}s for another reindex (pid {pid}) to finish..."))
        try:
            with lock:
                if why:
                    self.note(why)
                manifest = None if full else self._usable_manifest(verify=verify)
                if manifest is None:
                    report = self._full(discovery, progress)
                else:
                    report = self._incremental(discovery, manifest, progress)
                live = self.store.live()
                if live is not None:
                    self.store.remove_old(keep=live)  # also what killed or interrupted runs left behind
        except OSError as exc:
            raise write_error(self.store.folder, exc) from None
        return _finish(replace(report, embedded=self._embedded[0], embed_seconds=round(self._embedded[1], 3)),
                       started)

    def _usable_manifest(self, *, verify: bool) -> Manifest | None:
        """The live generation's manifest if it can be updated in place; None (with a note why) to rebuild."""
        gen, why = self.store.diagnose()
        where = self.store.folder
        if gen is None:
            if why:
                self.note(f"warning: index in {where} is damaged ({why}); rebuilding it from the content")
            return None
        manifest = self.store.manifest(gen)
        if manifest is None:
            stamp = raw_stamp(gen / MANIFEST)
            if stamp is not None and stamp != self.settings.stamp():
                self.note("index was built by another kb version or with other settings; rebuilding it")
            else:
                self.note(f"warning: index in {where} is damaged (its manifest is missing or unreadable); "
                          "rebuilding it from the content")
            return None
        if manifest.stamp != self.settings.stamp():
            if without_model(manifest.stamp) != without_model(self.settings.stamp()):
                self.note("index was built by another kb version or with other settings; rebuilding it")
                return None
            self.note("the embedding model changed; computing every passage's vector again" if self.model else
                      "no embedding model now; dropping the passage vectors")
            self._rebuild_vectors = True
        problem = self.store.verify(gen, manifest, deep=verify)
        if problem is None:
            try:
                from .whoosh import open_index

                ix = open_index(str(gen))
                try:
                    with ix.searcher() as searcher:
                        if searcher.doc_count() != manifest.docs:
                            problem = "its document count differs from its manifest"
                finally:
                    ix.close()
            except Exception as exc:  # noqa: BLE001 - any Whoosh failure to open means the files are damaged
                resource = resource_error(exc, self.store.folder)
                if resource is not None:
                    raise resource from None  # running out of descriptors or memory is not damage
                problem = f"{type(exc).__name__}: {exc}"[:200]
        if problem:
            self.note(f"warning: index in {where} is damaged ({problem}); rebuilding it from the content")
            return None
        return manifest

    def _publish(self, gen: Path, manifest: Manifest, previous: Manifest | None) -> None:
        """Count, checksum and publish a written generation; `previous` (an update's live manifest) gives the sums
        of the files linked unchanged from it."""
        from .whoosh import open_index

        ix = open_index(str(gen))
        try:
            manifest.docs = ix.doc_count()
        finally:
            ix.close()
        self._vectors(gen)
        known = {} if previous is None else previous.index
        known = {name: sums for name, sums in known.items() if name not in VECTOR_FILES}  # rewritten, not linked
        manifest.index = checksums(gen, known)
        linked = {} if previous is None else {name: crc for name, crc in previous.crc32.items()
                                               if name in known and manifest.index.get(name) == known[name]}
        manifest.crc32 = small_crc32(gen, manifest.index, linked)
        manifest.save(gen / MANIFEST)
        self.store.publish(gen)

    def _vectors(self, gen: Path) -> None:
        """Give the new generation its passage vectors (reusing the live one's), or none without a model."""
        if self.model is None:
            for name in VECTOR_FILES:
                (gen / name).unlink(missing_ok=True)  # linked from a generation that had them
            return
        from .semantic import load_encoder
        from .semantic.vectors import build

        enc = load_encoder(self.model)
        live = self.store.live()
        manifest = self.store.manifest(live) if live is not None else None
        if live is not None and (manifest is None or self.store.verify(live, manifest, deep=False)):
            live = None  # a damaged generation's vectors are not reused
        built = build(gen, live, self.model.id, enc.encode)
        self._embedded = (built.embedded, built.seconds)

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
            taken: dict[str, str] = {}
            try:
                with _no_cycle_collection():
                    n = 0
                    for batch in process_batches(files, self.parse_settings(), workers=self.workers):
                        procs = [unique(proc, taken) for proc in batch.procs]
                        analysed = _renamed(batch, procs)
                        if analysed is not None:
                            writer.add_page(analysed)
                        for proc in procs:
                            entries[proc.file.rel] = _entry(proc)
                            problems.extend(proc.problems)
                            if proc.page is None:
                                skipped += 1
                            else:
                                pages += 1
                                sections += proc.sections
                            n += 1
                            if progress:
                                progress(n, len(files))
                    writer.commit()
            except BaseException:
                writer.cancel()
                raise
            ix.close()
            self._publish(gen, Manifest(self.settings.stamp(), str(self.content), entries), None)
            published = True
        finally:
            if not published:
                self.store.discard(gen)
        return ReindexReport(added=len(files), updated=0, removed=0, unchanged=0, pages=pages, sections=sections,
                             seconds=0.0, full=True, skipped=skipped, warnings=tuple(dict.fromkeys(problems)))

    def _incremental(self, discovery: Discovery, manifest: Manifest, progress: Progress | None) -> ReindexReport:
        """Parse the new and changed pages, commit them (and the removals) to a copy of the live generation."""
        diff = plan(discovery, manifest)
        problems: list[Problem] = list(discovery.problems)
        for f in diff.unchanged:
            problems.extend(_problems_of(manifest.files[f.rel]))
        results, touched = self._changed_pages(diff, manifest, problems, progress)
        if _moves_an_id(manifest, diff.removed, results):
            self.note("page ids are contested between pages; rebuilding so that each id names one page")
            return self._full(discovery, progress)
        added = updated = 0
        if results or diff.removed or touched or self._rebuild_vectors:
            self._commit_copy(manifest, diff.removed, results)
            updated = sum(1 for proc in results if proc.file.rel in manifest.files)
            added = len(results) - updated
        files = {rel: e for rel, e in manifest.files.items() if rel not in diff.removed}
        files.update((proc.file.rel, _entry(proc)) for proc in results)
        live = [e for e in files.values() if e.page is not None]
        return ReindexReport(added=added, updated=updated, removed=len(diff.removed),
                             unchanged=len(diff.unchanged) + touched, pages=len(live),
                             sections=sum(e.sections for e in live), seconds=0.0, full=False,
                             skipped=len(files) - len(live), warnings=tuple(dict.fromkeys(problems)))

    def _changed_pages(self, diff: Plan, manifest: Manifest, problems: list[Problem],
                       progress: Progress | None) -> tuple[list[Processed], int]:
        """Parse the new and changed files: those whose bytes really changed, and how many were only touched (same
        bytes, new stat signature, recorded in `manifest`). Their problems are added to `problems`."""
        todo = list(diff.new) + list(diff.changed)
        touched = 0
        results: list[Processed] = []
        known = {f.rel: manifest.files[f.rel].sha1 for f in diff.changed}
        for n, proc in enumerate(process_all(todo, self.parse_settings(), workers=self.workers, known=known), 1):
            old = manifest.files.get(proc.file.rel)
            if old is not None and old.sha1 and old.sha1 == proc.sha1:
                old.size, old.mtime_ns = proc.file.size, proc.file.mtime_ns  # touched, not changed
                problems.extend(_problems_of(old))
                touched += 1
            else:
                results.append(proc)
                problems.extend(proc.problems)
            if progress:
                progress(n, len(todo))
        return results, touched

    def _commit_copy(self, manifest: Manifest, removed: tuple[str, ...], results: list[Processed]) -> None:
        """Apply changes to a copy of the live generation and publish the copy; the live one is never touched."""
        from .whoosh import open_index

        live = self.store.live()
        if live is None:
            raise IndexDamaged(f"index in {self.store.folder} vanished during the update", fix="reindex")
        gen: Path | None = None
        published = False
        try:
            gen = self.store.generation_name()
            self.store.create_generation(gen)
            for path in index_files(live):
                link_or_copy(path, gen / path.name)
            if results or removed:
                ix = open_index(str(gen))
                writer = open_writer(ix, limitmb=64)
                try:
                    for rel in removed:
                        writer.delete_by_term("path", rel)
                    for proc in results:
                        writer.delete_by_term("path", proc.file.rel)
                        _add_page(writer, proc)
                    writer.commit()
                except BaseException:
                    writer.cancel()
                    raise
                finally:
                    ix.close()
            files = {rel: e for rel, e in manifest.files.items() if rel not in removed}
            files.update((proc.file.rel, _entry(proc)) for proc in results)
            self._publish(gen, Manifest(self.settings.stamp(), str(self.content), files), manifest)
            published = True
        finally:
            if not published:
                self.store.discard(gen)


@contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """Pause Python's cycle collector while a full build fills the writer's pool.

    The pool holds three lists per distinct term (hundreds of thousands): every full collection walks them all,
    which cost a third of the writing process's time. Nothing in the build makes cyclic garbage that must go
    before the build ends; the collector runs again afterwards.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _finish(report: ReindexReport, started: float) -> ReindexReport:
    return replace(report, seconds=round(time.perf_counter() - started, 3))