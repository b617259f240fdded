"""The lean scoring path (kb/whoosh/engine.py: block pickles cut before the positions, positions read per block for
the documents checked; the candidate pool from the k-th best score) gives exactly what the reference path
(`search.EXHAUSTIVE`: whole blocks, heapq.nlargest) gives: same hits, order, scores, totals and suggestions on the
benchmark's 200 queries over a 400-page site from its generator (`benchmarks/warm.py --ab` checks the
1,000- and 10,000-page sites), after the same edits, additions and deletions the
benchmark makes (so that a segment with deleted documents is read too)."""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from whoosh.reading import TermNotFound

from benchmarks import gensite
from kb import KnowledgeBase
from kb import search as kb_search
from kb.query import parse
from kb.search import best_docs, engine_for
from kb.whoosh.engine import Engine, FastLeaf, Leaf, lean_block, live_runs

PAGES = 400  # common words span dozens of blocks, deleted passages included; 1,000 pages cost CI ~1 min more
QUERIES = 200


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[KnowledgeBase, list[str]]]:
    root: Path = tmp_path_factory.mktemp("exhaustive")
    content = root / "site"
    gensite.generate_site(content, PAGES, 0)
    queries = gensite.make_queries(content, QUERIES, 0)
    kb = KnowledgeBase(content, root / "index")
    kb.reindex()
    gensite.edit_page(content, 0)
    gensite.add_pages(content, 10, 0)
    gensite.delete_pages(content, 10, 0)
    kb.reindex()
    yield kb, queries
    kb.close()


def _results(kb: KnowledgeBase, queries: list[str], *, exhaustive: bool) -> list[Any]:
    kb_search.EXHAUSTIVE = exhaustive
    try:
        out = []
        for q in queries:
            r = kb.search(q, limit=10)
            out.append((q, r.total, r.suggestion, r.fallback,
                        [(h.path, h.anchor, h.part, h.score, h.snippet, h.highlights) for h in r.hits]))
        return out
    finally:
        kb_search.EXHAUSTIVE = False


@pytest.fixture(scope="module")
def reference(site: tuple[KnowledgeBase, list[str]]) -> list[Any]:
    kb, queries = site
    got = _results(kb, queries, exhaustive=True)
    assert sum(1 for r in got if r[4]) > QUERIES * 0.8  # the comparison is about real hit lists
    return got


@pytest.mark.parametrize("dense", [False, True], ids=["dicts", "numpy"])
def test_lean_path_ranks_exactly_as_exhaustive_scoring(site: tuple[KnowledgeBase, list[str]], reference: list[Any],
                                                       dense: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """Both ways of scoring the lean path (kb/dense.py with numpy for every query; the dicts) equal the reference."""
    kb, queries = site
    if dense:
        pytest.importorskip("numpy")
    monkeypatch.setattr(kb_search, "DENSE", dense)
    used = 0
    real = kb_search._dense_pool

    def counting(*args: Any) -> Any:
        nonlocal used
        used += 1
        return real(*args)

    monkeypatch.setattr(kb_search, "_dense_pool", counting)
    lean = _results(kb, queries, exhaustive=False)
    assert used > QUERIES * 0.8 if dense else used == 0
    for got, want in zip(lean, reference, strict=True):
        assert got == want, got[0]


def test_numpy_bm25_has_the_loops_bits(site: tuple[KnowledgeBase, list[str]]) -> None:
    """kb.dense.bm25 over a whole list gives the bits of Engine.term_scores' loop, on real lists and lengths."""
    pytest.importorskip("numpy")
    from kb.dense import bm25

    kb, _ = site
    compared = 0

    def check(searcher: Any) -> None:
        nonlocal compared
        made = [Engine(searcher, K1=kb_search.BM25_K1, B=kb_search.BM25_B, field_B=kb_search.FIELD_B)
                for _ in range(2)]
        for field in ("title", "heading", "crumbs", "body", "code", "meta"):
            for term in ("return", "object", "file", "function", "self", "class", "data"):
                ids, loop = made[0].term_scores(field, term)
                same_ids, vector = made[1].term_scores(field, term, vector=bm25)
                assert ids == same_ids and [v.hex() for v in loop] == [v.hex() for v in vector], (field, term)
                compared += len(ids)

    kb._with_reader(lambda r: check(r.searcher))
    assert compared > 10_000


def test_numpy_is_chosen_by_the_postings_a_query_reads(site: tuple[KnowledgeBase, list[str]],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """search.DENSE None: numpy from DENSE_MIN postings once imported or on a searcher that has searched before,
    from DENSE_IMPORT_MIN in a process's first search; DENSE True or False decide alone."""
    pytest.importorskip("numpy")
    kb, _ = site
    monkeypatch.setattr(kb_search, "DENSE", None)
    monkeypatch.setattr(kb_search, "_numpy_imported", lambda: False)

    def check(searcher: Any) -> None:
        engine = Engine(searcher, K1=kb_search.BM25_K1, B=kb_search.BM25_B, field_B=kb_search.FIELD_B)
        rare, common = (kb_search.QueryBuilder(engine).build(parse(q)) for q in ("zzzz", "return value"))
        n_rare, n_common = (sum(len(engine.postings(f, t)[0]) for f, t in kb_search._scored_refs(p))
                            for p in (rare, common))
        assert n_rare < 100 < n_common
        monkeypatch.setattr(kb_search, "DENSE_MIN", n_rare + 1)
        monkeypatch.setattr(kb_search, "DENSE_IMPORT_MIN", n_common)

        def chosen() -> list[bool]:
            return [kb_search._vector(engine, p) is not None for p in (rare, common)]

        assert chosen() == [False, True]
        monkeypatch.setattr(kb_search, "DENSE_IMPORT_MIN", n_common + 1)
        assert chosen() == [False, False]
        engine.searched = 1  # a long-lived process: it pays to import numpy
        assert chosen() == [False, True]
        engine.searched = 0
        monkeypatch.setattr(kb_search, "_numpy_imported", lambda: True)
        assert chosen() == [False, True]
        for always in (True, False):
            monkeypatch.setattr(kb_search, "DENSE", always)
            assert chosen() == [always, always]

    kb._with_reader(lambda r: check(r.searcher))


def test_a_first_search_does_not_import_numpy_for_a_quoted_phrase(site: tuple[KnowledgeBase, list[str]],
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A quoted phrase's time goes to reading positions, which numpy does not shorten: in a process's first search
    its lists do not count towards DENSE_IMPORT_MIN (the import cost ~0.13 CPU-s more than it saved on the
    benchmark's phrases at 10,000 pages); the same words unquoted, or a later search, still count them."""
    pytest.importorskip("numpy")
    kb, _ = site
    monkeypatch.setattr(kb_search, "DENSE", None)
    monkeypatch.setattr(kb_search, "_numpy_imported", lambda: False)

    def check(searcher: Any) -> None:
        engine = Engine(searcher, K1=kb_search.BM25_K1, B=kb_search.BM25_B, field_B=kb_search.FIELD_B)
        phrase, words = (kb_search.QueryBuilder(engine).build(parse(q)) for q in ('"return value"', "return value"))
        monkeypatch.setattr(kb_search, "DENSE_IMPORT_MIN", 100)
        monkeypatch.setattr(kb_search, "DENSE_MIN", 100)
        assert [kb_search._vector(engine, p) is not None for p in (phrase, words)] == [False, True]
        engine.searched = 1
        assert kb_search._vector(engine, phrase) is not None

    kb._with_reader(lambda r: check(r.searcher))


def test_the_looser_queries_of_a_first_search_are_not_scored(site: tuple[KnowledgeBase, list[str]],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A search with no hit tries looser queries (tips) by which documents they find, without scoring them: no
    choice of numpy for them (the unquoted words of a phrase that found nothing once imported numpy in a one-shot
    `kb search`), and the answer counts once."""
    kb, _ = site
    seen: list[int] = []
    choose = kb_search._vector

    def recording(engine: Engine, plans: Any) -> Any:
        seen.append(engine.searched)
        return choose(engine, plans)

    monkeypatch.setattr(kb_search, "_vector", recording)

    def check(searcher: Any) -> None:
        searcher._kb_engine = None
        result = kb_search.run(searcher, '"return zzzzqq"', limit=5)
        assert not result.hits and result.tips
        assert seen == [0]  # the search itself, not its tips
        assert kb_search.engine_for(searcher).searched == 1

    kb._with_reader(lambda r: check(r.searcher))


def test_lean_blocks_read_the_ids_and_weights_whoosh_reads(site: tuple[KnowledgeBase, list[str]]) -> None:
    kb, _ = site
    checked = 0

    def check(searcher: Any) -> None:
        nonlocal checked
        engine = engine_for(searcher)
        assert engine.lean and engine.fast
        for leaf in engine.leaves:
            assert isinstance(leaf, FastLeaf)
            for field, term in (("body", "return"), ("crumbs", "class"), ("exact", "returns"), ("title", "object"),
                                ("heading", "function"), ("code", "self")):
                for lean in (True, False):
                    try:
                        m, ref = leaf.matcher(field, term), leaf.matcher(field, term)
                    except TermNotFound:  # a segment without the term
                        continue
                    while m.is_active():
                        if lean:
                            lean_block(m)
                        ids = m._ids if m._ids is not None else None
                        ref._read_ids()
                        ref._read_weights()
                        if ids is not None:
                            assert ids == ref._ids and list(m._weights) == list(ref._weights)
                            checked += 1
                        m._next_block()
                        ref._next_block()

    kb._with_reader(lambda r: check(r.searcher))
    assert checked > 50


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.integers(0, 500), st.sampled_from([0.5, 1.0, 1.5, 2.0, 2.5]), max_size=60),
       st.integers(1, 40))
def test_best_docs_picks_the_same_documents_as_nlargest(scores: dict[int, float], k: int) -> None:
    assert set(best_docs(scores, k)) == set(heapq.nlargest(k, scores, key=scores.__getitem__))


def test_fast_decode_drops_deleted_passages_as_whoosh_does(site: tuple[KnowledgeBase, list[str]]) -> None:
    """The fast path's posting lists (deleted documents cut out by runs) equal Whoosh's own matcher's, which
    filters deletions itself, in a segment with deleted passages."""
    kb, _ = site
    seen_deleted = 0

    def check(searcher: Any) -> None:
        nonlocal seen_deleted
        for leaf in engine_for(searcher).leaves:
            stock = Leaf(leaf.reader, leaf.off)
            seen_deleted += len(leaf.reader.deleted_docs_set)
            for field, term in (("body", "return"), ("body", "file"), ("title", "object"), ("code", "self")):
                try:
                    got: tuple[list[int], list[float], list[Any]] = ([], [], [])
                    leaf.decode(leaf.matcher(field, term), *got)
                    want: tuple[list[int], list[float], list[Any]] = ([], [], [])
                    stock.decode(leaf.reader.postings(field, term), *want)
                except TermNotFound:
                    continue
                assert got == want, (field, term)

    kb._with_reader(lambda r: check(r.searcher))
    assert seen_deleted > 0


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 400), unique=True).map(sorted), st.frozensets(st.integers(0, 400)))
def test_live_runs_keep_exactly_the_ids_not_deleted(ids: list[int], deleted: frozenset[int]) -> None:
    kept = [ids[i] for a, b in live_runs(ids, deleted) for i in range(a, b)]
    assert kept == [d for d in ids if d not in deleted]


def test_memoized_key_search_finds_what_whooshs_finds(site: tuple[KnowledgeBase, list[str]]) -> None:
    """Typo correction and prefix expansion walk the term index with `closest_key_pos`; the engine's memoized
    copy of that binary search must land on the same slot for every key, present or not."""
    kb, _ = site
    checked = 0

    def check(searcher: Any) -> None:
        nonlocal checked
        engine_for(searcher)
        for leaf, _off in searcher.leaf_searchers():
            tindex = leaf.reader()._terms._tindex
            assert "closest_key_pos" in vars(tindex)  # installed when the engine was made
            whoosh = type(tindex).closest_key_pos.__get__(tindex)
            keys = [k for k, _v in zip(tindex.keys(), range(3000), strict=False)]
            probes = [b"", b"\x00", b"\xff" * 4] + keys + [k + b"\x00" for k in keys] + [k[:-1] for k in keys if k]
            for key in probes:
                assert tindex.closest_key_pos(key) == whoosh(key), key
                checked += 1

    kb._with_reader(lambda r: check(r.searcher))
    assert checked > 3000


@settings(max_examples=300, deadline=None)
@given(st.lists(st.dictionaries(st.integers(0, 60), st.just(1.0), max_size=40), min_size=1, max_size=4))
def test_phrase_candidates_are_the_documents_in_every_list_in_first_order(per_token: list[dict[int, float]]) -> None:
    assert kb_search._in_all(per_token) == [d for d in per_token[0] if all(d in o for o in per_token[1:])]


def test_a_phrase_candidates_scores_are_the_whole_lists_to_the_bit(site: tuple[KnowledgeBase, list[str]]) -> None:
    """Engine.scores_of (a quoted phrase scores only the documents holding every token) gives the very floats that
    scoring the whole list gives, for a few documents of a long list and for most of a short one, any boost."""
    kb, _ = site
    checked = 0

    def check(searcher: Any) -> None:
        nonlocal checked
        for field, term in (("body", "return"), ("title", "object"), ("heading", "function"), ("body", "value")):
            for boost in (1.0, 0.7, 3.0):
                searcher._kb_engine = None  # a fresh engine: nothing scored yet
                fresh = engine_for(searcher)
                ids = list(fresh.doc_ids(field, term))
                if len(ids) < 40:
                    continue
                for docs in (ids[::37], ids[: len(ids) // 2]):  # the per-document path, then the whole-list one
                    ours = fresh.scores_of(docs, field, term, boost)
                    searcher._kb_engine = None
                    whole = engine_for(searcher).sum_scores([(field, term, boost)])
                    assert list(ours) == docs
                    assert all(ours[d].hex() == whole[d].hex() for d in docs), (field, term, boost)
                    checked += 1
                    searcher._kb_engine = None
                    fresh = engine_for(searcher)

    kb._with_reader(lambda r: check(r.searcher))
    assert checked >= 12


def _tip_queries(words: list[str]) -> st.SearchStrategy[str]:
    """Queries of the site's words and absent ones, with every operator a tip may keep or drop."""
    word = st.sampled_from(words + ["zzqxv", "qqzzy"])
    clause = st.one_of(word, word.map(lambda w: f"-{w}"), word.map(lambda w: f"{w} -{w}"),
                       word.map(lambda w: f"{w[:3]}*"), st.tuples(word, word).map(lambda t: f'"{t[0]} {t[1]}"'),
                       word.map(lambda w: f"title:{w}"),
                       st.sampled_from(["path:guides/", "path:zz/", "tag:api", "page:intro"]))
    clauses = st.lists(clause, min_size=1, max_size=4).map(" ".join)
    return st.one_of(clauses, st.tuples(clauses, clauses).map(" OR ".join))


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_finds_any_says_whether_a_search_has_a_hit(site: tuple[KnowledgeBase, list[str]], data: st.DataObject
                                                  ) -> None:
    """A tip is kept when `finds_any` says its query has a hit, which must be what searching it would show."""
    kb, queries = site
    words = sorted({w.strip('"*') for q in queries for w in q.split()})[::20]  # few: words meet in a query
    query = data.draw(_tip_queries(words))
    kb._with_reader(lambda r: _same_answer(r.searcher, query))


def test_finds_any_answers_both_ways_on_the_benchmark_queries(site: tuple[KnowledgeBase, list[str]]) -> None:
    kb, queries = site
    def reversed_phrase(q: str) -> str:
        return '"' + " ".join(reversed(q.replace('"', "").split())) + '"'

    variants = [v for q in queries[:40]
                for v in (q, reversed_phrase(q), f"{q} zzqxv", "title:" + q.split()[0].strip('"*'))]
    answers = kb._with_reader(lambda r: [_same_answer(r.searcher, q) for q in variants])
    assert True in answers and False in answers


def _same_answer(searcher: Any, query: str) -> bool:
    found = kb_search.finds_any(searcher, query)
    assert found == bool(kb_search._lexical(searcher, query, limit=1).hits), query
    return found
