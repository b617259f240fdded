"""Parse workers for a reindex: forked processes that each read, parse and analyse every n-th page and send the
results to the writing process through a pipe of their own.

Why not `multiprocessing.Pool`: its task, result and worker-supervision threads ran in the writing process, which
is the busy one (it owns the Whoosh writer), and cost it ~5 CPU-s per 1,000 pages over unpickling the results
itself: per page a pickled task, a result thread woken to read and unpickle, a supervision loop polling the
workers, and the GIL passed between them and the writer. Here the workers are forked with the file list already in
memory (nothing is sent to them), worker k takes pages k, k + n, k + 2n ..., and the writer reads page i from worker
i mod n, in the main thread, when it wants it. A pipe holds up to ~1 MB, so a worker runs a few pages ahead of the
writer and then blocks: memory stays bounded whatever the size of the site.

A worker that fails on a page sends the exception, which is raised in the writer; one that dies (killed, out of
memory) is an error naming the page, never a hang. Workers die with the writer (`init` sets that up) and are ended
and reaped when the iteration stops for any reason.
"""

from __future__ import annotations

import os
import pickle
import signal
from collections.abc import Callable, Iterator
from typing import BinaryIO, TypeVar

from .errors import ResourceExhausted

T = TypeVar("T")

PIPE_BYTES = 1 << 20  # asked-for pipe capacity: how far (in bytes of results) a worker may run ahead of the writer
_HEAD = 8  # each message: its length (8 bytes, little-endian), then the pickled (ok, value) pair


def run_forked(count: int, job: Callable[[int], T], *, workers: int, init: Callable[[], None],
               name: Callable[[int], str]) -> Iterator[T]:
    """`job(0)`, `job(1)` ... `job(count - 1)` computed in `workers` forked processes, yielded in order.

    `init` runs first in each worker; `name(i)` names item i in the error when its worker dies.
    """
    pids: list[int] = []
    readers: list[BinaryIO] = []
    try:
        for k in range(workers):
            r, w = os.pipe()
            _grow(w)
            pid = os.fork()
            if pid == 0:  # the worker: never returns
                os.close(r)
                for f in readers:
                    f.close()
                _serve(w, range(k, count, workers), job, init)
            os.close(w)
            pids.append(pid)
            readers.append(os.fdopen(r, "rb", buffering=PIPE_BYTES))
        for i in range(count):
            ok, value = _receive(readers[i % workers], name(i), pids[i % workers])
            if not ok:
                raise value  # type: ignore[misc]  # a worker's exception (see `_serve`)
            yield value  # type: ignore[misc]
    finally:
        for f in readers:
            f.close()
        for pid in pids:
            _end(pid)


def _serve(fd: int, items: range, job: Callable[[int], object], init: Callable[[], None]) -> None:
    code = 0
    try:
        init()
        with os.fdopen(fd, "wb") as out:
            for i in items:
                failed = False
                try:
                    message = pickle.dumps((True, job(i)), pickle.HIGHEST_PROTOCOL)
                except BaseException as exc:  # noqa: BLE001 - sent to the writer, which raises it
                    message, failed = _failure(exc), True
                out.write(len(message).to_bytes(_HEAD, "little"))
                out.write(message)
                out.flush()  # each result goes out whole and at once: the writer may be waiting for it
                if failed:
                    break
    except BaseException:  # noqa: BLE001 - the writer went away (broken pipe) or ended us: nothing left to tell
        code = 1
    finally:
        os._exit(code)  # never run the parent's exit handlers or flush its buffers from here


def _failure(exc: BaseException) -> bytes:
    try:
        return pickle.dumps((False, exc), pickle.HIGHEST_PROTOCOL)
    except Exception:  # noqa: BLE001 - an exception that cannot be pickled is sent as its description
        return pickle.dumps((False, RuntimeError(f"{type(exc).__name__}: {exc}")), pickle.HIGHEST_PROTOCOL)


def _receive(f: BinaryIO, what: str, pid: int) -> tuple[bool, object]:
    head = f.read(_HEAD)
    data = f.read(int.from_bytes(head, "little")) if len(head) == _HEAD else b""
    if len(head) < _HEAD or len(data) < int.from_bytes(head, "little"):
        raise ResourceExhausted(f"a parse worker ended while reading {what} ({_status(pid)}); the index is intact, "
                                "run the reindex again")
    return pickle.loads(data)  # type: ignore[no-any-return]


def _status(pid: int) -> str:
    try:
        done, status = os.waitpid(pid, 0)
    except ChildProcessError:
        return "unknown status"
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        return f"killed by {signal.Signals(sig).name if sig in signal.valid_signals() else sig}" + (
            ", perhaps out of memory" if sig == signal.SIGKILL else "")
    return f"exit status {os.WEXITSTATUS(status)}"


def _end(pid: int) -> None:
    """Reap a worker, ending it first if it is still running (the iteration stopped early)."""
    try:
        done, _status = os.waitpid(pid, os.WNOHANG)
        if done == 0:
            os.kill(pid, signal.SIGTERM)
            os.waitpid(pid, 0)
    except (ChildProcessError, ProcessLookupError):
        pass


def _grow(fd: int) -> None:
    """Ask for a larger pipe (Linux): the default 64 KB holds less than one analysed page."""
    import fcntl

    setsize = getattr(fcntl, "F_SETPIPE_SZ", None)
    if setsize is None:
        return
    try:
        fcntl.fcntl(fd, setsize, PIPE_BYTES)
    except OSError:  # over /proc/sys/fs/pipe-max-size: keep the default
        pass
