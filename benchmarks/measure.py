"""Run one command and report its wall time and memory, measured from a small, fresh parent process.

Why a separate process: Linux carries a process's peak RSS across `exec` (the kernel folds the pre-exec memory
into the new program's `ru_maxrss`), so a command started straight from the benchmark harness, which holds whole
generated sites in memory, "peaks" at the harness's size: every engine showed the same 1,268 MB at 10,000 pages.
Started from this small process instead, `getrusage(RUSAGE_CHILDREN)` is the peak RSS of the largest single
process of the command's tree (the command and every child it waited for, e.g. parse workers), and sampling
`/proc/PID/smaps_rollup` of the whole tree gives its summed proportional set size (PSS: pages shared between a
forked writer and its workers are counted once), the memory the tree really took. Linux only.

Usage::

    python benchmarks/measure.py OUT.json -- COMMAND [ARGS...]

The command's stdout/stderr pass through; OUT.json gets {"wall", "cpu" (user + system seconds of the tree), "maxrss_kb", "peak_tree_pss_kb",
"rc"}.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

SAMPLE_S = 0.05


def tree(pid: int) -> list[int]:
    """The process and all its descendants (from /proc/PID/task/*/children)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
        except OSError:  # the process ended between the listing and the read
            continue
    return out


def pss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def main(argv: list[str]) -> int:
    out_file, sep, cmd = argv[0], argv[1], argv[2:]
    if sep != "--" or not cmd:
        print("usage: measure.py OUT.json -- COMMAND [ARGS...]", file=sys.stderr)
        return 2
    peak = 0
    start = time.perf_counter()
    proc = subprocess.Popen(cmd)
    while proc.poll() is None:
        peak = max(peak, sum(pss_kb(p) for p in tree(proc.pid)))
        try:
            proc.wait(SAMPLE_S)
        except subprocess.TimeoutExpired:
            pass
    wall = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    Path(out_file).write_text(json.dumps({"wall": wall, "cpu": usage.ru_utime + usage.ru_stime,
                                          "maxrss_kb": usage.ru_maxrss, "peak_tree_pss_kb": peak,
                                          "rc": proc.returncode}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
