"""Search quality behaviours, pinned on small fixture pages (tests/fixtures/quality/docs), not the shared corpus."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from kb import KnowledgeBase
from kb.cli import cli

DOCS = Path(__file__).parent / "fixtures" / "quality" / "docs"


@pytest.fixture(scope="module")
def kb(tmp_path_factory: pytest.TempPathFactory) -> KnowledgeBase:
    base = KnowledgeBase(DOCS, tmp_path_factory.mktemp("quality") / "index")
    base.reindex()
    yield base
    base.close()


def top(kb: KnowledgeBase, query: str, n: int = 1) -> list[str]:
    return [f"{h.path}#{h.anchor}" for h in kb.search(query, limit=10).hits[:n]]


# -- natural-language questions ------------------------------------------------------------------------------

def test_question_words_are_dropped_and_the_answer_comes_first(kb: KnowledgeBase) -> None:
    result = kb.search("how do I forward calls to voicemail")
    assert result.hits[0].anchor == "forward-calls-to-voicemail-when-busy"
    assert "how" not in result.searched.split() and "forward" in result.searched


@pytest.mark.parametrize("query, expected", [
    ("who are our partners", "company.md#partners"),
    ("what is a scope", "oauth.md#scopes"),
    ("how many unacknowledged messages", "events.md#max-in-flight"),
])
def test_natural_language_questions_find_their_section(kb: KnowledgeBase, query: str, expected: str) -> None:
    assert top(kb, query) == [expected]


def test_a_word_no_section_has_does_not_make_the_query_fail(kb: KnowledgeBase) -> None:
    result = kb.search("grafana dashboard kubernetes")
    assert result.hits[0].anchor == "dashboards-in-grafana"
    assert result.fallback == "or"


def test_sections_with_every_word_come_before_partial_matches(kb: KnowledgeBase) -> None:
    hits = kb.search("prometheus docker").hits
    # No section has both words: the one with the rarer word set comes first; then a complete match is absent.
    anchors = [h.anchor for h in hits]
    assert set(anchors[:2]) <= {"example-run-with-docker", "get-metrics-with-prometheus", "dashboards-in-grafana"}
    full = kb.search("prometheus grafana").hits
    assert full[0].anchor == "dashboards-in-grafana"  # the only section holding both words
    assert "get-metrics-with-prometheus" in [h.anchor for h in full]  # partial matches fill the list


# -- word forms ----------------------------------------------------------------------------------------------

def test_exact_form_outranks_stem_match(kb: KnowledgeBase) -> None:
    hits = kb.search("forwarded").hits
    assert hits[0].anchor == "forwarded-numbers"
    assert {"disable-call-forwarding", "overview"} <= {h.anchor for h in hits}  # stem matches still found


def test_prefix_expands_over_stemmed_and_exact_forms(kb: KnowledgeBase) -> None:
    anchors = {h.anchor for h in kb.search("forwa*").hits}
    assert {"forwarded-numbers", "disable-call-forwarding", "forward-all-calls-to-a-trunk"} <= anchors
    assert {h.anchor for h in kb.search("acknowledg*").hits} >= {"manual-acknowledge"}


# -- identifiers -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("query, expected", [
    ("GetNetworkInfoForSubscriber", "network-info.md#getnetworkinfoforsubscriber"),
    ("network info", "network-info.md#getnetworkinfoforsubscriber"),
    ("CONSENT_REVOKE_EVENT", "events.md#event-types"),
    ("events.sms.subscribe", "events.md#event-types"),
    ("max in-flight", "events.md#max-in-flight"),
])
def test_identifiers_are_found_whole_and_by_parts(kb: KnowledgeBase, query: str, expected: str) -> None:
    assert top(kb, query) == [expected]


def test_identifier_segment_finds_the_dotted_name(kb: KnowledgeBase) -> None:
    found = top(kb, "to_subscriber", 3)
    assert found[0] == "mms.md#limitations-on-mmssendto_subscriber"
    assert "mms.md#required-right" in found


def test_identifier_words_find_the_section_about_it(kb: KnowledgeBase) -> None:
    assert set(top(kb, "consent revoke event", 2)) == {"events.md#consent-revoke", "events.md#event-types"}


# -- typos -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("query, corrected, expected_path", [
    ("forwading", "forwarding", "call-forwarding.md"),
    ("promethus", "prometheus", "metrics.md"),
    ("Mobbi", "mobi", "company.md"),
])
def test_typos_are_corrected_and_said(kb: KnowledgeBase, query: str, corrected: str, expected_path: str) -> None:
    result = kb.search(query)
    assert result.suggestion is not None and corrected in result.suggestion.lower()
    assert result.hits[0].path == expected_path


def test_a_known_word_is_not_corrected(kb: KnowledgeBase) -> None:
    result = kb.search("forwarded")
    assert result.suggestion is None


# -- grouping ----------------------------------------------------------------------------------------------------

def test_group_by_page_shows_best_section_with_others_beneath(kb: KnowledgeBase) -> None:
    plain = kb.search("forward calls")
    grouped = kb.search("forward calls", group="page")
    assert len({h.path for h in plain.hits}) < len(plain.hits)  # several sections of one page match
    paths = [h.path for h in grouped.hits]
    assert len(paths) == len(set(paths))
    first = grouped.hits[0]
    assert first.path == "call-forwarding.md" and first.anchor == plain.hits[0].anchor
    assert first.others and all(o.path == first.path and o.anchor != first.anchor for o in first.others)


def test_default_gives_one_hit_per_section(kb: KnowledgeBase) -> None:
    hits = kb.search("call", limit=50).hits
    keys = [(h.path, h.anchor) for h in hits]
    assert len(keys) == len(set(keys))


def test_cli_group_page(tmp_path: Path) -> None:
    runner = CliRunner()
    args = ["--content", str(DOCS), "--index", str(tmp_path / "ix"), "search", "forward", "calls", "--group", "page"]
    out = runner.invoke(cli, args + ["--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    assert data["hits"][0]["path"] == "call-forwarding.md" and data["hits"][0]["others"]
    text = runner.invoke(cli, args)
    assert "also:" in text.stdout


def test_exact_form_breaks_a_tie_between_stem_matches(tmp_path: Path) -> None:
    content = tmp_path / "docs"
    content.mkdir()
    (content / "rules.md").write_text("# Rules\n\n## Rule one\nCalls are forwarded here.\n\n"
                                      "## Rule two\nCalls are forwarding here.\n", encoding="utf-8")
    base = KnowledgeBase(content, tmp_path / "index")
    assert base.search("forwarded").hits[0].anchor == "rule-one"
    assert base.search("forwarding").hits[0].anchor == "rule-two"
    assert len(base.search("forwarding").hits) == 2  # the other form still matches, below
    base.close()
