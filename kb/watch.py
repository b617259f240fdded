"""Keep the index in step with the pages as they are saved (`kb serve --watch`, `kb reindex --watch`).

watchfiles groups file events: a batch is yielded once the folder has been quiet for `quiet_ms` (or after
`max_wait_ms` of continuous activity), so an editor's save, a `git checkout` or a burst of saves is one
`KnowledgeBase.refresh()`, the same call every interface makes before answering. It compares stat signatures with
the manifest and reindexes only when pages really changed, so events on files kb ignores cost one folder walk; what
it did goes to the knowledge base's `on_note`.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Callable

from .api import KnowledgeBase
from .errors import IndexLocked, KbError
from .model import ReindexReport

Note = Callable[[str], None]
QUIET_MS = 250
MAX_WAIT_MS = 2000
RETRY_SECONDS = 1.0


class _Filter:
    """Pass events inside the content folder except in the index folder and in hidden files or folders."""

    def __init__(self, content: Path, index: Path) -> None:
        self.content = os.path.realpath(content)
        self.index = os.path.realpath(index)

    def __call__(self, _change: object, path: str) -> bool:
        real = os.path.realpath(path)
        if real == self.index or real.startswith(self.index + os.sep):
            return False
        rel = os.path.relpath(real, self.content) if real.startswith(self.content) else os.path.basename(path)
        parts = rel.split(os.sep)
        return not any(p.startswith(".") and p not in (".", "..") for p in parts) and not rel.endswith("~")


def watch(kb: KnowledgeBase, *, stop: threading.Event | None = None, note: Note = print,
          on_report: Callable[[ReindexReport], None] | None = None, quiet_ms: int = QUIET_MS,
          max_wait_ms: int = MAX_WAIT_MS) -> None:
    """Refresh the index after every batch of changes until `stop` is set (or Ctrl-C, which returns quietly).

    Errors from a refresh (a page folder briefly gone, another reindex holding the lock) are noted and retried
    on the next batch or after a second; they never end the watch.
    """
    from watchfiles import watch as watch_files

    pending = True  # one refresh once watching has begun covers saves made before it began
    for _changes in watch_files(kb.content_dir, watch_filter=_Filter(kb.content_dir, kb.index_dir),
                                debounce=max_wait_ms, step=quiet_ms, stop_event=stop, raise_interrupt=False,
                                rust_timeout=int(RETRY_SECONDS * 1000), yield_on_timeout=True):
        if not _changes and not pending:
            continue
        pending = _refresh(kb, note, on_report)


def _refresh(kb: KnowledgeBase, note: Note, on_report: Callable[[ReindexReport], None] | None) -> bool:
    """One `kb.refresh()` (which notes what it did through the knowledge base's `on_note`); True when it must be
    tried again (another writer held the index)."""
    try:
        report = kb.refresh()
    except KbError as exc:  # no index to answer from yet, or the content folder briefly gone
        note(f"cannot update the index: {exc}")
        return isinstance(exc, IndexLocked)
    if report is not None and on_report is not None:
        on_report(report)
    return kb.refresh_pending


def watch_in_thread(kb: KnowledgeBase, *, stop: threading.Event, note: Note = print,
                    on_report: Callable[[ReindexReport], None] | None = None) -> threading.Thread:
    thread = threading.Thread(target=watch, name="kb-watch", daemon=True,
                              kwargs={"kb": kb, "stop": stop, "note": note, "on_report": on_report})
    thread.start()
    return thread
