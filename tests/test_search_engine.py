"""Search behaviour that depends on how kb scores from posting lists: phrases with stop words, prefixes, filters."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kb import KnowledgeBase
from kb.errors import QueryError
from kb.whoosh.engine import phrase_at

PAGES = {
    "guide.md": "# Guide\n\n## Upstream\n\nPlease see the upstream reference for the wire format.\n\n"
                "## Other\n\nThe reference upstream is not what you see here.\n",
    "tools.md": "# Tools\n\n## Starting\n\nStart the starter with startup options; a stable status.\n",
}


@pytest.fixture(scope="module")
def kb(tmp_path_factory: pytest.TempPathFactory) -> KnowledgeBase:
    root: Path = tmp_path_factory.mktemp("engine")
    content = root / "content"
    content.mkdir()
    for name, text in PAGES.items():
        (content / name).write_text(text, encoding="utf-8")
    base = KnowledgeBase(content, root / "index")
    base.reindex()
    return base


@pytest.mark.parametrize("query", ['"see the upstream"', '"the upstream reference"', '"Please see the upstream"'])
def test_quoted_phrase_with_stop_words_finds_the_sentence(kb: KnowledgeBase, query: str) -> None:
    hits = kb.search(query).hits
    assert [h.anchor for h in hits] == ["upstream"]


def test_quoted_phrase_needs_the_words_in_order(kb: KnowledgeBase) -> None:
    assert [h.anchor for h in kb.search('"reference upstream"').hits] == ["other"]
    assert not kb.search('"upstream see"').hits


def test_prefix_expands_to_several_words(kb: KnowledgeBase) -> None:
    hit = kb.search("sta*").hits[0]
    assert hit.anchor == "starting"
    assert {hit.snippet[s:e].lower() for s, e in hit.highlights} >= {"start", "starter", "startup", "stable", "status"}


def test_negated_phrase_and_page_filter(kb: KnowledgeBase) -> None:
    assert [h.anchor for h in kb.search('upstream NOT "see the upstream"').hits] == ["other"]
    assert {h.path for h in kb.search("reference page:guide").hits} == {"guide.md"}
    assert not kb.search("reference page:tools").hits


def test_phrase_positions_respect_gaps_and_slop() -> None:
    assert phrase_at([[1, 9], [3]], [0, 2])
    assert not phrase_at([[1], [2]], [0, 2])
    assert phrase_at([[1], [4]], [0, 1], slop=3)
    assert not phrase_at([[4], [1]], [0, 1], slop=3)


@pytest.mark.parametrize("surface", [
    "dying", "lying", "tying", "skies", "skis", "early", "only", "gently", "ugly", "singly", "idly", "news", "happy",
    "hoping", "hopping", "relational", "organization", "sensibility", "fluency", "parties", "agreed", "notably",
    "humbly", "ecology", "generalization", "succeeded", "proceeding", "herrings", "innings", "atlases", "biases",
    "GetNetworkInfo", "XMLHttpRequest", "Café", "naïveté", "in-flight", "don't"])
def test_snippet_highlights_every_form_that_analyses_to_a_query_term(surface: str) -> None:
    from kb.analysis import ANALYZER
    from kb.snippets import Matcher, match_spans

    text = f"Before {surface} after."
    terms = frozenset(t.text for t in ANALYZER(surface))
    assert match_spans(text, Matcher(terms)) == [(7, 7 + len(surface))]


@pytest.mark.parametrize("typo", ["refrence", "refernece", "upstraem"])
def test_typos_with_swapped_or_missing_letters_are_corrected(kb: KnowledgeBase, typo: str) -> None:
    result = kb.search(typo)
    assert result.suggestion in ("reference", "upstream")
    assert result.hits


def test_search_of_a_fresh_index_loads_no_page_parser(kb: KnowledgeBase) -> None:
    """A search on unchanged content parses nothing, so it must not pay for Markdown/HTML/YAML imports."""
    import subprocess
    import sys

    heavy = ("markdown", "markdown_it", "bs4", "frontmatter", "yaml", "fastapi", "whoosh.qparser")
    code = ("import atexit, sys\n"
            f"atexit.register(lambda: print('LOADED', sorted(m for m in {heavy!r} if m in sys.modules),"
            " file=sys.stderr))\n"
            "from kb.cli import main\n"
            f"sys.argv = ['kb', '--content', {str(kb.content_dir)!r}, '--index', {str(kb.index_dir)!r}, 'search', "
            "'upstream', '--json']\n"
            "main()\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert '"anchor": "upstream"' in done.stdout
    assert "LOADED []" in done.stderr


def test_updated_and_removed_pages_leave_no_stale_hits(tmp_path: Path) -> None:
    """An incremental update deletes documents inside existing segments; search must not see them."""
    content = tmp_path / "content"
    content.mkdir()
    for i in range(6):
        (content / f"p{i}.md").write_text(f"# Page {i}\n\nZebra crossing number {i}.\n", encoding="utf-8")
    base = KnowledgeBase(content, tmp_path / "index")
    base.reindex()
    assert base.search("zebra").total == 6
    (content / "p0.md").unlink()
    (content / "p1.md").write_text("# Page 1\n\nGiraffe only.\n", encoding="utf-8")
    base.reindex()
    assert sorted(h.path for h in base.search("zebra", limit=20).hits) == ["p2.md", "p3.md", "p4.md", "p5.md"]
    assert [h.path for h in base.search('"giraffe only"').hits] == ["p1.md"]


WORDS = ["see", "the", "upstream", "reference", "wire", "format", "start", "starter", "status", "guide", "zzz",
         "refrence", "sta", "a"]
SYNTAX = ['"', "*", "-", "OR", "NOT", "page:guide", "title:", "tag:x", " "]


@given(st.lists(st.sampled_from(WORDS + SYNTAX), min_size=1, max_size=8).map(" ".join))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_query_gives_ranked_distinct_hits(kb: KnowledgeBase, query: str) -> None:
    try:
        result = kb.search(query, limit=5)
    except QueryError:  # a query with no word in it at all (`"`, `*`, `-`)
        return
    assert [h.rank for h in result.hits] == list(range(1, len(result.hits) + 1))
    assert len({(h.path, h.anchor, h.part) for h in result.hits}) == len(result.hits)
    assert result.total >= len(result.hits)
    for h in result.hits:
        for s, e in h.highlights:
            assert 0 <= s < e <= len(h.snippet)


def test_excluded_word_removes_every_passage_that_has_it(kb: KnowledgeBase) -> None:
    assert kb.search("upstream").total == 2
    assert [h.anchor for h in kb.search("upstream -please").hits] == ["other"]
