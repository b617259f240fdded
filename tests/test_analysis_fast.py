"""The fused indexing analyzer and the schema's field types must index exactly what the plain Whoosh chain would."""

from __future__ import annotations

import pickle
import re
import sys
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from whoosh.filedb.filestore import RamStorage

from kb.analysis import ANALYZER, WORD_PATTERN, IndexAnalyzer, build_schema, make_analyzer, words_in
from kb.marks import MARKS

pytestmark = pytest.mark.usefixtures("private_tempdir")  # Whoosh RamStorage writers (tests/conftest.py)

# Words the splitter and folder care about, mixed with arbitrary text.
_PIECES = st.sampled_from(["GetNetworkInfo", "mms.send.to_subscriber", "CONSENT_REVOKE_EVENT", "read-only", "it’s",
                           "Hawaiʻi", "Café", "the", "a", "v2.1", "x86_64", "HTTPServer", "don't", " ", "\n", ".",
                           "-", "__init__", "ﬁle", "İstanbul", "ß", "123abc", "réseau-mobile",
                           "Re\u0301sume\u0301", "שָׁלוֹם", "नमस्ते", "مَرْحَبًا", "\u0301", "e\u0301-e\u0301"])
TEXTS = st.one_of(st.text(max_size=80), st.lists(_PIECES, max_size=25).map(" ".join),
                  st.lists(st.one_of(_PIECES, st.text(max_size=6)), max_size=20).map("".join))


def _tokens(analyzer, text: str, **kw) -> list[tuple[str, int | None, float]]:
    return [(t.text, t.pos if kw.get("positions") else None, t.boost) for t in analyzer(text, **kw) if not t.stopped]


@settings(max_examples=300, deadline=None)
@given(TEXTS, st.booleans(), st.booleans())
def test_index_analyzer_matches_the_chain_token_for_token(text: str, stem: bool, positions: bool) -> None:
    fast, chain = IndexAnalyzer(stem=stem), make_analyzer(stem=stem)
    for _ in range(2):  # the second round is served from the word cache
        assert _tokens(fast, text, positions=positions) == _tokens(chain, text, positions=positions)


@settings(max_examples=100, deadline=None)
@given(TEXTS)
def test_index_analyzer_with_offsets_or_stops_is_the_chain(text: str) -> None:
    fast, chain = IndexAnalyzer(), make_analyzer()
    kw = {"positions": True, "chars": True, "removestops": False}
    got = [(t.text, t.pos, t.startchar, t.endchar, t.stopped) for t in fast(text, **kw)]
    want = [(t.text, t.pos, t.startchar, t.endchar, t.stopped) for t in chain(text, **kw)]
    assert got == want


def test_schema_survives_pickling_with_its_caches_left_behind() -> None:
    schema = build_schema()
    list(schema["title"].index("Subscriber events"))
    again = pickle.loads(pickle.dumps(schema))
    assert list(again["title"].index("Subscriber events")) == list(schema["title"].index("Subscriber events"))
    assert again["body"].analyzer == schema["body"].analyzer


def test_repeated_title_is_indexed_the_same_each_time() -> None:
    field = build_schema()["title"]
    first = list(field.index("Sending MMS to a subscriber"))
    for other in ("Something else", "Sending MMS to a subscriber"):
        list(field.index(other))
    assert list(field.index("Sending MMS to a subscriber")) == first


def test_typo_candidates_are_unstemmed_words_from_title_heading_and_body() -> None:
    ix = RamStorage().create_index(build_schema())
    with ix.writer() as w:
        w.add_document(key="a#1", path="a.md", page="a", title="Routing", heading="Subscribers",
                       body="Configuring the forwarding", exact="Routing Subscribers Configuring the forwarding")
    with ix.reader() as r:
        assert "spell_body" not in r.schema
        for field in ("title", "heading", "body"):
            found = {t.decode() if isinstance(t, bytes) else t for t in r.terms_within(field, "forwardng", 2, prefix=1)}
            assert "forwarding" in found


@settings(max_examples=200, deadline=None)
@given(TEXTS)
def test_fields_build_the_postings_whoosh_would_build(text: str) -> None:
    from whoosh.fields import TEXT

    schema = build_schema()
    for name in ("title", "heading", "crumbs", "body", "code", "meta", "exact"):
        ours = schema[name]
        stock = TEXT(analyzer=ours.analyzer, phrase=name not in ("code", "exact"))
        assert list(ours.index(text)) == list(stock.index(text)), name


def _per_field(docs: list[dict[str, object]], schema) -> dict[str, dict[bytes, tuple[list, list, list]]]:
    """What analyse_page must give: each field's own `index()` of each passage, grouped by term."""
    out: dict[str, dict[bytes, tuple[list, list, list]]] = {}
    for i, doc in enumerate(docs):
        for name, value in doc.items():
            if value is None or name not in schema or not schema[name].indexed:
                continue
            found = out.setdefault(name, {})
            for tbytes, _freq, weight, vbytes in schema[name].index(value):
                entry = found.setdefault(tbytes, ([], [], []))
                entry[0].append(i)
                entry[1].append(weight)
                entry[2].append(vbytes)
    return out


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(TEXTS, TEXTS, TEXTS), min_size=1, max_size=4), TEXTS,
       st.sampled_from([" \n ", "", " ", "-", "x"]))
def test_a_page_is_analysed_as_each_field_alone_would_be(passages: list[tuple[str, str, str]], title: str,
                                                         sep: str) -> None:
    """Body and exact share one pass over the body's words, an ID field's posting is its value (the key, any text),
    and tags are analysed once per value of the page; the postings and lengths are those of every field analysed
    on its own (also when `exact` does not end in the body after whitespace, where the shortcut must not apply)."""
    from kb.analysis import _BodyAndExact, analyse_page

    schema = build_schema()
    assert _BodyAndExact.of(schema) is not None  # kb's own schema takes the shortcut
    docs: list[dict[str, object]] = [
        {"key": f"p#{n}{other}", "path": "p.md", "page": "p", "title": title, "heading": heading, "body": body,
         "tags": "api,Guide", "exact": sep.join([title, heading, body]) if n % 2 == 0 else body + sep + title,
         "source": "docs"}
        for n, (heading, body, other) in enumerate(passages)]
    page = analyse_page(docs, schema)
    want = _per_field(docs, build_schema())
    assert {name: {t: tuple(map(list, v)) for t, v in terms.items()} for name, terms in page.terms.items()
            if terms} == {name: terms for name, terms in want.items() if terms}
    for name, column in page.lengths.items():
        field = schema[name]
        assert column == [sum(f for _t, f, _w, _v in field.index(d[name])) if d.get(name) is not None else 0
                          for d in docs], name


@settings(max_examples=300, deadline=None)
@given(TEXTS)
def test_the_indexing_word_finder_is_the_tokenizer(text: str) -> None:
    """words_in takes a faster pattern for ASCII text; the words must be WORD_PATTERN's either way."""
    assert words_in(text) == re.findall(WORD_PATTERN, text)
    assert words_in(text.encode("ascii", "ignore").decode()) == re.findall(WORD_PATTERN, text.encode(
        "ascii", "ignore").decode())


def _marks() -> set[int]:
    out: set[int] = set()
    i = 0
    while i < len(MARKS):
        low = high = ord(MARKS[i])
        if i + 2 < len(MARKS) and MARKS[i + 1] == "-":
            high = ord(MARKS[i + 2])
            i += 2
        out.update(range(low, high + 1))
        i += 1
    return out


def test_the_marks_class_is_unicodes_combining_marks() -> None:
    """Every code point of kb/marks.py is a mark to the running Python (or not yet assigned, on Python 3.10's
    Unicode 13); on Unicode 14 (Python 3.11), every mark is there (later versions add a few, which then end a
    word as before)."""
    marks = _marks()
    assert all(unicodedata.category(chr(c)) in ("Mn", "Mc", "Me", "Cn") for c in marks)
    assert sum(unicodedata.category(chr(c)) == "Cn" for c in marks) < 200  # (113 on Unicode 13)
    if unicodedata.unidata_version == "14.0.0":
        assert marks == {c for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) in ("Mn", "Mc", "Me")}


@pytest.mark.parametrize(("written", "typed"), [
    (unicodedata.normalize("NFD", "Résumé naïve"), "resume naive"),  # decomposed (macOS, PDFs) vs plain
    (unicodedata.normalize("NFD", "Résumé naïve"), "Résumé naïve"),  # ... vs precomposed
    ("Résumé naïve", unicodedata.normalize("NFD", "résumé naïve")),
    ("שָׁלוֹם", "שלום"), ("مَرْحَبًا", "مرحبا"),  # pointed Hebrew, Arabic with harakat vs without
])
def test_a_word_with_combining_marks_is_one_word_found_without_them(written: str, typed: str) -> None:
    """Python's \\w leaves combining marks out: such words were cut at every mark ("Re", "sume"), and matched
    neither the precomposed word nor the word without marks."""
    assert [t.text for t in ANALYZER(written)] == [t.text for t in ANALYZER(typed)]
    assert len(list(ANALYZER(written))) == len(typed.split())
