"""`kb serve --workers 1` against `--workers 2` (or any two counts), measured back to back on a shared machine.

    python -m benchmarks.workers --content /path/to/docs [--rounds 8] [--seconds 10] [--clients 20] [--procs 2]

Both servers are started once on the same index (the idle one costs no CPU), then the same load (benchmarks/load.py's
clients, loopback only) is run against each in turn, in ABBA order so that a drift in the machine's other load
hits both alike. Prints each run with the CPU the server's processes got (cores = CPU seconds / wall seconds,
from /proc), then per configuration the median requests/s and p50/p99, and how many of the paired rounds the second
configuration won. Meant for a machine shared with other work, where one pair of runs proves nothing, and where
the scheduler may give this whole session less than a core however many processes it runs (Linux autogroup
shares CPU between sessions): the cores column shows when that happened.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.load import corpus_queries, percentile, run_clients, start_server


def start(content: Path, index: Path, workers: str) -> tuple[subprocess.Popen[str], str]:
    return start_server(content, index, workers, reindex=False, timeout=120)  # the index is built once, up front


def server_cpu(pid: int) -> float:
    """CPU seconds used so far by a server process and its worker processes (Linux /proc; 0 elsewhere)."""
    try:
        pids = [pid, *map(int, Path(f"/proc/{pid}/task/{pid}/children").read_text().split())]
        total = 0
        for p in pids:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    except (OSError, ValueError):
        return 0.0
    return total / os.sysconf("SC_CLK_TCK")


def run(base: str, queries: list[str], clients: int, procs: int, seconds: float,
        seed: int, pid: int = 0) -> tuple[float, float, float, int, float]:
    import multiprocessing

    seeds = [seed + i for i in range(clients)]
    until = time.monotonic() + seconds
    started, cpu = time.monotonic(), server_cpu(pid)
    with multiprocessing.get_context("fork").Pool(procs) as pool:
        parts = pool.starmap(run_clients, [(base, queries, seeds[i::procs], until) for i in range(procs)])
    elapsed = time.monotonic() - started
    cores = (server_cpu(pid) - cpu) / elapsed
    ms = sorted(x * 1000 for lat, _ in parts for x in lat)
    errors = sum(len(err) for _, err in parts)
    return len(ms) / elapsed, percentile(ms, 50), percentile(ms, 99), errors, cores


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--content", type=Path, required=True)
    ap.add_argument("--index", type=Path, default=None, help="index folder (default: a temporary one)")
    ap.add_argument("--compare", default="1,2", help="two --workers values, e.g. 1,2 or 1,auto")
    ap.add_argument("--rounds", type=int, default=8, help="pairs of runs (ABBA order)")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--procs", type=int, default=2, help="client processes")
    args = ap.parse_args()
    if not 1 <= args.rounds <= 50 or not 0 < args.seconds <= 120 or not 1 <= args.procs <= args.clients <= 200:
        ap.error("--rounds 1..50, --seconds 0..120, 1 <= --procs <= --clients <= 200 (the test is bounded)")
    a, b = args.compare.split(",")
    tmp = tempfile.TemporaryDirectory(prefix="kb-workers-") if args.index is None else None
    index = args.index or Path(tmp.name) / "index"  # type: ignore[union-attr]
    subprocess.run([sys.executable, "-m", "kb", "--content", str(args.content), "--index", str(index), "reindex"],
                   check=True, capture_output=True)
    servers = {w: start(args.content, index, w) for w in (a, b)}
    queries = corpus_queries(args.content, 500, 1)
    results: dict[str, list[tuple[float, float, float, int, float]]] = {a: [], b: []}
    try:
        for base in (s[1] for s in servers.values()):  # warm both: searchers open, caches filled
            run(base, queries, args.clients, args.procs, 4.0, 99)
        for r in range(args.rounds):
            for w in ((a, b) if r % 2 == 0 else (b, a)):
                load = open("/proc/loadavg").read().split()[0] if Path("/proc/loadavg").exists() else "?"
                proc, base = servers[w]
                rps, p50, p99, errors, cores = run(base, queries, args.clients, args.procs, args.seconds, r,
                                                   proc.pid)
                results[w].append((rps, p50, p99, errors, cores))
                print(f"round {r + 1} --workers {w}: {rps:6.1f} req/s  p50 {p50:6.1f} ms  p99 {p99:6.1f} ms  "
                      f"errors {errors}  server used {cores:.2f} cores  (load average {load})", flush=True)
    finally:
        for proc, _base in servers.values():
            proc.terminate()
            proc.wait(timeout=20)
        if tmp is not None:
            tmp.cleanup()
    for w in (a, b):
        rows = results[w]
        col: list[list[float]] = [[float(x[i]) for x in rows] for i in range(5)]
        print(f"--workers {w}: median {statistics.median(col[0]):.1f} req/s (min {min(col[0]):.1f}, "
              f"max {max(col[0]):.1f}); median p50 {statistics.median(col[1]):.1f} ms, "
              f"p99 {statistics.median(col[2]):.1f} ms; errors {sum(x[3] for x in rows)}; "
              f"server used {statistics.median(col[4]):.2f} cores (median)")
    wins = sum(y[0] > x[0] for x, y in zip(results[a], results[b], strict=True))
    ratios = [y[0] / x[0] for x, y in zip(results[a], results[b], strict=True) if x[0]]
    print(f"--workers {b} beat --workers {a} in {wins} of {args.rounds} rounds; "
          f"median ratio {statistics.median(ratios):.2f}")
    return 1 if any(x[3] for rows in results.values() for x in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
