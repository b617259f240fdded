"""The fenced Whoosh layer (kb/whoosh/): the fast path is the one in use, the stock path ranks the same, and kb's
scores are Whoosh's BM25F to 1e-9 (bm25s checks its scores against reference implementations the same way).

The site is indexed, then updated and partly deleted, so the searcher spans several segments, one with deletions.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from whoosh import query as wq
from whoosh.index import open_dir

from kb.analysis import TEXT_FIELDS
from kb.search import BM25_B, BM25_K1, FIELD_B, FIELD_WEIGHTS, engine_for, run, weighting
from kb.store import IndexStore
from kb.whoosh.engine import Engine, FastLeaf, Leaf
from tests.index_support import QUERIES, two_segment_index


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return two_segment_index(tmp_path_factory.mktemp("layer"))


@pytest.fixture
def searcher(index: Path) -> Iterator[Any]:
    gen = IndexStore(index).live()
    assert gen is not None
    s = open_dir(str(gen)).searcher(weighting=weighting())
    try:
        assert len(list(s.leaf_searchers())) > 1 and s.reader().has_deletions()
        yield s
    finally:
        s.close()


def test_the_fast_path_is_in_use(searcher: Any) -> None:
    run(searcher, "token")
    engine = engine_for(searcher)
    assert engine.fast and all(type(leaf) is FastLeaf for leaf in engine.leaves)


def test_the_stock_path_ranks_the_same(index: Path, searcher: Any) -> None:
    gen = IndexStore(index).live()
    assert gen is not None
    stock = open_dir(str(gen)).searcher(weighting=weighting())
    try:
        stock._kb_engine = Engine(stock, K1=BM25_K1, B=BM25_B, field_B=FIELD_B, fast=False)
        assert all(type(leaf) is Leaf for leaf in stock._kb_engine.leaves)
        for q in QUERIES:
            fast_hits = run(searcher, q, limit=20)
            stock_hits = run(stock, q, limit=20)
            assert fast_hits == stock_hits, q
        assert any(run(searcher, q).hits for q in QUERIES)
    finally:
        stock.close()


def reference_scores(searcher: Any, q: Any) -> dict[int, float]:
    """Whoosh's own BM25F scores for a query, every matching document."""
    m = q.matcher(searcher)
    out: dict[int, float] = {}
    while m.is_active():
        out[m.id()] = m.score()
        m.next()
    return out


def terms(searcher: Any, field: str, n: int = 25) -> list[str]:
    reader = searcher.reader()
    found = sorted(((reader.doc_frequency(field, t), t) for t in {t for _f, t in reader.terms_from(field, "")
                                                                     if _f == field}), reverse=True)
    picks = [t for _df, t in found[:n]] + [t for _df, t in found[-n:]]
    return [t.decode("utf-8") if isinstance(t, bytes) else t for t in picks]


@pytest.mark.parametrize("fast", [True, False], ids=["fast path", "stock path"])
def test_scores_equal_whoosh_bm25f(searcher: Any, fast: bool) -> None:
    engine = Engine(searcher, K1=BM25_K1, B=BM25_B, field_B=FIELD_B, fast=fast)
    checked = 0
    for field in TEXT_FIELDS:
        if field not in searcher.schema:
            continue
        words = terms(searcher, field)
        for t in words:
            ids, vals = engine.term_scores(field, t)
            expected = reference_scores(searcher, wq.Term(field, t))
            assert set(ids) == set(expected), (field, t)
            for d, v in zip(ids, vals, strict=True):
                assert abs(v - expected[d]) < 1e-9, (field, t, d, v, expected[d])
                checked += 1
        # A weighted sum over fields and terms, as a query clause scores (boosts as in search.FIELD_WEIGHTS).
        refs = [(field, t, FIELD_WEIGHTS[field]) for t in words[:3]] + [("body", t, 1.0) for t in terms(
            searcher, "body", 2)]
        got = engine.sum_scores(refs)
        expected = reference_scores(searcher, wq.Or([wq.Term(f, t, boost=b) for f, t, b in refs]))
        assert set(got) == set(expected)
        assert all(abs(got[d] - expected[d]) < 1e-9 for d in got)
    assert checked > 100
