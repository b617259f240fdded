"""Analysis and query-path behaviours behind search quality: identifier segments, stop words, the benchmark."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.quality import evaluate, load_qrels, score_query
from kb.analysis import ANALYZER
from kb.search import analyse

ROOT = Path(__file__).resolve().parent.parent


def terms(text: str) -> list[str]:
    return [t.text for t in ANALYZER(text)]


def test_dotted_identifier_is_indexed_whole_by_parts_and_by_compound_segment() -> None:
    got = terms("mms.send.to_subscriber")
    assert {"mms", "send", "subscrib", "to_subscrib", "mms.send.to_subscrib"} <= set(got)


def test_query_identifier_keeps_stop_word_parts_out_of_the_required_terms() -> None:
    parts, wholes = analyse("to_subscriber")
    assert parts == ("subscrib",) and wholes == ("to_subscrib",)
    parts, wholes = analyse("GetNetworkInfoForSubscriber")
    assert parts == ("get", "network", "info", "subscrib") and wholes == ("getnetworkinfoforsubscrib",)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_analyse_never_fails_and_parts_are_index_terms(text: str) -> None:
    parts, wholes = analyse(text)
    indexed = set(terms(text))
    assert set(parts) <= indexed and set(wholes) <= indexed


def test_scoring_counts_a_repeated_section_once_and_a_page_target_once() -> None:
    judged = {"a.md#x": 3, "b.md#*": 2}
    s = score_query("q", "q", [("a.md", "x"), ("a.md", "x"), ("b.md", "1"), ("b.md", "2")], judged, 10)
    assert s.ndcg == 1.0 and s.rr == 1.0 and s.p1 == 1.0 and s.recall == 1.0
    miss = score_query("q", "q", [("c.md", "y")], judged, 10)
    assert miss.ndcg == 0.0 and set(miss.missed) == {"a.md#x", "b.md#*"}


def test_project_qrels_meet_the_quality_bar() -> None:
    qrels = load_qrels(ROOT / "benchmarks" / "qrels" / "fixtures.tsv")
    report = evaluate(ROOT / "tests" / "fixtures" / "quality" / "docs", qrels)
    assert report.mean("ndcg") >= 0.9 and report.mean("p1") >= 0.9
