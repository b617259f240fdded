"""Warm API search latency on an existing index, for iterating on the search path without a full benchmark run.

Why: ``benchmarks/run.py`` builds sites and indexes from scratch (minutes to an hour); this times
``KnowledgeBase.search`` the same way (`run.warm_main`: one process, index open, a warm-up query, each query once)
on a site and index that already exist, prints wall and CPU percentiles and the slowest queries, and can profile
the run or dump every result so that two versions of kb can be compared for identical output.

Usage::

    KB_MODEL=none .venv/bin/python benchmarks/warm.py SITE INDEX QUERIES.json [--rounds 3] [--profile OUT.prof]
        [--dump OUT.json] [--exhaustive] [--dense auto|on|off] [--ab | --ab-impacts | --ab-dense]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import percentile  # noqa: E402


def result_json(result: Any) -> dict[str, Any]:
    """What must not change between two versions: every hit's identity and score, the count, the suggestion."""
    return {"total": result.total, "suggestion": result.suggestion, "fallback": result.fallback,
            "hits": [[h.path, h.anchor, h.part, h.score, h.snippet] for h in result.hits]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("site")
    ap.add_argument("index")
    ap.add_argument("queries")
    ap.add_argument("--rounds", type=int, default=1, help="time every query this many times; keep each one's best")
    ap.add_argument("--profile", help="write a cProfile of the timed queries here")
    ap.add_argument("--dump", help="write every query's result (hits, scores, total) here as JSON")
    ap.add_argument("--exhaustive", action="store_true", help="score every posting (no block skipping)")
    ap.add_argument("--ab", action="store_true",
                    help="paired A/B: each query on a lean and an exhaustive searcher in turn (same load for both)")
    ap.add_argument("--ab-impacts", action="store_true",
                    help="paired A/B of the lean path with and without the segments' impacts files")
    ap.add_argument("--ab-dense", action="store_true",
                    help="paired A/B of the lean path with numpy scoring (kb/dense.py) for every query and without")
    ap.add_argument("--dense", choices=["auto", "on", "off"], default="auto",
                    help="numpy scoring: by the query's size (search.DENSE None, the default), always, never")
    ap.add_argument("--limit", type=int, default=10)
    ap.add_argument("--slowest", type=int, default=8)
    args = ap.parse_args(argv)
    os.environ.setdefault("KB_MODEL", "none")

    from kb import KnowledgeBase
    from kb import search as kb_search

    queries = json.loads(Path(args.queries).read_text(encoding="utf-8"))
    kb_search.DENSE = {"auto": None, "on": True, "off": False}[args.dense]
    if args.ab or args.ab_impacts or args.ab_dense:
        return paired(args, queries)
    if args.exhaustive:
        kb_search.EXHAUSTIVE = True
    kb = KnowledgeBase(args.site, args.index)
    kb.search(queries[0], limit=args.limit)
    wall = [float("inf")] * len(queries)
    cpu = [float("inf")] * len(queries)
    dumped: dict[str, Any] = {}
    prof = None
    if args.profile:
        import cProfile

        prof = cProfile.Profile()
    for _ in range(args.rounds):
        for i, q in enumerate(queries):
            if prof:
                prof.enable()
            start, start_cpu = time.perf_counter(), time.process_time()
            res = kb.search(q, limit=args.limit)
            w, c = time.perf_counter() - start, time.process_time() - start_cpu
            if prof:
                prof.disable()
            wall[i], cpu[i] = min(wall[i], w), min(cpu[i], c)
            dumped[q] = result_json(res)
    if prof and args.profile:
        prof.dump_stats(args.profile)
    if args.dump:
        Path(args.dump).write_text(json.dumps(dumped, indent=0), encoding="utf-8")
    ms = 1000.0
    print(f"{len(queries)} queries, rounds {args.rounds}, load {os.getloadavg()[0]:.1f}")
    for name, values in (("wall", wall), ("cpu", cpu)):
        p = [percentile(values, x) * ms for x in (50, 95, 99)]
        mean = sum(values) / len(values) * ms
        print(f"{name:4s} p50 {p[0]:7.1f}  p95 {p[1]:7.1f}  p99 {p[2]:7.1f}  mean {mean:7.1f} ms")
    slow = sorted(range(len(queries)), key=lambda i: -cpu[i])[:args.slowest]
    for i in slow:
        print(f"  cpu {cpu[i] * ms:7.1f} ms  wall {wall[i] * ms:7.1f} ms  {queries[i]!r}")
    return 0


def paired(args: argparse.Namespace, queries: list[str]) -> int:
    """Each query timed on two searchers, lean and exhaustive, one right after the other (the order alternating),
    so that both see the same machine load: a fair comparison on a shared machine. Results must be identical.
    With --ab-impacts the reference ("exhaustive" in the table) is the lean path reading every list from the
    blocks instead of the impacts files; with --ab-dense it is the lean path scoring in dicts (search.DENSE False)
    and "lean" scores with numpy for every query (DENSE True)."""
    from kb import KnowledgeBase
    from kb import search as kb_search

    kbs = {False: KnowledgeBase(args.site, args.index), True: KnowledgeBase(args.site, args.index)}
    reference = "IMPACTS" if args.ab_impacts else "DENSE" if args.ab_dense else "EXHAUSTIVE"

    def use(ref: bool) -> None:
        setattr(kb_search, reference, ref if reference == "EXHAUSTIVE" else not ref)
        if args.ab_dense:
            kb_search.DENSE = not ref

    held: list[int] = []  # --ab-dense: postings in the lists of the query's searches (both arms count them)
    postings: list[int] = []
    if args.ab_dense:
        choose = kb_search._vector

        def counting(engine: Any, plans: Any) -> Any:
            held.append(sum(len(engine.postings(f, t)[0]) for f, t in kb_search._scored_refs(plans)))
            return choose(engine, plans)

        kb_search._vector = counting
    for exhaustive, kb in kbs.items():
        use(exhaustive)
        kb.search(queries[0], limit=args.limit)
    cpu: dict[bool, list[float]] = {False: [], True: []}
    wall: dict[bool, list[float]] = {False: [], True: []}
    differ = 0
    for i, q in enumerate(queries):
        held.clear()
        got = {}
        for exhaustive in ((False, True) if i % 2 else (True, False)):
            use(exhaustive)
            start, start_cpu = time.perf_counter(), time.process_time()
            got[exhaustive] = result_json(kbs[exhaustive].search(q, limit=args.limit))
            wall[exhaustive].append(time.perf_counter() - start)
            cpu[exhaustive].append(time.process_time() - start_cpu)
        differ += got[False] != got[True]
        postings.append(max(held, default=0))
    use(False)
    ms = 1000.0
    if args.ab_impacts:
        print("reference (\"exhaustive\" below): lean path without the impacts files")
    if args.ab_dense:
        print("lean path scoring in dicts (search.DENSE False) and with numpy for every query (DENSE True)")
    print(f"{len(queries)} queries paired, load {os.getloadavg()[0]:.1f}, results differing: {differ}")
    names = ("dicts", "numpy") if args.ab_dense else ("exhaustive", "lean")
    for name, data in (("cpu", cpu), ("wall", wall)):
        for exhaustive in (True, False):
            v = data[exhaustive]
            p = [percentile(v, x) * ms for x in (50, 95, 99)]
            label = names[0] if exhaustive else names[1]
            print(f"{name:4s} {label:10s} p50 {p[0]:7.1f}  p95 {p[1]:7.1f}  p99 {p[2]:7.1f}  "
                  f"mean {sum(v) / len(v) * ms:7.1f} ms")
        ratios = sorted(a / b for a, b in zip(data[False], data[True], strict=True) if b > 0)
        print(f"{name:4s} {names[1]}/{names[0]}: total {sum(data[False]) / sum(data[True]):.2f}, "
              f"median per query {ratios[len(ratios) // 2]:.2f}")
    if args.ab_dense:
        by_size(postings, cpu[True], cpu[False])
    return 0 if not differ else 1


def by_size(postings: list[int], dicts: list[float], numpy: list[float]) -> None:
    """CPU of both ways of scoring by the postings in a query's lists: where numpy starts to pay (search.DENSE_MIN)
    and how much it saves per posting (against its import, search.DENSE_IMPORT_MIN)."""
    bands = [0, 1_000, 2_000, 5_000, 20_000, 100_000, 300_000, 10**12]
    for lo, hi in zip(bands, bands[1:], strict=False):
        rows = [i for i, n in enumerate(postings) if lo <= n < hi]
        if not rows:
            continue
        a, b = sum(dicts[i] for i in rows) * 1000, sum(numpy[i] for i in rows) * 1000
        n = sum(postings[i] for i in rows)
        top = f"{hi:,}" if hi < bands[-1] else ""
        print(f"postings {lo:>7,}-{top:<9} {len(rows):3d} queries: cpu dicts {a / len(rows):6.1f}  numpy "
              f"{b / len(rows):6.1f} ms each, saved {(a - b) / max(n, 1) * 1000:6.3f} ms per 1,000 postings")


if __name__ == "__main__":
    raise SystemExit(main())
