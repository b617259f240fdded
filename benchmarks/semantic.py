"""Semantic-extra figures: cold `kb search` lexical vs hybrid (fresh processes), warm query time per mode, embedding
throughput and the size of the vectors.

    python -m benchmarks.semantic --content DIR [--index DIR] [--repeats 7]

Reuses --index when given (its vectors are computed once; the first run embeds every passage). Prints a Markdown
block for docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

QUERIES = ["where is the headquarters", "forward calls when busy", "oauth scopes", "GetNetworkInfoForSubscriber",
           "how do I listen for events", "metrics prometheus", "send mms", "revoke consent"]


def kb_cmd(content: Path, index: Path, model: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "kb", "--content", str(content), "--index", str(index), "--model", model, *args]


def cold(content: Path, index: Path, model: str, mode: str, repeats: int) -> float:
    times = []
    for i in range(repeats):
        q = QUERIES[i % len(QUERIES)]
        started = time.perf_counter()
        subprocess.run(kb_cmd(content, index, model, "search", "--no-refresh", "--mode", mode, "--json", q),
                       capture_output=True, check=False)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.semantic")
    ap.add_argument("--content", type=Path, required=True)
    ap.add_argument("--index", type=Path)
    ap.add_argument("--model", default="all-MiniLM-L6-v2")
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args(argv)
    from kb import KnowledgeBase

    with tempfile.TemporaryDirectory(prefix="kb-sem-") as tmp:
        index = args.index or Path(tmp) / "index"
        kb = KnowledgeBase(args.content, index, model=args.model)
        report = kb.reindex()
        meta = json.loads((kb.store.live() / "vectors.json").read_text(encoding="utf-8"))  # type: ignore[operator]
        passages = len(meta["docs"])
        vec_mb = sum((kb.store.live() / n).stat().st_size for n in ("vectors.npy", "vectors.json")) / 1e6  # type: ignore[operator]
        all_mb = sum(p.stat().st_size for p in kb.store.live().iterdir() if p.is_file()) / 1e6  # type: ignore[union-attr]
        warm = {}
        for mode in ("lexical", "semantic", "hybrid"):
            kb.search("warm up", mode=mode)
            started = time.perf_counter()
            for q in QUERIES:
                kb.search(q, mode=mode)
            warm[mode] = 1000 * (time.perf_counter() - started) / len(QUERIES)
        kb.close()
        lexical = cold(args.content, index, "none", "lexical", args.repeats)
        hybrid = cold(args.content, index, args.model, "hybrid", args.repeats)
    rate = f"{report.embedded / report.embed_seconds:.1f}" if report.embedded and report.embed_seconds else "n/a"
    load = os.getloadavg()[0]
    print(f"Semantic extra on {args.content.name} ({passages} passages), model {args.model}, "
          f"load average {load:.1f} on {os.cpu_count()} cores:\n")
    print("| measure | value |\n|---|---|")
    print(f"| cold `kb search` lexical (no model), median of {args.repeats} | {lexical:.3f} s |")
    print(f"| cold `kb search` hybrid, median of {args.repeats} | {hybrid:.3f} s (+{hybrid - lexical:.3f} s) |")
    for mode, ms in warm.items():
        print(f"| warm query, {mode} | {ms:.1f} ms |")
    print(f"| embedding this run | {report.embedded} passages in {report.embed_seconds:.1f} s ({rate}/s) |")
    print(f"| vectors in the index | {vec_mb:.2f} MB of {all_mb:.2f} MB ({passages} x 384 float16 + ids/hashes) |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
