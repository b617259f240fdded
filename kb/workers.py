"""`kb serve --workers N`: N forked server processes, each with its own SO_REUSEPORT socket on the one port.

Why forking with SO_REUSEPORT, and not Uvicorn's own `workers` or one pre-forked shared socket:

- Uvicorn's supervisor starts fresh interpreters that import the app by name: the app would need an import string
  and a factory rebuilding the knowledge base from the environment, and every worker pays the imports again.
- A socket bound once and shared by forked processes was tried first and measured: under keep-alive load, 19 of
  20 client connections landed in one worker (asyncio accepts every pending connection in one go, and the process
  that wakes first takes them all), so two workers were no faster than one.
- With SO_REUSEPORT every worker listens on its own socket and the kernel spreads new connections over them by
  their address hash, whoever is busy. The parent first binds the port plainly (a busy port stays a one-line error
  before anything starts; `--port 0` picks one), then holds it with a bound, non-listening SO_REUSEPORT socket
  (so a restarted worker gets the same port back, and that socket never receives connections).

Each worker opens its own Whoosh searchers after the fork (nothing open is inherited) and follows generation swaps
through CURRENT, as a single server does. The parent serves nothing: it runs the `--watch` reindexer (the one
writer), restarts a worker that dies, and passes Ctrl-C or SIGTERM on to the workers once. Linux only in practice
(SO_REUSEPORT balances connections there; elsewhere run one process per port behind a proxy).
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from collections.abc import Callable

from .errors import WorkersFailed

Note = Callable[[str], None]
POLL_SECONDS = 0.1
GRACE_SECONDS = 10.0
FAST_DEATH_SECONDS = 2.0
MAX_FAST_DEATHS = 3


def run_forked(serve_one: Callable[[socket.socket], None], workers: int, *, bound: socket.socket, note: Note,
               parent_work: Callable[[threading.Event], None] | None = None) -> None:
    """Fork `workers` processes each running `serve_one` on its own listening socket at `bound`'s address;
    return once all have stopped after a signal. `bound` (a listening socket from `server.bind`) is closed."""
    if not hasattr(os, "fork") or not hasattr(socket, "SO_REUSEPORT"):
        raise WorkersFailed("several server workers need Linux (fork and SO_REUSEPORT)", fix="workers")
    family, address = bound.family, bound.getsockname()
    bound.close()
    hold = _reuseport_socket(family, address)  # keeps the port ours while workers come and go; never listens
    children: dict[int, float] = {}  # pid -> start time
    stop = threading.Event()
    parent = os.getpid()

    def spawn() -> None:
        pid = os.fork()
        if pid == 0:  # the worker: its own process group, so the terminal's Ctrl-C reaches only the parent
            code = 1
            try:
                os.setpgid(0, 0)
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                _exit_with_parent(parent)
                hold.close()
                listener = _reuseport_socket(family, address)
                listener.listen(2048)
                serve_one(listener)
                code = 0
            finally:
                os._exit(code)
        children[pid] = time.monotonic()

    def on_signal(_signum: int, _frame: object) -> None:
        if not stop.is_set():
            stop.set()
            for pid in list(children):
                _kill(pid, signal.SIGTERM)

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        for _ in range(workers):
            spawn()
        note(f"{workers} worker processes (pids {', '.join(map(str, children))})")
        if parent_work is not None:
            threading.Thread(target=parent_work, args=(stop,), name="kb-parent", daemon=True).start()
        _supervise(children, stop, spawn, note)
    finally:
        hold.close()
        for s, handler in previous.items():
            signal.signal(s, handler)


def _reuseport_socket(family: int, address: tuple[object, ...]) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise WorkersFailed(f"cannot share port {address[1]} between workers ({exc.strerror})",
                            fix="port") from None
    return sock


def _supervise(children: dict[int, float], stop: threading.Event, spawn: Callable[[], None], note: Note) -> None:
    fast_deaths = 0
    stopping_since: float | None = None
    while children:
        pid, status = os.waitpid(-1, os.WNOHANG)
        if pid == 0:
            if stop.is_set():
                stopping_since = stopping_since or time.monotonic()
                if time.monotonic() - stopping_since > GRACE_SECONDS:
                    for other in list(children):
                        _kill(other, signal.SIGKILL)
            time.sleep(POLL_SECONDS)
            continue
        started = children.pop(pid, None)
        if started is None or stop.is_set():
            continue
        code = os.waitstatus_to_exitcode(status)
        fast_deaths = fast_deaths + 1 if time.monotonic() - started < FAST_DEATH_SECONDS else 0
        if fast_deaths >= MAX_FAST_DEATHS:
            stop.set()
            for other in list(children):
                _kill(other, signal.SIGTERM)
            for other in list(children):
                os.waitpid(other, 0)
            raise WorkersFailed(f"server workers keep exiting right after starting (last status {code})",
                                fix="workers")
        note(f"worker {pid} exited (status {code}); starting another")
        spawn()


def _kill(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _exit_with_parent(parent: int) -> None:
    """A worker whose parent was killed outright stops too, instead of serving on forever unsupervised."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="kb-orphan-check", daemon=True).start()
