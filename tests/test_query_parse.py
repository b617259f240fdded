"""The query language parses every string, and keeps what the user meant."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from kb.query import MAX_CLAUSES, Clause, parse

SYNTAX = st.sampled_from(['"', "(", ")", "*", "-", "OR", "AND", "NOT", "tag:", "title:", ":", "~", "^", " ", "\x00"])


@given(st.lists(st.one_of(st.text(max_size=12), SYNTAX), max_size=40).map("".join))
@settings(max_examples=300, deadline=None)
def test_any_string_parses_into_bounded_clauses(text: str) -> None:
    parsed = parse(text)
    assert len(parsed.clauses) <= MAX_CLAUSES
    for clause in parsed.clauses:
        assert clause.text.strip()
        assert any(ch.isalnum() for ch in clause.text)


def test_words_phrases_prefixes_and_negation() -> None:
    parsed = parse('call "voice mail" forwa* -busy NOT fax tag:api')
    assert parsed.clauses == (
        Clause("word", "call"),
        Clause("phrase", "voice mail"),
        Clause("prefix", "forwa"),
        Clause("word", "busy", negated=True),
        Clause("word", "fax", negated=True),
        Clause("word", "api", field="tag"),
    )


def test_or_splits_groups() -> None:
    parsed = parse("atos OR vimla mobi")
    assert [[c.text for c in g] for g in parsed.groups] == [["atos"], ["vimla", "mobi"]]


def test_question_words_are_dropped_only_when_something_is_left() -> None:
    assert [c.text for c in parse("who are our partners").clauses] == ["partners"]
    assert [c.text for c in parse("how do I forward calls").clauses] == ["forward", "calls"]
    assert [c.text for c in parse("who").clauses] == ["who"]


def test_unbalanced_quote_is_a_phrase_to_the_end() -> None:
    assert parse('"mobile core').clauses == (Clause("phrase", "mobile core"),)


def test_unknown_field_is_just_a_word() -> None:
    assert parse("colour:blue").clauses == (Clause("word", "colour:blue"),)


def test_source_filter_is_a_filter() -> None:
    assert parse("store source:redux").clauses == (Clause("word", "store"), Clause("word", "redux", "source"))


def test_lucene_boosts_and_fuzzy_marks_are_left_out_and_reported() -> None:
    """`sms^5` searched "sms" and "5" (no page had both: no hit); `"a b"~3` required a "3"."""
    for query, searched in [("sms^5", "sms"), ("colour~", "colour"), ("Mobi~2 Hawaii", "Mobi Hawaii"),
                            ('"Mobi Hawaii"~3', '"Mobi Hawaii"'), ("title:guide^2", "title:guide"),
                            ("-spam^3 ok", "-spam ok")]:
        parsed = parse(query)
        assert parsed.text() == searched and len(parsed.ignored) == 1 and "Lucene" in parsed.ignored[0], query
    for query in ["x^2", "e^x", "C++", "~/.config"]:  # math and paths: no Lucene suffix on a word
        assert not parse(query).ignored, query


def test_a_flag_is_searched_as_its_word_not_excluded() -> None:
    """`serve --port` excluded every section mentioning the port (`-` then the word `-port`)."""
    for query, searched in [("serve --port", "serve port"), ("--no-cache", "no-cache"), ("-foo bar", "-foo bar")]:
        assert parse(query).text() == searched, query
    assert [c.negated for g in parse("serve --port").groups for c in g] == [False, False]
