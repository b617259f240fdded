"""The core promises of kb 1.0, checked through the Python API on the shipped page."""

from __future__ import annotations

import json
import threading
from dataclasses import asdict

import pytest

from kb import KnowledgeBase
from kb import search as kb_search
from kb.errors import NotFound, QueryError


def top(kb: KnowledgeBase, query: str, **kw):
    result = kb.search(query, **kw)
    assert result.hits, f"no hits for {query!r}"
    return result.hits[0]


@pytest.mark.parametrize("query", ["Mobi", "Hawaii", "mobi", "HAWAII"])
def test_mobi_and_hawaii_find_the_mobi_passage(seed_kb: KnowledgeBase, query: str) -> None:
    hit = top(seed_kb, query)
    assert "Mobi" in hit.snippet
    assert hit.anchor == "about-us"
    assert hit.path == "introduction.md"
    assert hit.line == 7


def test_partners_is_one_about_us_hit_with_both_passages(seed_kb: KnowledgeBase) -> None:
    hits = seed_kb.search("partners").hits
    sections = [(h.path, h.anchor) for h in hits]
    assert len(sections) == len(set(sections))  # one result per section
    about = [h for h in hits if "Atos" in h.snippet or any("Atos" in p.snippet for p in h.passages)]
    assert len(about) == 1
    texts = [about[0].snippet] + [p.snippet for p in about[0].passages]
    assert any("Digital Alpha" in t for t in texts)
    assert all(p.highlights for p in about[0].passages)


def test_passages_option_lists_atos_and_telenor_passages_separately(seed_kb: KnowledgeBase) -> None:
    hits = seed_kb.search("partners", passages=True).hits
    atos = [h for h in hits if "Atos" in h.snippet]
    telenor = [h for h in hits if "Digital Alpha" in h.snippet]
    assert atos and telenor
    assert atos[0].rank != telenor[0].rank
    assert not any("Atos" in h.snippet and "Digital Alpha" in h.snippet for h in hits)
    assert not any(h.passages for h in hits)


def test_goal_ranks_the_our_goal_admonition_first(seed_kb: KnowledgeBase) -> None:
    hit = top(seed_kb, "goal")
    assert hit.breadcrumb[-1] == "Our goal"
    assert hit.snippet.startswith("The overarching goal")
    assert ":::" not in hit.snippet


def test_person_name_finds_the_man_behind_the_name(seed_kb: KnowledgeBase) -> None:
    hit = top(seed_kb, "Torleiv Maseng")
    assert hit.section == "The man behind the name"
    assert hit.anchor == "the-man-behind-the-name"
    assert "](" not in hit.snippet and "https://" not in hit.snippet


def test_misspelling_gets_a_suggestion_and_results(seed_kb: KnowledgeBase) -> None:
    result = seed_kb.search("Mobbi")
    assert result.suggestion == "mobi"
    assert result.hits and "Mobi" in result.hits[0].snippet


def test_quoted_phrase_only_matches_passages_with_the_phrase(seed_kb: KnowledgeBase) -> None:
    result = seed_kb.search('"mobile core"')
    assert result.hits
    for hit in result.hits:
        text = seed_kb.section(hit.page, hit.anchor).text.lower()
        assert "mobile core" in text
    assert seed_kb.search("core mobile").hits  # the words, in any order
    assert not seed_kb.search('"core mobile"').hits  # the phrase, only in this order


def test_highlights_point_at_the_matched_words(seed_kb: KnowledgeBase) -> None:
    hit = top(seed_kb, "partnered")
    words = [hit.snippet[s:e].lower() for s, e in hit.highlights]
    assert words and all(w.startswith("partner") for w in words)


def test_stemming_case_and_unicode_folding(seed_kb: KnowledgeBase) -> None:
    assert "partnered" in top(seed_kb, "partnering").snippet or "partners" in top(seed_kb, "partnering").snippet
    assert "It’s" in top(seed_kb, "its").snippet
    assert "4/5G" in top(seed_kb, "4/5G").snippet
    assert "MVNO" in top(seed_kb, "mvno").snippet
    assert "2017" in top(seed_kb, "2017").snippet


def test_and_then_or_fallback(seed_kb: KnowledgeBase) -> None:
    both = seed_kb.search("Atos Vimla")
    assert both.hits and both.fallback == "or"
    assert seed_kb.search("Atos integrator").fallback is None


def test_operators(seed_kb: KnowledgeBase) -> None:
    with_not = seed_kb.search("Telenor -Sintef")
    assert with_not.hits and all("Sintef" not in seed_kb.section(h.page, h.anchor).text or "Sintef" not in h.snippet
                                 for h in with_not.hits)
    either = seed_kb.search("Atos OR Vimla")
    texts = [t for h in either.hits for t in [h.snippet, *(p.snippet for p in h.passages)]]
    assert {"Atos", "Vimla"} <= {w for t in texts for w in ("Atos", "Vimla") if w in t}
    assert top(seed_kb, "Hutch*").snippet.count("Hutchison") == 1
    assert top(seed_kb, "title:wgtwo").page == "introduction"
    assert seed_kb.search("page:introduction Maseng").hits
    assert not seed_kb.search("page:nowhere Maseng").hits


@pytest.mark.parametrize("query", ['"unbalanced', "AND", "*", "", "   ", "((", "title:", '"', "-", "OR OR", ":::"])
def test_queries_the_parser_cannot_take_never_raise(seed_kb: KnowledgeBase, query: str) -> None:
    """Bad syntax is searched as words; a query with no word at all is a QueryError (one line), nothing else."""
    try:
        result = seed_kb.search(query)
    except QueryError as exc:
        assert "\n" not in str(exc) and "nothing to search" in str(exc)
    else:
        assert result.query == query and result.total >= len(result.hits)


def test_result_is_the_json_contract(seed_kb: KnowledgeBase) -> None:
    data = json.loads(json.dumps(asdict(seed_kb.search("Mobi", limit=1))))
    assert {"query", "total", "suggestion", "hits"} <= set(data)
    hit = data["hits"][0]
    assert {"rank", "score", "page", "path", "title", "section", "anchor", "breadcrumb", "line", "snippet",
            "highlights"} <= set(hit)
    assert hit["title"] == "wgtwo - Working Group Two"
    assert hit["breadcrumb"] == ["wgtwo - Working Group Two", "About Us"]
    for start, end in hit["highlights"]:
        assert hit["snippet"][start:end] == "Mobi"


def test_limit_and_total(seed_kb: KnowledgeBase) -> None:
    result = seed_kb.search("mobile", limit=2, passages=True)
    assert len(result.hits) == 2
    assert result.total > 2
    sections = seed_kb.search("mobile", limit=2)  # every "mobile" passage is in About us: one section, one hit
    assert sections.total == len(sections.hits) == 1 and len(sections.hits[0].passages) == result.total - 1
    with pytest.raises(QueryError):
        seed_kb.search("mobile", limit=0)


def test_section_and_page_text(seed_kb: KnowledgeBase) -> None:
    section = seed_kb.section("introduction", "the-man-behind-the-name")
    assert section.text.startswith("Torleiv Maseng")
    page = seed_kb.page("introduction.md")
    assert [s.anchor for s in page.sections] == ["about-us", "the-man-behind-the-name"]
    assert "Mobi" in page.sections[0].text and "Atos" in page.sections[0].text
    with pytest.raises(NotFound):
        seed_kb.section("introduction", "nope")
    with pytest.raises(NotFound):
        seed_kb.page("missing-page")


def test_search_from_many_threads(seed_kb: KnowledgeBase) -> None:
    errors: list[BaseException] = []
    answers: list[str] = []

    def worker() -> None:
        try:
            for q in ("Mobi", "partners", "goal", "GSM") * 5:
                answers.append(seed_kb.search(q).hits[0].anchor)
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(answers) == 8 * 20


def test_a_heading_only_section_has_its_heading_as_snippet(make_kb) -> None:
    kb = make_kb({"api.mdx": "# API\n\n## Forward calls to voicemail\n\n<CodeSnippet file=\"forward.sh\" />\n"})
    hit = kb.search("voicemail").hits[0]
    assert hit.anchor == "forward-calls-to-voicemail"
    assert hit.snippet == "Forward calls to voicemail"
    assert [hit.snippet[s:e] for s, e in hit.highlights] == ["voicemail"]


def test_an_excluded_word_changes_neither_scores_nor_completeness(seed_kb: KnowledgeBase) -> None:
    """A hit never holds an excluded word, so it is not part of what a hit must cover: counted, it made every hit
    partial (an "or" fallback for a query whose sections have every word) and cut every score."""
    plain, excluded = seed_kb.search("Mobi Hawaii"), seed_kb.search("Mobi Hawaii -zzzz")
    assert plain.hits and plain.fallback is None and excluded.fallback is None
    assert [(h.path, h.anchor, h.score) for h in excluded.hits] == [(h.path, h.anchor, h.score) for h in plain.hits]


def test_a_section_with_every_word_in_a_later_passage_is_a_complete_hit(make_kb) -> None:
    """The section's best-scored passage has one word many times, a later one has both: the section is a complete
    hit shown by the passage with both words (it was dropped with the partial hits, so `limit=1` found nothing)."""
    filler = "Nothing else is said about it here, only plain words to make this paragraph long. " * 4
    pages = {"phone.md": "# Phone\n\n## Settings\n\n" + "Voicemail voicemail voicemail. " * 15
             + f"\n\nCalls go to voicemail after forwarding is set up. {filler}\n"}
    pages.update({f"p{i}.md": f"# Other {i}\n\nCall forwarding rules for number {i}.\n" for i in range(60)})
    kb = make_kb(pages)
    for limit in (1, 3):
        result = kb.search("voicemail forwarding", limit=limit)
        assert result.fallback is None and result.hits
        hit = result.hits[0]
        assert (hit.path, hit.anchor, hit.part) == ("phone.md", "settings", 1)
        assert "forwarding" in hit.snippet and [p.part for p in hit.passages] == [0]


@pytest.mark.parametrize(("query", "found"), [("network_info", True), ("network_down", True), ("info_down", False),
                                              ("get_network_info", True), ("down_network_info", False)])
def test_tips_find_a_word_of_parts_only_where_every_part_is(make_kb, query: str, found: bool) -> None:
    """A tip is kept only if its query has a hit; a word of parts (`network_info`) needs every part in one
    section, which finds_any decides without making the largest part's set."""
    kb = make_kb({"a.md": "# A\n\nCall GetNetworkInfo to read it.\n", "b.md": "# B\n\nThe network is down.\n",
                  "c.md": "# C\n\nSome info here, and more info.\n"})
    assert bool(kb.search(query, mode="lexical").hits) is found  # (the search builds the index)
    assert kb._with_reader(lambda r: kb_search.finds_any(r.searcher, query)) is found


def test_total_does_not_depend_on_the_limit(make_kb) -> None:
    """`total` is what a search without a limit would list: partial matches fill a short list, so they count
    whatever the limit (the total was 2 up to --limit 2, and 6 from 3 on)."""
    pages = {f"both{i}.md": f"# Both {i}\n\nThe alpha and the beta of {i}.\n" for i in range(2)}
    pages.update({f"one{i}.md": f"# One {i}\n\nOnly alpha here, number {i}.\n" for i in range(4)})
    kb = make_kb(pages)
    results = {limit: kb.search("alpha beta", limit=limit) for limit in (1, 2, 3, 10)}
    assert [len(r.hits) for r in results.values()] == [1, 2, 3, 6]
    assert {r.total for r in results.values()} == {6}


def test_a_long_page_id_or_anchor_is_quoted_short_in_the_error(seed_kb: KnowledgeBase) -> None:
    """A 60 KB page id sent to the HTTP API came back whole in its 404."""
    for call in (lambda: seed_kb.page("x" * 60_000), lambda: seed_kb.section("introduction", "y" * 60_000)):
        with pytest.raises(NotFound) as err:
            call()
        assert len(str(err.value)) < 300 and "…" in str(err.value)


def test_a_misspelt_identifier_in_camel_case_is_corrected_as_a_whole(make_kb) -> None:
    """`createSlise` has a known part (`create`), so it was never corrected; `createslise` was."""
    kb = make_kb({"slice.md": "# createSlice\n\nCall createSlice with a name and reducers.\n",
                  "store.md": "# Store\n\nCreate the store once.\n"})
    for query in ("createSlise", "createslise"):
        result = kb.search(query)
        assert result.suggestion == "createslice" and result.hits[0].path == "slice.md", query


@pytest.mark.parametrize("address", ["introduction.md:" + "9" * 5000, "http://[::1", "https://[zz]/x"])
def test_an_address_python_cannot_read_is_not_found(seed_kb: KnowledgeBase, address: str) -> None:
    """A 5,000-digit line number and an invalid IPv6 host were ValueErrors (internal errors in the CLI)."""
    with pytest.raises(NotFound):
        seed_kb.lookup(address)


def test_complete_matches_lost_among_many_partial_ones_still_come_first(make_kb) -> None:
    """The re-rank took the 100 best-scored candidates: sections with "alpha" three times outscored the long ones
    holding both words, which were found only at --limit 40 and up ("or" reported below it)."""
    filler = " ".join(f"word{n}" for n in range(40))
    pages = {f"a{i}.md": f"# Page {i}\n\nalpha alpha alpha.\n" for i in range(120)}
    pages.update({f"b{i}.md": f"# Other {i}\n\nbeta here.\n" for i in range(30)})
    pages.update({f"c{i}.md": f"# Long {i}\n\n{filler} alpha and beta {filler}\n" for i in range(3)})
    kb = make_kb(pages)
    for limit in (5, 40):
        result = kb.search("alpha beta", limit=limit, mode="lexical")
        assert result.fallback is None, limit
        assert {h.path for h in result.hits[:3]} == {"c0.md", "c1.md", "c2.md"}, limit
