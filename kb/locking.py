"""Cross-process locks that the OS drops when their holder dies, so a killed process never leaves the index locked.

Two kinds, both `flock` on a file:

- the writer lock (`writer.lock` in the index folder): one reindex at a time. Whoosh's own lock is only taken
  inside one generation folder, and a second writer there fails at once; this one is what makes a second
  `kb reindex` wait (bounded) and then report who holds it.
- reader pins (`reader.lock` in each generation folder): a searcher holds a shared lock on its generation for as
  long as it is open; a writer deletes an old generation only after taking it exclusively without waiting. So a
  search never waits for a writer, and a writer never pulls files from under a search.
"""

from __future__ import annotations

import errno
import fcntl
import os
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from .errors import IndexLocked, IndexReadOnly
from .limits import LOCK_TIMEOUT

LOCK_NAME = "writer.lock"
PIN_NAME = "reader.lock"
_READ_ONLY_ERRNOS = (errno.EACCES, errno.EPERM, errno.EROFS)


class WriterLock:
    def __init__(self, folder: Path, *, timeout: float = LOCK_TIMEOUT,
                 on_wait: Callable[[int | None], None] | None = None):
        self.path = Path(folder) / LOCK_NAME
        self.timeout = timeout
        self.on_wait = on_wait
        self._fd: int | None = None

    def holder(self) -> int | None:
        """The pid of the process holding the lock, as it wrote it (None if it has not written it yet)."""
        for _ in range(20):  # the holder writes its pid just after locking; give it a moment
            try:
                text = self.path.read_text().strip()
                if text:
                    return int(text)
            except (OSError, ValueError):
                pass
            time.sleep(0.01)
        return None

    def try_acquire(self) -> bool:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            if exc.errno in _READ_ONLY_ERRNOS:
                raise IndexReadOnly(f"index folder {self.path.parent} cannot be written ({exc.strerror})",
                                    fix="index") from None
            raise
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        pid = str(os.getpid()).encode()
        os.pwrite(fd, pid, 0)
        os.ftruncate(fd, len(pid))
        self._fd = fd
        return True

    def acquire(self) -> None:
        if self.try_acquire():
            return
        pid = self.holder()
        if self.timeout > 0 and self.on_wait is not None:
            self.on_wait(pid)
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))
            if self.try_acquire():
                return
        pid = self.holder()
        raise IndexLocked(
            f"another reindex is running (pid {pid if pid is not None else 'unknown'})", pid=pid, fix="lock_timeout"
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

    def __enter__(self) -> WriterLock:
        self.acquire()
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.release()


class Pin:
    """A shared hold on one generation folder; closing it (or the process dying) lets a writer delete it."""

    def __init__(self, fd: int | None) -> None:
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def pin(gen: Path) -> Pin | None:
    """Hold `gen` against deletion without ever waiting; None when it is being deleted or is gone.

    A generation without a pin file (read-only folder made by hand, or the file lost) is still readable: it gets
    an empty pin, and at worst a writer may delete it while a search runs, which that search retries.
    """
    try:
        fd = os.open(gen / PIN_NAME, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return Pin(None) if gen.is_dir() else None
    except OSError:
        return Pin(None)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    if not gen.is_dir():  # deleted between our open and our lock
        os.close(fd)
        return None
    return Pin(fd)


def claim(gen: Path) -> Pin | None:
    """Take `gen` exclusively for deletion without waiting; None while any reader still holds it."""
    try:
        fd = os.open(gen / PIN_NAME, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return Pin(None)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return Pin(fd)


def make_pin_file(gen: Path) -> None:
    with open(gen / PIN_NAME, "wb"):
        pass
