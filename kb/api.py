"""The embedding API: one object per knowledge base, safe to search from many threads.

Searching keeps one Whoosh searcher per thread (Whoosh searchers are not safe to share) and reopens it only when a
reindex has published something new, so a warm search costs the query, not the open.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

from .errors import IndexUnusable, NotFound, QueryError
from .index import CRUMB_SEP, Indexer, IndexStore, Settings
from .model import Hit, ReindexReport, SearchResult

Note = Callable[[str], None]
_OPEN_ATTEMPTS = 4


def _whoosh_index_error() -> type[Exception]:
    from whoosh.index import IndexError as WhooshIndexError

    return WhooshIndexError


@dataclass(frozen=True)
class SectionText:
    """A whole section as stored in the index: what `kb show` prints and the read_section tool returns."""

    page: str
    path: str
    title: str
    section: str
    anchor: str
    breadcrumb: tuple[str, ...]
    line: int
    text: str
    code: str = ""


@dataclass(frozen=True)
class PageText:
    page: str
    path: str
    title: str
    sections: tuple[SectionText, ...]


class KnowledgeBase:
    def __init__(
        self,
        content_dir: str | os.PathLike[str] = "content",
        index_dir: str | os.PathLike[str] = "index",
        *,
        include_drafts: bool = False,
        max_file_bytes: int = 5 * 1024 * 1024,
        lock_timeout: float = 10.0,
        on_note: Note | None = None,
    ) -> None:
        self.content_dir = Path(content_dir)
        self.index_dir = Path(index_dir)
        self.settings = Settings(include_drafts=include_drafts, max_file_bytes=max_file_bytes)
        self.store = IndexStore(self.index_dir)
        self.lock_timeout = lock_timeout
        self.note: Note = on_note or (lambda _m: None)
        self._local = threading.local()

    # -- writing -------------------------------------------------------------------------------------------

    def indexer(self) -> Indexer:
        return Indexer(self.content_dir, self.store, self.settings, lock_timeout=self.lock_timeout,
                       on_note=self.note)

    def reindex(self, *, full: bool = False, progress: Callable[[int, int], None] | None = None) -> ReindexReport:
        """Bring the index in step with the content folder (only changed pages are parsed unless `full`)."""
        return self.indexer().reindex(full=full, progress=progress)

    def refresh(self) -> ReindexReport | None:
        """Reindex if the content changed since the last reindex (stat check only); None when already fresh."""
        plan = self.indexer().check()
        if plan is not None and not plan.stale:
            return None
        return self.reindex()

    # -- reading -------------------------------------------------------------------------------------------

    def _searcher(self) -> Any:
        """This thread's searcher, reopened when the index changed.

        A full reindex publishes a new generation and deletes the old one, so a reader can see the CURRENT
        pointer name a folder that is gone a moment later: such a miss is retried a few times before it counts.
        """
        for attempt in range(_OPEN_ATTEMPTS):
            try:
                return self._open_searcher()
            except (IndexUnusable, OSError, _whoosh_index_error()):
                if attempt == _OPEN_ATTEMPTS - 1:
                    raise
                time.sleep(0.01 * (attempt + 1))
        raise AssertionError("unreachable")

    def _open_searcher(self) -> Any:
        from .search import weighting

        gen = self.store.live()
        if gen is None:
            raise IndexUnusable(f"no index in {self.index_dir}; run `kb reindex`")
        cached = getattr(self._local, "searcher", None)
        if cached is not None:
            cached_gen, searcher = cached
            if cached_gen == gen:
                # Not Searcher.refresh(): Whoosh reuses the old segment readers there, which keeps documents an
                # incremental reindex deleted (and segments it dropped). A fresh reader is always right.
                try:
                    if searcher.up_to_date():
                        return searcher
                except Exception:
                    pass
            try:
                searcher.close()
            except Exception:
                pass
            self._local.searcher = None
        ix = self.store.open()
        searcher = ix.searcher(weighting=weighting())
        self._local.searcher = (gen, searcher)
        return searcher

    def ensure_index(self) -> ReindexReport | None:
        """Build the index when there is none yet: an embedder never has to call reindex first."""
        if self.store.live() is None:
            return self.reindex()
        return None

    def search(self, query: str, *, limit: int = 10, group: str | None = None) -> SearchResult:
        from .search import run

        if not isinstance(query, str):
            raise QueryError("query must be a string")
        if limit < 1:
            raise QueryError(f"limit must be at least 1, got {limit}")
        self.ensure_index()
        searcher = self._searcher()
        fetch = limit if group is None else min(limit * 5, 200)
        result = run(searcher, query, limit=fetch)
        if group == "page":
            result = _group_by_page(result, limit)
        elif group is not None:
            raise QueryError(f"unknown grouping {group!r}; use 'page'")
        return result

    def _stored(self, **terms: str) -> list[dict[str, Any]]:
        self.ensure_index()
        searcher = self._searcher()
        return [dict(d) for d in searcher.documents(**terms)]

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
        raise NotFound(f"no page {page!r} in the index; `kb search` finds pages by words, or check the id")

    def page(self, page: str) -> PageText:
        path = self.resolve_page(page)
        docs = sorted(self._stored(path=path), key=lambda d: (int(d["line"]), int(d["part"])))
        sections: dict[str, list[dict[str, Any]]] = {}
        for d in docs:
            sections.setdefault(str(d["anchor"]), []).append(d)
        out = tuple(_section_text(parts) for parts in sections.values())
        first = docs[0]
        return PageText(str(first["page"]), path, str(first["title"]), out)

    def section(self, page: str, anchor: str = "") -> SectionText:
        anchor = anchor.lstrip("#")
        for s in self.page(page).sections:
            if s.anchor == anchor:
                return s
        raise NotFound(f"page {page!r} has no section #{anchor}; `kb show {page}` lists its sections")

    def close(self) -> None:
        cached = getattr(self._local, "searcher", None)
        if cached is not None:
            cached[1].close()
            self._local.searcher = None


def _section_text(parts: list[dict[str, Any]]) -> SectionText:
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
