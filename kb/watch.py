"""Keep the index in step with the pages as they are saved (`kb serve --watch`, `kb reindex --watch`).

watchfiles groups file events: a batch is yielded once the folder has been quiet for `quiet_ms` (or after
`max_wait_ms` of continuous activity), so an editor's save, a `git checkout` or a burst of saves is one
`KnowledgeBase.refresh()`, the same call every interface makes before answering. It compares stat signatures with
the manifest and reindexes only when pages really changed, so events on files kb ignores cost one folder walk; what
it did goes to the knowledge base's `on_note`.

A watcher must never stop silently: when the content folder is removed and recreated (`git clone`, `rsync
--delete`, deploy tools) or watching fails, it starts again on the folder as it now is and refreshes; while the
index cannot follow the pages, `WatchStatus` says why and since when (`/api/health` reports it as `stale`).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .api import KnowledgeBase
from .errors import IndexLocked, KbError
from .model import ReindexReport

Note = Callable[[str], None]
QUIET_MS = 250
MAX_WAIT_MS = 2000
RETRY_SECONDS = 1.0


@dataclass
class WatchStatus:
    """Whether the index follows the pages: `reason` and `since` (a time.time()) are set while it cannot."""

    reason: str | None = None
    since: float | None = None

    def stale(self, reason: str) -> None:
        if self.reason is None:
            self.since = time.time()
        self.reason = reason

    def fresh(self) -> None:
        self.reason = self.since = None

    def age(self) -> float:
        return 0.0 if self.since is None else round(time.time() - self.since, 1)


class SharedWatchStatus(WatchStatus):
    """A WatchStatus that forked server workers read (`kb serve --workers N --watch`): the watcher runs in the
    parent, so a plain one told only the parent and every worker's /api/health said "ok" while the index was stale.
    Kept in an anonymous shared memory map made before the fork, as JSON behind a sequence number that is odd
    while the one writer (the watcher) writes, so that a reader never takes half of an update."""

    SIZE = 16384  # a reason is cut to 1,000 characters: at most 12 bytes each as JSON, and the header

    def __init__(self) -> None:
        import mmap

        self._map = mmap.mmap(-1, self.SIZE)  # MAP_SHARED: the forked workers see the parent's writes
        self._write(None, None)

    def _write(self, since: float | None, reason: str | None) -> None:
        import json

        blob = json.dumps([since, None if reason is None else reason[:1000]]).encode("ascii")
        seq = int.from_bytes(self._map[:8], "little")  # even: no write under way (this is the one writer)
        self._map[:8] = (seq + 1).to_bytes(8, "little")
        self._map[8:12] = len(blob).to_bytes(4, "little")
        self._map[12:12 + len(blob)] = blob
        self._map[:8] = (seq + 2).to_bytes(8, "little")

    def _read(self) -> tuple[float | None, str | None]:
        import json

        for _ in range(1000):  # a write takes microseconds; a writer gone mid-write leaves it odd: give up then
            seq = self._map[:8]
            blob = self._map[12:12 + int.from_bytes(self._map[8:12], "little")]
            if int.from_bytes(seq, "little") % 2 == 0 and self._map[:8] == seq:
                since, reason = json.loads(blob)
                return since, reason
            time.sleep(0.0001)
        return None, None

    @property  # type: ignore[override]
    def reason(self) -> str | None:
        return self._read()[1]

    @reason.setter
    def reason(self, value: str | None) -> None:
        self._write(self._read()[0], value)

    @property  # type: ignore[override]
    def since(self) -> float | None:
        return self._read()[0]

    @since.setter
    def since(self, value: float | None) -> None:
        self._write(value, self._read()[1])


def _identity(folder: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(folder)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


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
          max_wait_ms: int = MAX_WAIT_MS, status: WatchStatus | None = None) -> None:
    """Refresh the index after every batch of changes until `stop` is set (or Ctrl-C, which returns quietly).

    Errors from a refresh (a page folder briefly gone, another reindex holding the lock) are noted and retried
    on the next batch or after a second; they never end the watch. Nor does the content folder being replaced or
    the watch itself failing: watching starts again on the folder as it now is.
    """
    from watchfiles import watch as watch_files

    stop = stop or threading.Event()
    status = status or WatchStatus()
    pending = True  # one refresh once watching has begun covers saves made before it began
    while not stop.is_set():
        # Every source folder (one unless a config lists several); a missing one is watched for until it is back.
        folders = [s.path for s in getattr(kb, "sources", ())] or [kb.content_dir]
        roots = {f: _identity(f) for f in folders}
        present = [f for f, root in roots.items() if root is not None]
        if not present:
            missing = ", ".join(str(f) for f in folders)
            if status.reason is None or "missing" not in status.reason:
                note(f"content folder {missing} is missing; watching for it to come back")
            status.stale(f"content folder {missing} is missing")
            pending = True
            stop.wait(RETRY_SECONDS)
            continue
        try:
            for _changes in watch_files(*present, watch_filter=_Filter(kb.content_dir, kb.index_dir),
                                        debounce=max_wait_ms, step=quiet_ms, stop_event=stop,
                                        raise_interrupt=False, rust_timeout=int(RETRY_SECONDS * 1000),
                                        yield_on_timeout=True):
                moved = [f for f in folders if _identity(f) != roots[f]]
                if moved:
                    note(f"content folder {moved[0]} was removed, replaced or came back; watching it again")
                    pending = True
                    break
                if not _changes and not pending:
                    continue
                pending = _refresh(kb, note, on_report, status)
            else:
                return  # stopped, or Ctrl-C
        except (OSError, RuntimeError, UnicodeError) as exc:  # what watchfiles raises when watching fails
            note(f"watching {', '.join(str(f) for f in present)} failed ({type(exc).__name__}: {exc}); "
                 "starting again")
            status.stale(f"watching the content folder failed ({type(exc).__name__})")
            pending = True
            stop.wait(RETRY_SECONDS)


def _refresh(kb: KnowledgeBase, note: Note, on_report: Callable[[ReindexReport], None] | None,
             status: WatchStatus | None = None) -> bool:
    """One `kb.refresh()` (which notes what it did through the knowledge base's `on_note`); True when it must be
    tried again (another writer held the index). `status` goes stale while the index cannot follow the pages."""
    status = status or WatchStatus()
    try:
        report = kb.refresh()
    except KbError as exc:  # no index to answer from yet, or the content folder briefly gone
        note(f"cannot update the index: {exc}")
        status.stale(f"cannot update the index: {exc}")
        return isinstance(exc, IndexLocked)
    if kb.refresh_problem is not None:
        status.stale(f"cannot update the index: {kb.refresh_problem}")
    else:
        status.fresh()
    if report is not None and on_report is not None:
        on_report(report)
    return kb.refresh_pending


def watch_in_thread(kb: KnowledgeBase, *, stop: threading.Event, note: Note = print,
                    on_report: Callable[[ReindexReport], None] | None = None,
                    status: WatchStatus | None = None) -> threading.Thread:
    thread = threading.Thread(target=watch, name="kb-watch", daemon=True,
                              kwargs={"kb": kb, "stop": stop, "note": note, "on_report": on_report,
                                      "status": status})
    thread.start()
    return thread
