"""kb's codec must answer field-length questions exactly as Whoosh's stock reader does (BM25F depends on them)."""

from __future__ import annotations

from whoosh.codec.whoosh3 import W3PerDocReader
from whoosh.filedb.filestore import RamStorage

from kb.analysis import build_schema
from kb.codec import KbCodec, KbPerDocReader, codec


def test_field_lengths_match_the_stock_reader_for_every_field_and_document() -> None:
    ix = RamStorage().create_index(build_schema())
    assert isinstance(codec(), KbCodec)
    with ix.writer(codec=codec()) as w:
        for i in range(40):
            body = " ".join(["word"] * (i * 7 % 300))  # includes empty and long bodies
            w.add_document(key=f"p#{i}", path="p.md", page="p", title="Title" if i % 3 else "",
                           body=body, exact=body, tags="a,b" if i % 2 else "")
    segment = ix._segments()[0]
    assert isinstance(segment.codec(), KbCodec)
    stock, ours = W3PerDocReader(ix.storage, segment), KbPerDocReader(ix.storage, segment)
    for field in ("title", "body", "exact", "tags", "key", "path", "heading", "no_such_field"):
        for doc in range(segment.doc_count_all()):
            assert ours.doc_field_length(doc, field) == stock.doc_field_length(doc, field), (field, doc)


def test_index_written_with_kb_codec_searches_like_any_whoosh_index() -> None:
    from whoosh.query import Term

    ix = RamStorage().create_index(build_schema())
    with ix.writer(codec=codec()) as w:
        w.add_document(key="a#1", path="a.md", page="a", title="Forwarding calls", body="Forward a call", exact="x")
        w.add_document(key="b#1", path="b.md", page="b", title="Other", body="Nothing here", exact="y")
    with ix.searcher() as s:
        assert [h["key"] for h in s.search(Term("body", "forward"))] == ["a#1"]
