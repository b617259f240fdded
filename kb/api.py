"""The embedding API: one object per knowledge base, safe to search from many threads.

Searching keeps one Whoosh searcher per thread (Whoosh searchers are not safe to share) and reopens it only when a
reindex has published a new generation, so a warm search costs the query, not the open. Searching never waits for
a writer: generations are immutable and pinned while read. A damaged index is rebuilt from the content (with a
one-line note) the first time a search runs into it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from . import __version__
from .config import MODEL_OFF as MODEL_OFF  # re-exported: the values kb.semantic.OFF holds too
from .config import SourceConfig, model_off
from .errors import (
    IndexDamaged,
    IndexLocked,
    IndexOutdated,
    IndexReadOnly,
    IndexUnusable,
    KbError,
    NotFound,
    QueryError,
    ResourceExhausted,
    shown,
)
from .limits import DEFAULT_LIMIT, LOCK_TIMEOUT, MAX_FILE_BYTES
from .manifest import Manifest, Plan, Settings, format_stamp, freshness, quick_freshness
from .model import CRUMB_SEP, Hit, SearchResult
from .sources import content_signature, discover_all, make_sources, source_of
from .store import IndexStore, Reader, resource_error
from .urls import full_url

TYPE_CHECKING = False  # rather than typing's: a cold search does not import typing (kb/__init__.py)
if TYPE_CHECKING:
    from typing import Any

if TYPE_CHECKING:
    from .index import Indexer  # the writer: imported when a reindex runs, never by a search of a fresh index
    from .records import PageText, ReindexReport, SectionText, Status

Note = Callable[[str], None]
_UNSET: Any = object()


class KnowledgeBase:
    reads_pages = True  # its pages' files are the ones its index was built from (the reader may show them)

    def __init__(
        self,
        content_dir: str | os.PathLike[str] = "content",
        index_dir: str | os.PathLike[str] = "index",
        *,
        include_drafts: bool = False,
        max_file_bytes: int = MAX_FILE_BYTES,
        lock_timeout: float = LOCK_TIMEOUT,
        on_note: Note | None = None,
        sources: Sequence[SourceConfig] = (),
        base_url: str = "",
        dialect: str = "",
        model: str | None = None,
    ) -> None:
        """`sources` (kb/config.py) makes one knowledge base over several folders; without it, `content_dir` is
        the one source. `base_url` and `dialect` are those of `content_dir` (or of sources that set none)."""
        # "" or "auto": detected from the site's config or its pages when they are parsed (kb.dialects); a name
        # forces that dialect (checked here, so a typo fails at once).
        def checked(name: str) -> str:
            name = name.strip().lower()
            if name in ("", "auto"):
                return ""
            from .dialects import get_dialect  # only for a forced name: the plugins cost a cold search ~30 ms

            get_dialect(name)  # raises UnknownDialect naming the choices
            return name

        dialect = checked(dialect)
        sources = tuple(replace(c, dialect=checked(c.dialect)) for c in sources)
        configs = tuple(replace(c, base_url=c.base_url or base_url, dialect=c.dialect or dialect) for c in sources) \
            or (SourceConfig(name=Path(content_dir).name or "content", path=Path(content_dir), base_url=base_url,
                             dialect=dialect),)
        self.sources = make_sources(configs)
        self.content_dir = self.sources[0].path
        self.index_dir = Path(index_dir)
        self.settings = Settings(include_drafts=include_drafts, max_file_bytes=max_file_bytes,
                                 sources=tuple((s.prefix, s.name, s.routing) for s in self.sources),
                                 dialect=dialect or "auto")
        self.store = IndexStore(self.index_dir)
        self.lock_timeout = lock_timeout
        self.note: Note = on_note or (lambda _m: None)
        self._local = threading.local()
        self._readers: set[Reader] = set()
        self._readers_lock = threading.Lock()
        self._owners: dict[Reader, threading.Thread] = {}  # the thread each open reader belongs to
        self.refresh_pending = False  # the last refresh() could not run (another writer): call it again later
        self.refresh_problem: str | None = None  # why the last refresh() could not update the index (it answered)
        self._model_asked = model  # a folder or name; None: KB_MODEL, else the bundled model if installed
        self._model: Any = _UNSET
        self._checked: tuple[Path, Manifest] | None = None  # the live manifest the freshness check just read

    @property
    def model(self) -> Any:
        """The embedding model (kb.semantic.ModelChoice) or None for lexical only; ModelError if unusable."""
        if self._model is _UNSET:
            asked = self._model_asked if self._model_asked is not None else os.environ.get("KB_MODEL")
            if model_off(asked):
                self._model = None  # turned off, as choose() would say, without importing kb.semantic
            else:
                from .semantic import choose

                self._model = choose(self._model_asked)
        return self._model

    # -- writing -------------------------------------------------------------------------------------------

    def _settings(self) -> Settings:
        """The settings the index is built with: the knowledge base's, with the embedding model's id if any."""
        model = self.model
        return replace(self.settings, model=model.id) if model is not None else self.settings

    def indexer(self) -> Indexer:
        from .index import Indexer

        model = self.model
        return Indexer(self.content_dir, self.store, self._settings(), lock_timeout=self.lock_timeout,
                       on_note=self.note, discover_pages=lambda: discover_all(self.sources),
                       content_folders=[s.path for s in self.sources],
                       source_dialects=[(s.prefix, s.path, s.config.dialect) for s in self.sources], model=model)

    def reindex(self, *, full: bool = False, verify: bool = False,
                progress: Callable[[int, int], None] | None = None) -> ReindexReport:
        """Bring the index in step with the content folder (only changed pages are parsed unless `full`).

        With `verify`, the index files' checksums are checked even when no page changed (a damaged index is then
        rebuilt). Waits up to `lock_timeout` seconds for another reindex, then raises IndexLocked.
        """
        return self.indexer().reindex(full=full, progress=progress, verify=verify)

    def refresh(self) -> ReindexReport | None:
        """Bring the index in step with the content before answering, as every interface does (`kb search`, the
        server, MCP, watching): a stat check, and a reindex of what changed. None when nothing was reindexed.

        Never waits and never stops an existing index from answering: when another process is writing, or the index
        cannot be updated (read-only folder, disk full, out of descriptors), it notes why (one line to `on_note`)
        and returns None; `refresh_pending` then says a later call should try again, `refresh_problem` why the
        index may be stale. Raises only when there is no index yet to answer from. What a reindex did is noted too:
        one line, then one per page warning.
        """
        self.refresh_pending = False
        self.refresh_problem = None
        try:
            plan = self._check()  # out of descriptors while listing the pages: answered as a failed update
            if plan is not None and not plan.stale:
                return None
            report = self.indexer().reindex(wait=False)
        except IndexLocked as exc:
            if self.store.live() is None:
                raise IndexLocked(f"no index yet: another reindex (pid {exc.pid}) is building it; "
                                  "try again when it finishes", pid=exc.pid) from None
            self.refresh_pending = True
            self.note(f"another reindex is running (pid {exc.pid}); answering from the index as it is")
            return None
        except (IndexReadOnly, IndexUnusable, ResourceExhausted) as exc:
            # Read-only, disk full, out of descriptors: an intact live index still answers, with a one-line note.
            if self.store.live() is None:
                raise
            self.refresh_problem = " ".join(str(exc).split())
            self.note(f"{self.refresh_problem}; answering from the index as it is, which may be stale")
            return None
        if report.changed:
            if report.full:
                self.note(f"index built: {report.pages} pages, {report.sections} sections")
            else:
                self.note(f"index updated: {report.added} added, {report.updated} updated, {report.removed} removed")
            for w in report.warnings:
                self.note(f"warning: {w}")
        return report

    def _check(self) -> Plan | None:
        """The stat-only freshness check (Indexer.check), without importing the writer; the manifest it reads is
        kept for the search that follows, so that opening the index does not read and parse it again."""
        gen = self.store.live()
        head = self.store.manifest_head(gen) if gen is not None else None
        if gen is not None and head is not None:  # the usual case: no need to load the whole manifest
            self._checked = (gen, head)
            return quick_freshness(head, self._settings().stamp(), lambda: discover_all(self.sources),
                                   lambda: self.store.manifest(gen), lambda: content_signature(self.sources))
        manifest = self.store.manifest(gen) if gen is not None else None
        self._checked = (gen, manifest) if gen is not None and manifest is not None else None
        return freshness(manifest, self._settings().stamp(), lambda: discover_all(self.sources))

    def status(self) -> Status:
        """Whether an index answers searches, and its size (what `/api/health` reports); reads only the manifest."""
        from .records import Status

        gen, why = self.store.diagnose()
        manifest = self.store.manifest(gen) if gen is not None else None
        if manifest is None:
            problem = f"index in {self.index_dir} is damaged ({why})" if why else f"no index in {self.index_dir} yet"
            return Status(ready=False, version=__version__, pages=0, sections=0, problem=problem)
        pages, sections = manifest.size()
        return Status(ready=True, version=__version__, pages=pages, sections=sections)

    # -- reading -------------------------------------------------------------------------------------------

    def _reader(self) -> Reader:
        held: Reader | None = getattr(self._local, "held", None)
        if held is not None and not held.closed:
            return held  # inside snapshot(): stay on its generation even if a newer one is published
        cached: Reader | None = getattr(self._local, "reader", None)
        if cached is not None:
            if not cached.closed and cached.gen == self.store.live():
                if len(self._readers) > 1:
                    # A server's pool stops idle threads when the next request comes, after that request has
                    # found its reader: their searchers become orphans only then, so look again on later requests.
                    with self._readers_lock:
                        self._close_idle_others(cached)
                return cached
            self._drop_reader()
        adopted = self._adopt_orphan()
        if adopted is not None:
            return adopted
        checked, self._checked = self._checked, None
        try:
            reader = self.store.open_reader(checked)
        except IndexDamaged as exc:
            self._heal(exc)
            reader = self.store.open_reader()
        if not reader.manifest.stamp.startswith(format_stamp() + ";"):
            # Built by another kb version: rebuild (with its one-line note) unless someone else is writing or the
            # folder is read-only, in which case the old index still answers. (Other page-selection settings,
            # such as --include-drafts, are a reindex's business, not a search's.)
            try:
                self.indexer().reindex(wait=False)
            except (IndexLocked, IndexReadOnly):
                pass
            else:
                reader.close()
                reader = self.store.open_reader()
        self._local.reader = reader
        with self._readers_lock:
            self._readers.add(reader)
            self._owners[reader] = threading.current_thread()
            self._close_idle_others(reader)
        return reader

    def _close_idle_others(self, reader: Reader) -> None:
        """Close idle searchers of other threads on older generations, and those of threads that have ended (a
        server's thread pool retires idle threads and starts new ones), so that they neither keep old generations
        on disk nor hold descriptors and memory for nobody. The caller holds `_readers_lock`."""
        for other in [r for r in self._readers if not r.busy and (r.gen != reader.gen or self._orphan(r))]:
            self._readers.discard(other)
            self._owners.pop(other, None)
            other.close()

    def _orphan(self, reader: Reader) -> bool:
        owner = self._owners.get(reader)
        return owner is None or not owner.is_alive()

    def _adopt_orphan(self) -> Reader | None:
        """An idle reader on the live generation left by a thread that has ended: this thread takes it over."""
        live = self.store.live()
        adopted: Reader | None = None
        with self._readers_lock:
            for r in [r for r in self._readers if not r.busy and self._orphan(r)]:
                if adopted is None and not r.closed and r.gen == live:
                    adopted = r
                    self._owners[r] = threading.current_thread()
                    self._local.reader = r
                else:  # orphans beyond the one taken over hold descriptors and memory for nobody
                    self._readers.discard(r)
                    self._owners.pop(r, None)
                    r.close()
        return adopted

    def _checkout(self) -> Reader:
        """This thread's reader, marked busy so that no other thread closes it while it is in use."""
        while True:
            reader = self._reader()
            with self._readers_lock:
                if not reader.closed:
                    reader.busy += 1
                    return reader

    @contextmanager
    def snapshot(self) -> Iterator[Reader]:
        """Answer everything this thread asks inside the block from one generation (a server request that makes
        several lookups must not straddle a swap); yields the reader, whose `gen` names that generation."""
        self.ensure_index()
        reader = self._checkout()
        outer, self._local.held = getattr(self._local, "held", None), reader
        try:
            yield reader
        finally:
            self._local.held = outer
            with self._readers_lock:
                reader.busy -= 1
                idle = reader.busy == 0 and not reader.closed
            if idle and outer is None and reader.gen != self.store.live():
                self._drop_reader()  # let go of a replaced generation now, so that its writer can delete it

    def _drop_reader(self) -> None:
        reader: Reader | None = getattr(self._local, "reader", None)
        self._local.reader = None
        if reader is not None:
            with self._readers_lock:
                self._readers.discard(reader)
                self._owners.pop(reader, None)
            try:
                reader.close()
            except Exception:  # noqa: BLE001 - closing a damaged searcher may fail; it is dropped either way
                pass

    def _heal(self, damage: IndexDamaged) -> None:
        """Rebuild a damaged index from the content, without waiting for another writer."""
        if isinstance(damage, IndexOutdated):
            why = "index was built by another kb version or with other settings; rebuilding it"
        else:
            why = f"warning: {damage}; rebuilding it from the content"
        try:
            self.indexer().reindex(full=True, wait=False, why=why)
        except IndexLocked as exc:
            raise IndexLocked(f"{damage}; another reindex (pid {exc.pid}) is running, try again when it finishes",
                              pid=exc.pid) from None
        except IndexReadOnly as exc:
            raise IndexDamaged(f"{damage}, and it cannot be rebuilt: {exc}", fix=exc.fix) from None

    def ensure_index(self) -> ReindexReport | None:
        """Build the index when there is none yet: an embedder never has to call reindex first.

        Never waits for another writer: if one is building the first index, raises IndexLocked at once.
        """
        gen, why = self.store.diagnose()
        if gen is not None or why:
            return None  # a damaged index is rebuilt by the first search that opens it
        try:
            return self.indexer().reindex(wait=False)
        except IndexLocked as exc:
            if self.store.live() is not None:
                return None
            raise IndexLocked(f"no index yet: another reindex (pid {exc.pid}) is building it; "
                              "try again when it finishes", pid=exc.pid) from None

    def search(self, query: str, *, limit: int = DEFAULT_LIMIT, group: str | None = None, passages: bool = False,
               mode: str | None = None) -> SearchResult:
        """Ranked hits for any query string; raises QueryError only for bad arguments (a query with no word in it
        is one), never for bad syntax.

        One hit per section, its other matching passages in `Hit.passages`; `passages=True` gives each passage
        its own hit instead. `mode` is lexical, semantic or hybrid; by default hybrid when an embedding model is
        configured and the index has its vectors, else lexical.
        """
        from .query import parse

        if not isinstance(query, str):
            raise QueryError("query must be a string")
        if limit < 1:
            raise QueryError(f"limit must be at least 1, got {limit}")
        if group not in (None, "page"):
            raise QueryError(f"unknown grouping {group!r}; use 'page'")
        parsed = parse(query)
        if not parsed.positive:
            raise QueryError("nothing to search for in the query: give at least one word (not only symbols, "
                             "operators or -excluded words)")
        self.ensure_index()
        fetch = limit if group is None else min(limit * 5, 200)
        if mode not in (None, "lexical", "semantic", "hybrid"):
            raise QueryError(f"unknown mode {mode!r}; use lexical, semantic or hybrid")
        model = self.model if mode != "lexical" else None
        if mode in ("semantic", "hybrid") and model is None:
            from .semantic import missing_model

            raise missing_model(mode)
        result = self._with_reader(lambda r: self._run(r, query, limit=fetch, passages=passages, model=model,
                                                       mode=mode))
        if group == "page":
            result = _group_by_page(result, limit)
        result = replace(result, hits=tuple(self._published(h) for h in result.hits))
        return replace(result, ignored=parsed.ignored) if parsed.ignored else result

    def _published(self, hit: Hit) -> Hit:
        """The hit (and the hits grouped under it) with `url` made absolute from its source's base URL."""
        others = tuple(self._published(o) for o in hit.others)
        return replace(hit, url=self.url_of(hit.source, hit.url, hit.anchor), others=others)

    def url_of(self, source: str, route: str | None, anchor: str = "") -> str | None:
        """The published URL of a route of `source`, or None when its base URL (or the page's route) is unknown."""
        base = next((s.base_url for s in self.sources if s.name == source), "")
        if not route or not base:
            return None
        return full_url(base, route, anchor)

    def file_path(self, path: str) -> Path:
        """Where an indexed page's file is on disk."""
        source, local = source_of(self.sources, path)
        return source.path / local

    def lookup(self, address: str) -> PageText | SectionText:
        """A page or section from any address kb prints: `path`, `path:line`, `path:line#anchor`, `page#anchor`,
        `path:line:col` (the --vimgrep form), a file path on disk, or a published URL kb produced."""
        from .addresses import lookup_address

        return lookup_address(self, address)

    def _run(self, reader: Reader, query: str, *, limit: int, passages: bool, model: Any,
             mode: str | None) -> SearchResult:
        """Lexical search, or with the model's nearest passages fused in when a model and its vectors are there."""
        semantic = self._semantic(reader, model, mode)
        if semantic is None or mode == "lexical":
            from .search import run

            return run(reader.searcher, query, limit=limit, per_passage=passages)
        from .fusion import run as run_fused

        return run_fused(reader.searcher, query, semantic, limit=limit, per_passage=passages, mode=mode or "hybrid")

    def _semantic(self, reader: Reader, model: Any, mode: str | None) -> Any:
        """The reader's vectors with the query encoder (kb.semantic.Semantic), or None to search lexically."""
        if model is None:
            return None
        from .semantic import Semantic, stale_vectors

        vectors = getattr(reader, "kb_vectors", _UNSET)
        if vectors is _UNSET:
            from .semantic.vectors import load

            vectors = reader.kb_vectors = load(reader.gen)  # type: ignore[attr-defined]
        if vectors is None or vectors.model != model.id:
            if mode is None:
                return None  # built without this model's vectors: lexical until a reindex adds them
            raise stale_vectors(self.index_dir, model.id)
        return Semantic(model, vectors)

    def _with_reader(self, work: Callable[[Reader], Any]) -> Any:
        """Run `work` on this thread's reader; if it fails because index files are damaged, rebuild and retry once."""
        reader = self._checkout()
        try:
            reader.searcher.check_files()  # a file cut since it was mapped is damage, found before it is read
            return work(reader)
        except KbError:
            raise
        except Exception as exc:
            resource = resource_error(exc, self.index_dir)
            if resource is not None:
                raise resource from None  # out of descriptors or memory is not damage: rebuild nothing
            problem = self.store.verify(reader.gen, reader.manifest, deep=True)
            if problem is None:
                raise  # the files are intact: a bug, not damage
        finally:
            with self._readers_lock:
                reader.busy -= 1
        self._drop_reader()
        self._heal(IndexDamaged(f"index in {self.index_dir} is damaged ({problem})"))
        reader = self._checkout()
        try:
            return work(reader)
        finally:
            with self._readers_lock:
                reader.busy -= 1

    def _stored(self, **terms: str) -> list[dict[str, Any]]:
        self.ensure_index()
        return self._with_reader(lambda r: [dict(d) for d in r.searcher.documents(**terms)])

    def resolve_page(self, page: str) -> str:
        """Accept a page id or its path (with or without extension); return the indexed path."""
        page = page.strip().lstrip("/")
        if page.startswith("./"):
            page = page[2:]
        for field in ("page", "path"):
            docs = self._stored(**{field: page})
            if docs:
                return str(docs[0]["path"])
        for ext in (".md", ".mdx", ".markdown"):
            docs = self._stored(path=page + ext)
            if docs:
                return str(docs[0]["path"])
        raise NotFound(f"no page {shown(page)} in the index", fix="search")

    def page(self, page: str) -> PageText:
        from .records import PageText

        path = self.resolve_page(page)
        docs = sorted(self._stored(path=path), key=lambda d: (int(d["line"]), int(d["part"])))
        sections: dict[str, list[dict[str, Any]]] = {}
        for d in docs:
            sections.setdefault(str(d["anchor"]), []).append(d)
        out = tuple(self._section_url(_section_text(parts), parts[0]) for parts in sections.values())
        first = docs[0]
        source = str(first.get("source", ""))
        return PageText(str(first["page"]), path, str(first["title"]), out, source,
                        self.url_of(source, first.get("route")))

    def _section_url(self, section: SectionText, doc: dict[str, Any]) -> SectionText:
        source = str(doc.get("source", ""))
        return replace(section, source=source, url=self.url_of(source, doc.get("route"), section.anchor))

    def section(self, page: str, anchor: str = "") -> SectionText:
        """One section; with no anchor, the text before the first heading, or the first section when there is none
        (most pages open with a heading), so that asking for a page's start never fails."""
        anchor = anchor.lstrip("#")
        sections = self.page(page).sections
        for s in sections:
            if s.anchor == anchor:
                return s
        if not anchor and sections:
            return sections[0]
        raise NotFound(f"page {shown(page)} has no section #{shown(anchor)[1:-1]}", fix="show")

    def __enter__(self) -> KnowledgeBase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close every searcher this object opened (in any thread), releasing their generations."""
        self._local.reader = None
        with self._readers_lock:
            readers, self._readers = list(self._readers), set()
            self._owners.clear()
        for reader in readers:
            try:
                reader.close()
            except Exception:  # noqa: BLE001 - best effort at shutdown
                pass


def _section_text(parts: list[dict[str, Any]]) -> SectionText:
    from .records import SectionText

    first = parts[0]
    text = "\n".join(str(p.get("body", "")) for p in parts if p.get("body"))
    code = "\n".join(str(p.get("code", "")) for p in parts if p.get("code"))
    return SectionText(
        page=str(first["page"]), path=str(first["path"]), title=str(first["title"]), section=str(first["section"]),
        anchor=str(first["anchor"]), breadcrumb=tuple(str(first["breadcrumb"]).split(CRUMB_SEP)),
        line=int(first["line"]), text=text, code=code,
    )


def _group_by_page(result: SearchResult, limit: int) -> SearchResult:
    """Best hit per page, with that page's other matching sections nested under it."""
    order: list[str] = []
    best: dict[str, Hit] = {}
    others: dict[str, list[Hit]] = {}
    for hit in result.hits:
        if hit.path not in best:
            order.append(hit.path)
            best[hit.path] = hit
            others[hit.path] = []
        elif all(o.anchor != hit.anchor for o in others[hit.path]) and hit.anchor != best[hit.path].anchor:
            others[hit.path].append(hit)
    hits = tuple(replace(best[p], rank=i, others=tuple(others[p])) for i, p in enumerate(order[:limit], 1))
    return replace(result, hits=hits, total=len(order))
