"""The pruned candidate pool of a bag-of-words query is exactly the exhaustive one: same documents, same scores,
same count, at every pool size, and so the same ranked hits."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kb import KnowledgeBase
from kb import search as search_mod
from kb.query import parse

# A Zipf-like vocabulary: a few words in most passages (long posting lists, many equal scores), a tail of rare ones.
WORDS = ("gateway subscriber routing message delivery network configure token session webhook callback payload "
         "consent event operator roaming billing voice forward policy quota device profile number porting "
         "latency endpoint request response header retry timeout cache").split()
QUERIES = ["gateway", "gateway subscriber", "subscriber gateway routing", "cache", "cache timeout", "retry",
           "gat*", "ro*", "gateway ro*", "gatway", "gateway roaming cache", "routing routing", "title:gateway",
           "gateway OR cache", "gateway -cache", '"gateway subscriber"', "gateway tag:alpha", "nosuchword gateway"]


def _text(rng: random.Random, n: int) -> str:
    return " ".join(WORDS[min(int(rng.paretovariate(1.1)) - 1, len(WORDS) - 1)] for _ in range(n))


@pytest.fixture(scope="module")
def kb(tmp_path_factory: pytest.TempPathFactory) -> KnowledgeBase:
    rng = random.Random(7)
    root: Path = tmp_path_factory.mktemp("pruning")
    content = root / "content"
    content.mkdir()
    for i in range(40):
        sections = "\n\n".join(f"## {_text(rng, 2)} {i} {j}\n\n{_text(rng, rng.randint(3, 60))}" for j in range(6))
        tags = "[alpha]" if i % 3 == 0 else "[beta]"
        (content / f"p{i}.md").write_text(f"---\ntags: {tags}\n---\n# {_text(rng, 2)} page {i}\n\n{sections}\n",
                                          encoding="utf-8")
    base = KnowledgeBase(content, root / "index")
    base.reindex()
    return base


def _pools(kb: KnowledgeBase, query: str, size: int) -> tuple[object, object, bool]:
    reader = kb._checkout()
    try:
        engine = search_mod.engine_for(reader.searcher)
        plans = search_mod.QueryBuilder(engine).build(parse(query))
        simple = search_mod._simple_slots(plans) is not None
        fast = search_mod._pool(engine, plans, size)
        slow = search_mod._pool(engine, plans, size, prune=False)
        return fast, slow, simple
    finally:
        reader.busy -= 1


@pytest.mark.parametrize("size", [1, 3, 10, 50, 300])
@pytest.mark.parametrize("query", QUERIES)
def test_pruned_pool_equals_exhaustive_pool(kb: KnowledgeBase, query: str, size: int) -> None:
    fast, slow, _simple = _pools(kb, query, size)
    assert fast == slow


def test_the_common_query_shapes_take_the_pruned_path(kb: KnowledgeBase) -> None:
    assert all(_pools(kb, q, 10)[2] for q in ("gateway", "gateway subscriber routing", "gat*", "gateway ro*"))
    assert not any(_pools(kb, q, 10)[2] for q in ('"gateway subscriber"', "gateway -cache", "gateway tag:alpha"))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(words=st.lists(st.sampled_from(WORDS + ["gat*", "ro*", "cach", "zzz"]), min_size=1, max_size=4),
       size=st.integers(1, 120))
def test_any_bag_of_words_pool_is_exact(kb: KnowledgeBase, words: list[str], size: int) -> None:
    fast, slow, _simple = _pools(kb, " ".join(words), size)
    assert fast == slow


@pytest.mark.parametrize("query", QUERIES)
def test_ranked_hits_are_those_of_exhaustive_scoring(kb: KnowledgeBase, query: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    got = kb.search(query, limit=10)
    monkeypatch.setattr(search_mod, "_simple_slots", lambda plans: None)
    kb._drop_reader()  # a fresh searcher: no score maps cached by the pruned path
    want = kb.search(query, limit=10)
    assert got == want
