"""Search-quality benchmark: index a content folder into a temporary index, run judged queries, print the measures.

    python -m benchmarks.quality QRELS [--content DIR] [-k 10] [--all]

QRELS is a TSV file (`#` comments): qid <TAB> query <TAB> target <TAB> grade, where target is `path#anchor` for a
section or `path#*` for any section of a page, and grade is 1 (somewhat), 2 (relevant) or 3 (the answer). The
measures and their counting rules are the same as the project's external scorer (kb-eval): a section repeated in
the hit list counts once, a page target is credited once per page; nDCG@k, MRR, P@1 and Recall@k.

Runs in-process through the public API (`KnowledgeBase.search`), so it measures what users get, and it is fast
enough to rerun after every ranking change (docs/ranking.md records the numbers).
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from kb import KnowledgeBase
from kb.errors import KbError

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Qrels:
    queries: dict[str, str]
    judgments: dict[str, dict[str, int]]


@dataclass(frozen=True)
class QueryScore:
    qid: str
    query: str
    ndcg: float
    rr: float
    p1: float
    recall: float
    top: tuple[str, ...]
    missed: tuple[str, ...]


@dataclass(frozen=True)
class Report:
    scores: tuple[QueryScore, ...]
    index_seconds: float
    search_ms: float

    def mean(self, name: str) -> float:
        return sum(getattr(s, name) for s in self.scores) / max(1, len(self.scores))

    def summary(self, k: int = 10) -> str:
        return (f"nDCG@{k}={self.mean('ndcg'):.3f} MRR={self.mean('rr'):.3f} P@1={self.mean('p1'):.3f} "
                f"R@{k}={self.mean('recall'):.3f} queries={len(self.scores)} "
                f"index_s={self.index_seconds:.2f} search_ms={self.search_ms:.1f}")


def load_qrels(path: Path) -> Qrels:
    """Read a qrels file; a malformed line is an error naming the file and line."""
    queries: dict[str, str] = {}
    judgments: dict[str, dict[str, int]] = defaultdict(dict)
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        cols = line.split("\t")
        if len(cols) != 4 or not cols[3].strip().isdigit() or "#" not in cols[2]:
            raise SystemExit(f"{path}:{n}: expected 'qid<TAB>query<TAB>path#anchor<TAB>grade', got {line!r}")
        qid, query, target, grade = cols
        queries[qid] = query
        judgments[qid][target] = int(grade)
    return Qrels(queries, dict(judgments))


def score_query(qid: str, query: str, hits: list[tuple[str, str]], judged: dict[str, int], k: int) -> QueryScore:
    seen: set[tuple[str, str]] = set()
    gains: list[int] = []
    labels: list[str] = []
    for path, anchor in hits:
        if (path, anchor) in seen:
            continue
        seen.add((path, anchor))
        g = judged.get(f"{path}#{anchor}", 0)
        star = judged.get(f"{path}#*", 0)
        if star and (path, "*") not in seen:
            seen.add((path, "*"))
            g = max(g, star)
        gains.append(g)
        labels.append(f"{path}#{anchor}")
    gains, labels = gains[:k], labels[:k]
    dcg = sum((2 ** g - 1) / math.log2(i + 2) for i, g in enumerate(gains))
    ideal = sorted(judged.values(), reverse=True)[:k]
    idcg = sum((2 ** g - 1) / math.log2(i + 2) for i, g in enumerate(ideal))
    rr = next((1 / (i + 1) for i, g in enumerate(gains) if g > 0), 0.0)
    found = sum(1 for g in gains if g > 0)
    missed = []
    for target in judged:
        path, _, anchor = target.partition("#")
        hit = any(lab.partition("#")[0] == path for lab in labels) if anchor == "*" else target in labels
        if not hit:
            missed.append(target)
    return QueryScore(qid, query, dcg / idcg if idcg else 0.0, rr, 1.0 if gains and gains[0] > 0 else 0.0,
                      min(1.0, found / max(1, len(judged))), tuple(labels[:3]), tuple(missed))


def evaluate(content: Path, qrels: Qrels, *, k: int = 10, mode: str | None = None, index: Path | None = None,
             model: str | None = None, via_artifact: bool = False) -> Report:
    """Index (into `index`, kept for the next run, or a temporary folder) and run every judged query in `mode`;
    `via_artifact`: on a copy shipped through `kb index export`/`import` and served read-only, as a replica would."""
    with tempfile.TemporaryDirectory(prefix="kb-quality-") as tmp:
        kb = KnowledgeBase(content, index or Path(tmp) / "index", model=model)
        started = time.perf_counter()
        kb.reindex(full=index is None)
        index_seconds = time.perf_counter() - started
        if via_artifact:
            kb = _through_artifact(kb, Path(tmp))
        kb.search("warm up", limit=1, mode=mode)
        scores = []
        spent = 0.0
        for qid, query in qrels.queries.items():
            started = time.perf_counter()
            result = kb.search(query, limit=k, mode=mode)
            spent += time.perf_counter() - started
            hits = [(h.path, h.anchor) for h in result.hits]
            scores.append(score_query(qid, query, hits, qrels.judgments[qid], k))
        kb.close()
    return Report(tuple(scores), index_seconds, 1000 * spent / max(1, len(scores)))


def _through_artifact(kb: KnowledgeBase, tmp: Path) -> KnowledgeBase:
    from kb.artifact import export_generation, import_generation
    from kb.serving import ReadOnlyKnowledgeBase
    from kb.store import IndexStore

    kb.close()
    export_generation(kb.store, tmp / "index.tar.gz")
    import_generation(IndexStore(tmp / "replica"), tmp / "index.tar.gz")
    return ReadOnlyKnowledgeBase(tmp / "no-content", tmp / "replica")


def format_misses(report: Report) -> str:
    """One line per query that was not perfect: its measures, what came first, and the judged targets missed."""
    lines = []
    for s in report.scores:
        if s.ndcg >= 0.999:
            continue
        lines.append(f"{s.qid:6s} nDCG={s.ndcg:.2f} RR={s.rr:.2f} {s.query!r}")
        lines.append(f"         top: {', '.join(s.top) or '(nothing)'}")
        if s.missed:
            lines.append(f"         missed: {', '.join(s.missed)}")
    return "\n".join(lines) if lines else "(every query perfect)"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.quality", description=__doc__.split("\n\n")[0])
    ap.add_argument("qrels", nargs="*", type=Path, help="qrels files (default: the project's own, benchmarks/qrels/)")
    ap.add_argument("--content", type=Path, help="content folder the qrels refer to (default: from the qrels file: "
                                                  "a '# content: DIR' line, relative to the project)")
    ap.add_argument("-k", type=int, default=10)
    ap.add_argument("--via-artifact", action="store_true",
                    help="search a replica: the index exported, imported elsewhere and served read-only")
    ap.add_argument("--modes", default="default",
                    help="comma-separated search modes to measure, e.g. lexical,semantic,hybrid (kb[semantic] and a "
                         "model for the last two); default: kb's default")
    ap.add_argument("--model", help="embedding model (folder or name), as kb --model")
    ap.add_argument("--index-root", type=Path,
                    help="keep each content's index under this folder and update it next time (vectors are "
                         "computed once); default: a fresh temporary index per run")
    args = ap.parse_args(argv)
    files = args.qrels or sorted((ROOT / "benchmarks" / "qrels").glob("*.tsv"))
    for qpath in files:
        content = args.content or _content_of(qpath)
        if content is None or not content.is_dir():
            print(f"{qpath}: no content folder; pass --content DIR or add a '# content: DIR' line", file=sys.stderr)
            return 2
        index = args.index_root / content.name if args.index_root else None
        for mode in args.modes.split(","):
            try:
                report = evaluate(content, load_qrels(qpath), k=args.k, mode=None if mode == "default" else mode,
                                  index=index, model=args.model,
                                  via_artifact=args.via_artifact)
            except KbError as exc:
                print(f"{qpath}: {exc}", file=sys.stderr)
                return 2
            print(f"== {qpath.name} over {content} ({mode})")
            print(format_misses(report))
            print(report.summary(args.k))
    return 0


def _content_of(qpath: Path) -> Path | None:
    for line in qpath.read_text(encoding="utf-8").splitlines():
        if line.startswith("# content:"):
            return (ROOT / line.split(":", 1)[1].strip()).resolve()
    return None


if __name__ == "__main__":
    sys.exit(main())
