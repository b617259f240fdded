"""Any query string gets results, no results, or a one-line error with status 2: never a traceback, never a hang."""

from __future__ import annotations

import json
import time

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from kb import KnowledgeBase
from kb.cli import cli
from kb.errors import QueryError
from kb.model import SearchResult
from tests.sitegen import make_site, marker, revision

HANG = 10.0  # seconds; far beyond any sane query, so only a runaway one trips it

SPECIAL = list('"()[]{}*?~^:+-!&|\\/.,;\'`@#$%=<>') + ["\x00", "\x07", "\x1b", "\u200b", "\ufeff", "\u202e",
                                                       "\n", "\t", "\r"]
TOKENS = ["OR", "AND", "NOT", "-", "+", "*", "~", "~2", "^3", '"', "(", ")", "title:", "tag:", "page:", "path:",
          "field:", "nosuchfield:value", "in:", ":", "::", "a*", "*a", "?", "gateway", "Gateway*", "routing~",
          "漢字", "Ελληνικά", "русский", "العربية", "עברית", "😀", "e\u0301", "ﬁ", marker(1), "0", "-1", "1e309"]
LONG = [c * n for c in ("a", "*", '"', "(", "-", "a ", "ab* ", "OR ", "é", "字", "x.") for n in (1000, 20000)]

queries = st.one_of(
    st.text(max_size=200),
    st.text(alphabet=st.sampled_from(SPECIAL + list("ab ")), max_size=300),
    st.lists(st.sampled_from(TOKENS), max_size=60).map(" ".join),
    st.lists(st.sampled_from(TOKENS), max_size=60).map("".join),
    st.sampled_from(LONG),
    st.builds(lambda w, n: " ".join([w] * n), st.sampled_from(["gateway", "gatewya", "ab*", '"x y"', "-a"]),
              st.integers(1, 400)),
)

CASES = ["", " ", "*", "**", "~", "?", '"', '""', '"unbalanced', "((a)", "a)))", "field:", "nosuch:thing",
         "title:", "tag:", "page:../../etc", "path:/", "OR", "NOT", "AND OR NOT", "-", "--", "- -a", "\x00\x01\x1f",
         "\x1b[31mred", "漢字 かな 한국어 العربية mixed", "a" * 100_000, "gateway " * 20_000, "*" * 5000,
         "a* " * 2000, "~" * 1000, "(" * 5000 + ")" * 10, '"' * 999, "title:" * 500, "x" * 65 + "*"]


@pytest.fixture(scope="module")
def kb(tmp_path_factory: pytest.TempPathFactory) -> KnowledgeBase:
    root = tmp_path_factory.mktemp("hostile")
    site = make_site(root / "content", pages=12)
    (site.root / "scripts.md").write_text("# Mixed scripts\n\n漢字 かな 한국어 العربية Ελληνικά русский 😀 café\n",
                                          encoding="utf-8")
    kb = KnowledgeBase(site.root, root / "index")
    kb.reindex()
    yield kb
    kb.close()


def _check_api(kb: KnowledgeBase, query: str) -> None:
    started = time.monotonic()
    try:
        result = kb.search(query, limit=20)
    except QueryError as exc:
        assert "\n" not in str(exc)
    else:
        assert isinstance(result, SearchResult)
        assert len(result.hits) <= 20
        json.dumps(result.to_dict())
    assert time.monotonic() - started < HANG, f"query {query[:60]!r} took too long"


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(query=queries)
def test_any_query_through_the_api(kb: KnowledgeBase, query: str) -> None:
    _check_api(kb, query)


@pytest.mark.parametrize("query", CASES, ids=range(len(CASES)))
def test_listed_hostile_queries_through_the_api(kb: KnowledgeBase, query: str) -> None:
    _check_api(kb, query)


def _check_cli(kb: KnowledgeBase, args: list[str]) -> None:
    started = time.monotonic()
    res = CliRunner().invoke(cli, ["--content", str(kb.content_dir), "--index", str(kb.index_dir), *args])
    assert time.monotonic() - started < HANG, f"{args!r} took too long"
    assert res.exit_code in (0, 1, 2), (res.exit_code, res.output)
    assert "Traceback" not in res.output
    assert not isinstance(res.exception, Exception) or isinstance(res.exception, SystemExit), res.exception
    if res.exit_code == 2:
        assert len(res.stderr.strip().splitlines()) == 1, res.stderr
    elif "--json" in args:
        data = json.loads(res.stdout)
        assert {"query", "total", "suggestion", "hits"} <= set(data)
        assert (res.exit_code == 0) == bool(data["hits"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(query=queries, as_json=st.booleans())
@example(query="-x", as_json=False)
@example(query="--json", as_json=True)
def test_any_query_through_the_cli(kb: KnowledgeBase, query: str, as_json: bool) -> None:
    _check_cli(kb, ["search", *(["--json"] if as_json else []), "--", query])


@pytest.mark.parametrize("query", CASES, ids=range(len(CASES)))
def test_listed_hostile_queries_through_the_cli(kb: KnowledgeBase, query: str) -> None:
    _check_cli(kb, ["search", "--json", "--", query])


def test_several_query_words_as_separate_arguments(kb: KnowledgeBase) -> None:
    _check_cli(kb, ["search", "--json", "--", "(", '"', "title:", "*", "~", marker(1)])


def test_excluded_word_needs_no_double_dash(kb: KnowledgeBase) -> None:
    base = ["--content", str(kb.content_dir), "--index", str(kb.index_dir), "search", "--json", "-n", "100"]
    assert CliRunner().invoke(cli, [*base, marker(1), "-x"]).exit_code == 0  # -x: a word to exclude, not an option
    every = CliRunner().invoke(cli, [*base, "page"])
    assert every.exit_code == 0
    # every passage of the generated site carries its revision word: excluding it leaves only the extra page
    without = CliRunner().invoke(cli, [*base, "mixed", f"-{revision(0)}"])
    assert without.exit_code == 0, without.output
    assert {h["path"] for h in json.loads(without.stdout)["hits"]} == {"scripts.md"}
    none = CliRunner().invoke(cli, [*base, "page", f"-{revision(0)}"])
    assert none.exit_code == 1 and json.loads(none.stdout)["hits"] == []
