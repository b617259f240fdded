"""Serving an index that something else builds: read-only knowledge bases and naming the generation that answered.

A replica behind a load balancer serves an index published by `kb index import` (or by a `kb reindex` elsewhere);
it must never write the index folder, and every answer must say which generation it came from, so that clients and
operators can tell which build they saw while replicas are being updated one after the other.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

from .api import KnowledgeBase
from .errors import IndexReadOnly, IndexUnusable
from .index import Indexer
from .store import MANIFEST

GENERATION_HEADER = "x-kb-generation"

Handler = TypeVar("Handler", bound=Callable[..., Any])


class ReadOnlyKnowledgeBase(KnowledgeBase):
    """A knowledge base that only reads its index: no content folder, no refresh, no rebuild of a damaged index."""

    reads_pages = False  # a replica's content folder, if any, is not the one its imported index was built from

    def indexer(self) -> Indexer:
        raise IndexReadOnly(f"this kb only reads the index in {self.index_dir}", fix="import")

    def ensure_index(self) -> None:
        gen, why = self.store.diagnose()
        if gen is None and not why:
            raise IndexUnusable(f"no index in {self.index_dir} yet", fix="import")
        return None


def read_only(kb: KnowledgeBase) -> ReadOnlyKnowledgeBase:
    """The same index folder and settings, read-only."""
    return ReadOnlyKnowledgeBase(kb.content_dir, kb.index_dir, include_drafts=kb.settings.include_drafts,
                                 max_file_bytes=kb.settings.max_file_bytes, lock_timeout=kb.lock_timeout,
                                 on_note=kb.note)


def one_generation(kb: KnowledgeBase) -> Callable[[Handler], Handler]:
    """Run a (synchronous) request handler wholly on one generation and name it in a response header."""

    def wrap(handler: Handler) -> Handler:
        @functools.wraps(handler)
        def answer(*args: Any, **kwargs: Any) -> Any:
            with kb.snapshot() as reader:
                response = handler(*args, **kwargs)
            response.headers[GENERATION_HEADER] = reader.gen.name
            return response

        return answer  # type: ignore[return-value]

    return wrap


def generation_fields(gen: Path) -> dict[str, str]:
    """The generation's id (its folder name, kept by export/import) and build time (when its manifest was written,
    in UTC; an import keeps the builder's time)."""
    try:
        built = datetime.fromtimestamp((gen / MANIFEST).stat().st_mtime, tz=timezone.utc)
    except OSError:
        return {"generation": gen.name, "built": ""}
    return {"generation": gen.name, "built": built.isoformat(timespec="seconds").replace("+00:00", "Z")}


def worker_count(value: str) -> int:
    """`--workers N` or `auto` (the cores this process may run on)."""
    if value.strip().lower() == "auto":
        try:
            return max(1, len(os.sched_getaffinity(0)))
        except AttributeError:
            return max(1, os.cpu_count() or 1)
    try:
        n = int(value)
    except ValueError:
        n = 0
    if not 1 <= n <= 64:
        raise ValueError(f"must be a whole number from 1 to 64 or 'auto', got {value!r}")
    return n
