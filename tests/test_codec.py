"""kb's codec must answer field-length questions exactly as Whoosh's stock reader does (BM25F depends on them)."""

from __future__ import annotations

from typing import Any

import pytest
from whoosh.codec.whoosh3 import W3PerDocReader
from whoosh.filedb.filestore import RamStorage

from kb.analysis import build_schema
from kb.whoosh.codec import KbCodec, KbPerDocReader, codec

pytestmark = pytest.mark.usefixtures("private_tempdir")  # Whoosh RamStorage writers (tests/conftest.py)


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


def _build(ix, *, kb_pool: bool, limit: int) -> None:
    from kb.whoosh.codec import KbPostingPool
    from kb.whoosh.writer import open_writer

    w = open_writer(ix, limitmb=1, fast=False) if kb_pool else ix.writer(limitmb=1)
    assert isinstance(w.pool, KbPostingPool) == kb_pool
    w.pool.limit = limit  # force many spilled runs
    for i in range(60):
        text = f"alpha beta{i % 7} GetNetworkInfo{i % 3} gamma delta{i} " * (1 + i % 4)
        w.add_document(key=f"p{i}#", path=f"p{i}.md", page=f"p{i}", title=f"Page {i}", body=text, exact=text)
    assert len(w.pool.runs) > 3
    w.commit()


def test_spilling_posting_pool_builds_the_same_index_as_whoosh() -> None:
    ours, stock = RamStorage().create_index(build_schema()), RamStorage().create_index(build_schema())
    _build(ours, kb_pool=True, limit=20_000)
    _build(stock, kb_pool=False, limit=20_000)
    with ours.reader() as a, stock.reader() as b:
        assert list(a.all_terms()) == list(b.all_terms())
        for field, term in a.all_terms():
            assert list(a.postings(field, term).items_as("positions" if field == "body" else "weight")) == \
                list(b.postings(field, term).items_as("positions" if field == "body" else "weight"))


@pytest.mark.parametrize("cutoff", [2**15, 0])  # Whoosh's default (no offsets written), offsets always written
def test_stored_bytes_reader_reads_what_the_stock_reader_reads(cutoff: int) -> None:
    from whoosh.columns import CompressedBytesColumn

    from kb.whoosh.codec import StoredBytesReader

    values = [b"", b"a", b"", b"stored fields " * 40, b"", b"x" * 300] * 7 + [b""]
    column = CompressedBytesColumn()
    storage = RamStorage()
    with storage.create_file("col") as f:
        writer = column.writer(f)
        writer.allow_offsets, writer.cutoff = True, cutoff
        for doc, value in enumerate(values):
            if value:
                writer.add(doc, value)
        writer.finish(len(values))
    length = storage.file_length("col")
    stock = column.reader(storage.open_file("col"), 0, length, len(values))
    dbfile = storage.open_file("col")
    whole_arrays: list[tuple[Any, ...]] = []
    read_array = dbfile.get_array
    dbfile.get_array = lambda *args: whole_arrays.append(args) or read_array(*args)
    ours = StoredBytesReader(dbfile, 0, length, len(values), "zlib")
    assert stock.had_stored_offsets == ours.had_stored_offsets == (cutoff == 0)
    assert [ours[d] for d in range(len(values))] == [stock[d] for d in range(len(values))] == values
    # Written offsets are read an entry at a time, not as whole arrays (a search reads ~20 documents of 236,000).
    assert len(whole_arrays) == (0 if cutoff == 0 else 1)
    assert (list(ours._offsets), list(ours._lengths)) == (list(stock._offsets), list(stock._lengths))
    assert len(ours._offsets) == len(ours._lengths) == len(values)
    with pytest.raises(IndexError):
        ours._lengths[len(values)]


def test_an_index_reads_its_stored_fields_through_stored_bytes_reader() -> None:
    from kb.whoosh.codec import StoredBytesReader

    ix = RamStorage().create_index(build_schema())
    with ix.writer(codec=codec()) as w:
        for i in range(30):
            w.add_document(key=f"p#{i}", path="p.md", page="p", title=f"Title {i}", body=f"body {i}", exact="x")
    with ix.reader() as reader:
        assert [reader.stored_fields(d)["key"] for d in range(30)] == [f"p#{i}" for i in range(30)]
        assert isinstance(reader._perdoc._readers["_stored"]._child, StoredBytesReader)
