"""numpy scoring (kb/dense.py) gives what kb/search.py's dicts give, to the bit: the same passages matched, the same
pool of the best k with the same scores, and on ties at the k-th score the same passages (the first in the dicts'
order). Checked here on made-up posting lists whose scores take a few values, so that ties are everywhere, over
query plans of every shape kb builds (fields summed, identifier parts intersected, optional terms, clauses and
groups merged, filters, filter-only groups, exclusions, soft words); tests/test_search_exhaustive.py and
tests/test_impacts.py compare whole searches on generated sites."""

from __future__ import annotations

from array import array
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kb import search as kb_search
from kb.search import FIELD_WEIGHTS, GroupPlan, Plan, _dense_pool, _dict_pool
from kb.whoosh.engine import Engine

np = pytest.importorskip("numpy")
from kb.dense import Dense  # noqa: E402  (numpy first: the module needs it)

DOCS = 40
FIELDS = list(FIELD_WEIGHTS)
TERMS = ["cat", "dog", "fish", "bird"]  # analysed as themselves: "cat" is also a soft (dropped) word below
VALUES = [0.5, 1.0, 1.5, 2.25, 0.1, 0.2]  # few values, sums of them round differently by order: ties and bits


class ListEngine(Engine):
    """An engine whose lists are given: (field, term) -> (ids, BM25 values)."""

    def __init__(self, lists: dict[tuple[str, str], tuple[array[int], array[float]]]) -> None:
        self.lists = lists
        self.leaves = [SimpleNamespace(n=DOCS)]  # type: ignore[list-item]
        self.vector = None
        self.lean = True

    def term_scores(self, field: str, term: str, *, vector: Any = None) -> tuple[Any, Any]:
        return self.lists.get((field, term), (array("i"), array("d")))


@st.composite
def all_lists(draw: Any) -> dict[tuple[str, str], tuple[array[int], array[float]]]:
    """(field, term) -> (ids, values), the values from one small set (a single value: every sum of as many terms
    ties)."""
    values = draw(st.sampled_from([VALUES[:1], VALUES[:2], VALUES]))
    out = {}
    for key in draw(st.sets(st.tuples(st.sampled_from(FIELDS), st.sampled_from(TERMS)))):
        ids = sorted(draw(st.sets(st.integers(0, DOCS - 1), max_size=DOCS)))
        out[key] = (array("i", ids), array("d", [draw(st.sampled_from(values)) for _ in ids]))
    return out


refs = st.lists(st.tuples(st.sampled_from(FIELDS), st.sampled_from(TERMS), st.sampled_from([1.0, 0.5, 2.0, 1.2])),
                min_size=1, max_size=5)
plans = st.builds(Plan, st.lists(refs, min_size=1, max_size=3), st.lists(st.tuples(
    st.sampled_from(FIELDS), st.sampled_from(TERMS), st.sampled_from([0.5, 1e-3])), max_size=2))
doc_sets = st.sets(st.integers(0, DOCS - 1), min_size=1, max_size=DOCS)


@st.composite
def groups(draw: Any) -> GroupPlan:
    positives = draw(st.lists(plans, max_size=3))
    filters = draw(st.lists(doc_sets, min_size=0 if positives else 1, max_size=2))
    return GroupPlan(positives, filters, draw(st.lists(plans, max_size=1)))


@settings(max_examples=200, deadline=None)
@given(all_lists(), st.lists(groups(), min_size=1, max_size=3), st.sampled_from([(), ("cat",)]), st.integers(1, 25))
def test_numpy_pool_is_the_dicts_pool(lists: Any, query: list[GroupPlan], dropped: tuple[str, ...], k: int) -> None:
    engine = ListEngine(lists)
    for complete in (0, k):  # (with the best complete matches the pool of k lacks)
        want = _dict_pool(engine, query, dropped, k, complete)
        got = _dense_pool(Dense(engine), engine, query, dropped, k, complete)
        assert got[0] == want[0]
        assert {d: s.hex() for d, s in got[1].items()} == {d: s.hex() for d, s in want[1].items()}
        assert sorted(got[2]) == sorted(want[2]) and set(got[2]) <= set(got[1])


def test_ties_at_the_kth_score_go_to_the_first_in_dict_order() -> None:
    """Two fields of one word: the longer list's documents come first in the dicts, then the shorter one's new
    ones, whatever their numbers; all score the same, so the pool of 3 is the longer list's first three."""
    lists = {("body", "cat"): (array("i", [5, 7, 9, 11]), array("d", [1.0] * 4)),
             ("code", "cat"): (array("i", [1, 2]), array("d", [2.0] * 2))}
    query = [GroupPlan([Plan([[("body", "cat", 1.0), ("code", "cat", 0.5)]], [])], [], [])]
    engine = ListEngine(lists)
    want = (6, {5: 1.0, 7: 1.0, 9: 1.0}, [])
    assert _dict_pool(engine, query, (), 3) == want
    assert _dense_pool(Dense(engine), engine, query, (), 3) == want


def _same(lists: Any, query: list[GroupPlan], k: int, want: tuple[int, dict[int, float]]) -> None:
    engine = ListEngine({key: (array("i", ids), array("d", [1.0] * len(ids))) for key, ids in lists.items()})
    assert _dict_pool(engine, query, (), k)[:2] == want
    assert _dense_pool(Dense(engine), engine, query, (), k)[:2] == want


def test_an_identifier_in_parts_keeps_the_order_of_its_part_with_fewer_documents() -> None:
    """Every document of both parts scores 2.0: the pool of 2 is the smaller part's first two in its own order
    (its longer list first), not the other's (ascending)."""
    lists = {("body", "cat"): [3, 4, 5], ("title", "cat"): [1, 2], ("body", "dog"): [1, 2, 3, 4, 5, 6]}
    plan = Plan([[("body", "cat", 1.0), ("title", "cat", 1.0)], [("body", "dog", 1.0)]], [])
    _same(lists, [GroupPlan([plan], [], [])], 2, (5, {3: 2.0, 4: 2.0}))
    plan = Plan([[("body", "dog", 1.0)], [("body", "cat", 1.0), ("title", "cat", 1.0)]], [])
    _same(lists, [GroupPlan([plan], [], [])], 2, (5, {3: 2.0, 4: 2.0}))
    # as many documents in both: the first part's order
    lists = {("body", "cat"): [3, 4], ("title", "cat"): [1], ("body", "dog"): [1, 3, 4]}
    plan = Plan([[("body", "cat", 1.0), ("title", "cat", 1.0)], [("body", "dog", 1.0)]], [])
    _same(lists, [GroupPlan([plan], [], [])], 1, (3, {3: 2.0}))


def test_merged_clauses_and_groups_keep_the_order_documents_first_appear_in() -> None:
    """Clauses (and groups) merged: the first one's documents in its order, then the next one's new ones."""
    lists = {("body", "cat"): [7, 8], ("body", "dog"): [1, 2, 9]}
    cat, dog = Plan([[("body", "cat", 1.0)]], []), Plan([[("body", "dog", 1.0)]], [])
    _same(lists, [GroupPlan([cat, dog], [], [])], 3, (5, {7: 1.0, 8: 1.0, 1: 1.0}))
    _same(lists, [GroupPlan([cat], [], []), GroupPlan([dog], [], [])], 3, (5, {7: 1.0, 8: 1.0, 1: 1.0}))
    _same(lists, [GroupPlan([dog], [], []), GroupPlan([cat], [], [])], 3, (5, {1: 1.0, 2: 1.0, 9: 1.0}))
    # a filter-only group: the set's own order (Python's), its passages all scored 1.0
    allowed = {33, 1, 17, 2, 40 - 1}
    want = dict.fromkeys(list(set.intersection(allowed))[:2], 1.0)
    _same(lists, [GroupPlan([], [allowed], [])], 2, (5, want))


def test_a_search_without_numpy_scores_in_dicts(monkeypatch: pytest.MonkeyPatch) -> None:
    """numpy missing (the extra `fast` not installed): the choice falls to the dicts, once, even when asked for
    numpy; nothing fails."""
    monkeypatch.setitem(__import__("sys").modules, "numpy", None)  # `import numpy` raises ImportError
    monkeypatch.delitem(__import__("sys").modules, "kb.dense")
    monkeypatch.setattr(kb_search, "DENSE", True)
    monkeypatch.setattr(kb_search, "_NO_NUMPY", False)
    engine = ListEngine({})
    assert kb_search._vector(engine, []) is None
    assert kb_search._NO_NUMPY


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.integers(0, 500), st.sampled_from(VALUES), max_size=60), st.integers(1, 40))
def test_phrase_candidates_best_first_as_the_stable_sort(bag: dict[int, float], limit: int) -> None:
    docs = sorted(bag)
    bag = {d: bag[d] for d in docs}  # as Dense.candidates builds it: in the documents' order
    assert Dense.best_first(docs, bag, limit) == sorted(docs, key=bag.__getitem__, reverse=True)[:limit]
