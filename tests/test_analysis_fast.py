"""The fused indexing analyzer and the schema's field types must index exactly what the plain Whoosh chain would."""

from __future__ import annotations

import pickle

from hypothesis import given, settings
from hypothesis import strategies as st
from whoosh.filedb.filestore import RamStorage

from kb.analysis import IndexAnalyzer, build_schema, make_analyzer

# Words the splitter and folder care about, mixed with arbitrary text.
_PIECES = st.sampled_from(["GetNetworkInfo", "mms.send.to_subscriber", "CONSENT_REVOKE_EVENT", "read-only", "it’s",
                           "Hawaiʻi", "Café", "the", "a", "v2.1", "x86_64", "HTTPServer", "don't", " ", "\n", ".",
                           "-", "__init__", "ﬁle", "İstanbul", "ß", "123abc", "réseau-mobile"])
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
