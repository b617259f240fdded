"""Load test for `kb serve`: N concurrent keep-alive clients for a bounded time, loopback only.

    python benchmarks/load.py --content /path/to/docs [--clients 20] [--seconds 15] \
        [--workers N] [--procs P]

It starts its own `kb serve --port 0` on 127.0.0.1 (index in a temporary folder unless --index is given), builds the
index first, then every client loops: a search for a query drawn from the corpus's own headings (fixed seed) and,
for one request in five, a read of the top hit's section. Reports requests/s, p50/p90/p99/max latency and errors;
exits 1 if any request failed. `--procs P` spreads the clients over P processes, so that on a small machine the
load generator's own GIL does not cap what a multi-worker server can show. `--url http://127.0.0.1:PORT` targets
a server already running (loopback only).
"""

from __future__ import annotations

import argparse
import http.client
import ipaddress
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

HEADING = re.compile(r"^#{1,4}\s+(.+?)\s*#*\s*$")
WORD = re.compile(r"[A-Za-z][A-Za-z0-9]{2,}")


def corpus_queries(content: Path, count: int, seed: int) -> list[str]:
    """One- to three-word queries taken from the pages' headings, so they match real sections."""
    words: list[str] = []
    for path in sorted(content.rglob("*.md*")):
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        for line in text.splitlines():
            m = HEADING.match(line)
            if m:
                words.extend(w.lower() for w in WORD.findall(m.group(1)))
    if not words:
        words = ["install", "configure", "error", "api", "token"]
    rng = random.Random(seed)
    return [" ".join(rng.sample(words, k=min(len(words), rng.choice((1, 1, 2, 2, 3))))) for _ in range(count)]


def start_server(content: Path, index: Path, workers: str = "1", *, reindex: bool = True,
                 timeout: float = 60) -> tuple[subprocess.Popen[str], str]:
    """`kb serve --port 0` on the index (built first unless `reindex` is false); returns it once /api/health answers."""
    if reindex:
        subprocess.run([sys.executable, "-m", "kb", "--content", str(content), "--index", str(index), "reindex"],
                       check=True, capture_output=True, text=True)
    proc = subprocess.Popen([sys.executable, "-m", "kb", "--content", str(content), "--index", str(index), "serve",
                             "--port", "0", "--no-access-log", "--workers", workers],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        m = re.search(r"serving (http://\S+?)/ ", line)
        if m:
            threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()  # type: ignore
            base = m.group(1)
            for _ in range(int(timeout * 5)):
                try:
                    if request(_conn(base), "/api/health")[0] == 200:
                        return proc, base
                except OSError:
                    time.sleep(0.05)
            break
    proc.kill()
    raise SystemExit(f"kb serve --workers {workers} did not start")


def _conn(base: str) -> http.client.HTTPConnection:
    parts = urllib.parse.urlsplit(base)
    return http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=30)


def request(conn: http.client.HTTPConnection, path: str) -> tuple[int, bytes]:
    conn.request("GET", path)
    response = conn.getresponse()
    return response.status, response.read()


def client(base: str, queries: list[str], seed: int, until: float, latencies: list[float],
           errors: list[str]) -> None:
    rng = random.Random(seed)
    conn = _conn(base)
    while time.monotonic() < until:
        query = rng.choice(queries)
        path = "/api/search?" + urllib.parse.urlencode({"q": query, "limit": 10})
        try:
            started = time.perf_counter()
            status, body = request(conn, path)
            latencies.append(time.perf_counter() - started)
            if status != 200:
                errors.append(f"{status} {path}")
                continue
            hits = json.loads(body)["hits"]
            if hits and rng.random() < 0.2:
                hit = hits[0]
                path = (f"/api/pages/{urllib.parse.quote(hit['page'], safe='')}/sections/"
                        f"{urllib.parse.quote(hit['anchor'], safe='')}")
                started = time.perf_counter()
                status, _body = request(conn, path)
                latencies.append(time.perf_counter() - started)
                if status != 200:
                    errors.append(f"{status} {path}")
        except (OSError, http.client.HTTPException, ValueError) as exc:
            errors.append(f"{type(exc).__name__}: {exc} on {path}")
            conn.close()
            conn = _conn(base)
    conn.close()


def run_clients(base: str, queries: list[str], seeds: list[int], until: float) -> tuple[list[float], list[str]]:
    """One client thread per seed until `until` (a monotonic time, the same clock in every process)."""
    latencies: list[float] = []
    errors: list[str] = []
    threads = [threading.Thread(target=client, args=(base, queries, seed, until, latencies, errors))
               for seed in seeds]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, errors


def percentile(sorted_values: list[float], pct: float) -> float:
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, max(0, round(pct / 100 * (len(sorted_values) - 1))))
    return sorted_values[k]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--content", type=Path, default=Path(os.environ.get("KB_CONTENT", "content")))
    ap.add_argument("--index", type=Path, default=None, help="index folder (default: a temporary one)")
    ap.add_argument("--url", default=None, help="a running server on loopback, e.g. http://127.0.0.1:8000")
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--procs", type=int, default=1, help="client processes the clients are spread over")
    ap.add_argument("--workers", default="1", help="`kb serve --workers` (N or auto) for the server it starts")
    args = ap.parse_args()
    if not 1 <= args.clients <= 200 or not 0 < args.seconds <= 300 or not 1 <= args.procs <= args.clients:
        ap.error("--clients must be 1..200, --seconds 0..300 and --procs 1..clients (the test is bounded)")

    proc = None
    tmp = None
    if args.url:
        host = urllib.parse.urlsplit(args.url).hostname or ""
        if host != "localhost" and not ipaddress.ip_address(host).is_loopback:
            ap.error("--url must be a loopback address (127.0.0.0/8, ::1, localhost)")
        base = args.url.rstrip("/")
    else:
        if args.index is None:
            tmp = tempfile.TemporaryDirectory(prefix="kb-load-")
            args.index = Path(tmp.name) / "index"
        proc, base = start_server(args.content, args.index, args.workers)
    try:
        queries = corpus_queries(args.content, 500, args.seed)
        until = time.monotonic() + args.seconds
        started = time.monotonic()
        seeds = [args.seed + i for i in range(args.clients)]
        if args.procs == 1:
            latencies, errors = run_clients(base, queries, seeds, until)
        else:
            import multiprocessing

            with multiprocessing.get_context("fork").Pool(args.procs) as pool:
                parts = pool.starmap(run_clients, [(base, queries, seeds[i::args.procs], until)
                                                   for i in range(args.procs)])
            latencies = [x for lat, _ in parts for x in lat]
            errors = [e for _, err in parts for e in err]
        elapsed = time.monotonic() - started
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=15)
        if tmp is not None:
            tmp.cleanup()

    lat = sorted(latencies)
    ms = [x * 1000 for x in lat]
    who = args.url or f"kb serve --workers {args.workers}"
    print(f"kb serve load: {who}, {args.clients} clients in {args.procs} process(es), {elapsed:.1f} s, "
          f"corpus {args.content}")
    print(f"requests {len(lat)}  errors {len(errors)}  throughput {len(lat) / elapsed:.1f} req/s")
    if ms:
        print(f"latency ms: p50 {percentile(ms, 50):.1f}  p90 {percentile(ms, 90):.1f}  "
              f"p99 {percentile(ms, 99):.1f}  max {ms[-1]:.1f}  mean {statistics.fmean(ms):.1f}")
    for e in errors[:10]:
        print("error:", e)
    return 1 if errors or not lat else 0


if __name__ == "__main__":
    sys.exit(main())
