"""One writer at a time across processes, with a lock the OS drops when its holder dies.

Whoosh's own lock file survives a SIGKILL and then blocks every later writer; an fcntl lock cannot outlive its
process, so a crash never leaves the index locked. The holder's pid is written into the file for the message.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path
from types import TracebackType
from typing import Callable

from .errors import IndexLocked

LOCK_NAME = "writer.lock"


class WriterLock:
    def __init__(self, folder: Path, *, timeout: float = 10.0, on_wait: Callable[[int | None], None] | None = None):
        self.path = Path(folder) / LOCK_NAME
        self.timeout = timeout
        self.on_wait = on_wait
        self._fd: int | None = None

    def holder(self) -> int | None:
        try:
            text = self.path.read_text().strip()
            return int(text) if text else None
        except (OSError, ValueError):
            return None

    def try_acquire(self) -> bool:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd
        return True

    def acquire(self) -> None:
        if self.try_acquire():
            return
        pid = self.holder()
        if self.on_wait is not None:
            self.on_wait(pid)
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            time.sleep(0.05)
            if self.try_acquire():
                return
        pid = self.holder()
        raise IndexLocked(
            f"another reindex is running (pid {pid}); wait for it or raise --lock-timeout", pid=pid
        )

    def release(self) -> None:
        if self._fd is not None:
            try:
                os.ftruncate(self._fd, 0)
            except OSError:
                pass
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "WriterLock":
        self.acquire()
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.release()
