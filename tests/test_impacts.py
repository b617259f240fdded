"""Long posting lists stored beside each segment as arrays (kb/whoosh/impacts.py): written by kb's writer for new and
merged segments, read back exactly as Whoosh reads the blocks, used by the lean search path with the same results
as without them and as exhaustive scoring, absent from segments Whoosh's own writer wrote (those are read from the
blocks), and a damaged file heals like any other index file."""

from __future__ import annotations

import importlib.util
import marshal
import os
import random
import shutil
import zlib
from array import array
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from whoosh.formats import Positions
from whoosh.reading import TermNotFound

from benchmarks import gensite
from kb import KnowledgeBase, store
from kb import search as kb_search
from kb.manifest import Manifest
from kb.search import engine_for
from kb.store import MANIFEST, IndexStore, checksums
from kb.whoosh import impacts
from kb.whoosh.engine import FastLeaf
from kb.whoosh.impacts import DamagedImpacts, Impacts, decode, encode
from kb.whoosh.writer import open_writer
from tests.sitegen import make_site, marker, revision
from tests.test_segment_writer import _docs, _new, _write


@pytest.fixture
def short_lists(monkeypatch: pytest.MonkeyPatch) -> int:
    """Store lists from 16 postings, so that small test indexes have many."""
    monkeypatch.setattr(impacts, "MIN_POSTINGS", 16)
    return 16


def _whoosh_lists(reader: Any) -> dict[tuple[str, bytes], tuple[list[int], list[float], list[list[int]] | None]]:
    """Every term's (ids, weights, positions or None) as Whoosh's own matcher reads them (deleted documents
    included)."""
    out = {}
    for field, term in reader.all_terms():
        fmt = reader.schema[field].format
        m = reader._terms.matcher(field, term, fmt)
        ids, weights, positions = [], [], []
        while m.is_active():
            ids.append(m.id())
            weights.append(m.weight())
            if fmt.supports("positions"):
                positions.append(m.value_as("positions"))
            m.next()
        out[(field, term)] = (ids, weights, positions if fmt.supports("positions") else None)
    return out


def _check_segments(ix: Any, minimum: int) -> int:
    """Each segment's impacts file holds exactly its lists of at least `minimum` postings, as Whoosh reads them, and
    for the phrase fields their positions."""
    stored = with_positions = 0
    with ix.reader() as r:
        for leaf, _off in r.leaf_readers():
            found = Impacts.open(leaf)
            assert found is not None
            for (field, term), (ids, weights, positions) in _whoosh_lists(leaf).items():
                got = found.postings(field, term)
                if len(ids) < minimum:
                    assert got is None and not found.has(field, term), (field, term)
                    continue
                assert got is not None, (field, term)
                assert list(got[0]) == ids and list(got[1]) == weights, (field, term)
                assert found.ids(field, term) == got[0]  # the ids alone (a probe's partial read)
                stored += 1
                table = found.positions(field, term, getattr(leaf.schema[field].format, "decode_positions", list))
                assert (table is not None) == (field in impacts.POSITION_FIELDS), (field, term)
                if table is not None:
                    assert positions is not None and [table.of(d) for d in ids] == positions, (field, term)
                    assert table.of(max(ids) + 1) is None
                    with_positions += 1
    assert with_positions
    return stored


@pytest.mark.parametrize("limit", [None, 60_000], ids=["in-memory", "spilled"])
def test_long_lists_are_stored_as_whoosh_reads_them(short_lists: int, limit: int | None, tmp_path: Path) -> None:
    ix = _new(tmp_path)
    _write(ix, _docs(700), ours=True, limit=limit)
    assert _check_segments(ix, short_lists) > 20


def test_merged_segments_with_deletions_get_their_own_lists(short_lists: int, tmp_path: Path) -> None:
    ix = _new(tmp_path)
    docs = _docs(300, seed=3)
    for part in range(3):
        _write(ix, docs[part * 100:(part + 1) * 100], ours=True)
    w = open_writer(ix, limitmb=1)
    w.delete_by_term("path", "p3.md")
    w.commit()
    with ix.reader() as r:
        assert len(r.leaf_readers()) == 3 and r.has_deletions()
    assert _check_segments(ix, short_lists) > 20  # the lists keep the deleted documents: the reader drops them
    w = open_writer(ix, limitmb=1)
    w.commit(optimize=True)  # every segment's postings go through the pool of the new one
    with ix.reader() as r:
        assert len(r.leaf_readers()) == 1 and not r.has_deletions()
    assert _check_segments(ix, short_lists) > 20
    names = os.listdir(ix.storage.folder)
    assert len([n for n in names if n.endswith(impacts.EXT)]) == 1  # the merged segments' files went with them


def test_whoosh_written_segments_have_none_and_are_read_from_blocks(short_lists: int, tmp_path: Path) -> None:
    ix = _new(tmp_path)
    _write(ix, _docs(200), ours=False)
    with ix.reader() as r:
        assert all(Impacts.open(leaf) is None for leaf, _ in r.leaf_readers())


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.integers(0, 70_000), min_size=1, max_size=6, unique=True), max_size=40))
def test_positions_round_trip_as_whoosh_decodes_them(lists: list[list[int]]) -> None:
    fmt = Positions()
    values = [fmt.encode(sorted(p)) for p in lists]
    ids = array("i", range(0, 3 * len(values), 3))
    blob = impacts.encode_positions(values)
    assert blob is not None
    table = impacts.decode_positions(ids, blob, fmt.decode_positions)
    assert [table.of(d) for d in ids] == [fmt.decode_positions(v) for v in values]
    assert all(table.of(d + 1) is None for d in ids)
    with pytest.raises(DamagedImpacts):
        impacts.decode_positions(array("i", [*ids, 10**6]), blob, fmt.decode_positions)


def test_empty_values_are_not_stored() -> None:
    """(Whoosh's stock writer drops empty values from a block): such a list's positions come from the blocks."""
    assert impacts.encode_positions([Positions().encode([1]), b""]) is None


@pytest.mark.parametrize("n", [0, 1, 5, 1000])
def test_encoding_round_trips(n: int) -> None:
    rng = random.Random(n)
    ids = array("i", sorted(rng.sample(range(10 * n + 1), n)))
    weights = array("d", array("f", [rng.choice([1.0, 2.0, 3.5, 1e-3]) for _ in range(n)]))
    got = decode(encode(ids, weights), n)
    assert got == (ids, weights)
    with pytest.raises(DamagedImpacts):
        decode(encode(ids, weights), n + 1)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Any:
    root: Path = tmp_path_factory.mktemp("impacts")
    content = root / "site"
    gensite.generate_site(content, 120, 1)
    queries = gensite.make_queries(content, 120, 1)
    mp = pytest.MonkeyPatch()
    mp.setattr(impacts, "MIN_POSTINGS", 16)
    kb = KnowledgeBase(content, root / "index")
    kb.reindex()
    gensite.edit_page(content, 1)
    gensite.add_pages(content, 5, 1)
    gensite.delete_pages(content, 5, 1)
    kb.reindex()  # a segment with deleted passages, and new ones
    mp.undo()
    yield kb, queries
    kb.close()


def _results(kb: KnowledgeBase, queries: list[str]) -> list[Any]:
    return [(q, r.total, r.suggestion, r.fallback, [(h.path, h.anchor, h.part, h.score, h.snippet, h.highlights)
                                                     for h in r.hits])
            for q in queries for r in [kb.search(q, limit=10)]]


def test_search_with_impacts_gives_what_the_blocks_give(site: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    kb, queries = site
    used = {"postings": 0, "positions": 0, "ids": 0}

    def counting(name: str) -> Any:
        real = getattr(Impacts, name)

        def read(self: Impacts, field: str, tbytes: bytes, *args: Any) -> Any:
            got = real(self, field, tbytes, *args)
            used[name] += got is not None
            return got
        return read

    for name in used:
        monkeypatch.setattr(Impacts, name, counting(name))
    monkeypatch.setattr(kb_search, "DENSE", False)
    with_impacts = _results(kb, queries)
    assert used["postings"] > 100 and used["positions"] > 20 and used["ids"] > 20, used
    dense = with_impacts
    if importlib.util.find_spec("numpy") is not None:  # numpy scoring (kb/dense.py) over the same lists
        monkeypatch.setattr(kb_search, "DENSE", True)
        dense = _results(kb, queries)
        monkeypatch.setattr(kb_search, "DENSE", False)
    monkeypatch.setattr(kb_search, "IMPACTS", False)
    without = _results(kb, queries)
    monkeypatch.setattr(kb_search, "EXHAUSTIVE", True)
    exhaustive = _results(kb, queries)
    assert sum(1 for r in exhaustive if r[4]) > len(queries) * 0.8
    for a, b, c, d in zip(with_impacts, without, exhaustive, dense, strict=True):
        assert a == b == c == d, a[0]

    def leaves(searcher: Any) -> list[Any]:
        return engine_for(searcher).leaves

    monkeypatch.setattr(kb_search, "EXHAUSTIVE", False)
    monkeypatch.setattr(kb_search, "IMPACTS", True)
    found = kb._with_reader(lambda r: leaves(r.searcher))
    assert len(found) > 1 and all(isinstance(x, FastLeaf) and x.impacts is not None for x in found)
    assert any(x.deleted for x in found)


def _first_version(index: Path) -> int:
    """Rewrite the live generation's impacts files as an older kb wrote them (lists, no positions); returns how
    many lists had positions."""
    gen = IndexStore(index).live()
    assert gen is not None
    dropped = 0
    for path in gen.iterdir():
        if not path.name.endswith(impacts.EXT):
            continue
        data = path.read_bytes()
        assert data.startswith(impacts.MAGIC)
        offset, size, _crc, _end = impacts.TRAILER.unpack(data[-impacts.TRAILER.size:])
        out, entries = bytearray(impacts.MAGIC_V1), []
        directory = impacts.Directory.loads(data[offset:offset + size])
        for (f, t), (off, n_bytes, n, crc, p_bytes, _p_crc) in directory.items():
            entries.append((f, t, len(out), n_bytes, n, crc))
            out += data[off:off + n_bytes]
            dropped += p_bytes > 0
        old = marshal.dumps(tuple(entries), 4)  # the first version's directory
        out += old + impacts.TRAILER.pack(len(out), len(old), zlib.crc32(old), impacts.END)
        path.write_bytes(bytes(out))
    manifest = Manifest.load(gen / MANIFEST)
    manifest.index = checksums(gen, {})  # as that kb would have recorded them: SHA-1 only, no CRC-32
    manifest.crc32 = {}
    manifest.save(gen / MANIFEST)
    return dropped


def test_an_older_kbs_files_give_their_lists_and_positions_come_from_the_blocks(
        site: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A first-version impacts file (no positions) is not a damaged file: its lists are used as before and the
    positions are read from the blocks, with the same results."""
    kb, queries = site
    index = tmp_path / "index"
    shutil.copytree(kb.index_dir, index, symlinks=True)
    assert _first_version(index) > 20
    monkeypatch.setattr(kb_search, "DENSE", False)
    expected = _results(kb, queries)
    used = {"postings": 0, "positions": 0}
    real = Impacts.postings

    def counting(self: Impacts, field: str, tbytes: bytes) -> Any:
        used["postings"] += (got := real(self, field, tbytes)) is not None
        return got

    monkeypatch.setattr(Impacts, "postings", counting)
    notes: list[str] = []
    with KnowledgeBase(kb.content_dir, index, on_note=notes.append) as old:
        assert _results(old, queries) == expected
        tables = old._with_reader(lambda r: [leaf.position_table("body", t) for leaf in engine_for(r.searcher).leaves
                                             for t in ("the", "a", "of")])
    assert used["postings"] > 100 and not notes, notes
    assert tables and not any(tables)


def _damage_list(index: Path, field: str, term: str) -> None:
    """Flip bytes inside the stored list of (field, term) in the live generation."""
    gen = IndexStore(index).live()
    assert gen is not None
    damaged = 0
    for path in gen.iterdir():
        if not path.name.endswith(impacts.EXT):
            continue
        data = bytearray(path.read_bytes())
        offset, size, _crc, _end = impacts.TRAILER.unpack(data[-impacts.TRAILER.size:])
        for (f, t), (off, n_bytes, *_rest) in impacts.Directory.loads(bytes(data[offset:offset + size])).items():
            if (f, t) == (field, term.encode()):
                at = off + n_bytes // 2
                data[at] ^= 0xFF
                damaged += 1
        path.write_bytes(bytes(data))
    assert damaged


def test_a_damaged_list_is_caught_by_its_checksum_and_healed(short_lists: int, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A large impacts file is only size-checked at open (store.SMALL_FILE): a wrong byte in a list must reach the
    verify-and-rebuild path when it is read, not give wrong scores."""
    monkeypatch.setattr(impacts, "MIN_POSTINGS", 1)
    monkeypatch.setattr(store, "SMALL_FILE", 0)
    site = make_site(tmp_path / "content", pages=6)
    with KnowledgeBase(site.root, tmp_path / "index") as kb:
        kb.reindex()
    clean = tmp_path / "clean"
    shutil.copytree(tmp_path / "index", clean, symlinks=True)
    _damage_list(tmp_path / "index", "body", revision(0))
    notes: list[str] = []
    with KnowledgeBase(site.root, tmp_path / "index", on_note=notes.append) as kb:
        assert {h.path for h in kb.search(revision(0), limit=1000).hits} == site.expected(0)
        assert [h.path for h in kb.search(marker(3)).hits][:1] == [site.rel(3)]
    assert len(notes) == 1 and "damaged" in notes[0], notes


def test_reading_a_damaged_list_raises(short_lists: int, tmp_path: Path) -> None:
    ix = _new(tmp_path)
    _write(ix, _docs(300), ours=True)
    name = next(n for n in os.listdir(ix.storage.folder) if n.endswith(impacts.EXT))
    path = Path(ix.storage.folder) / name
    data = bytearray(path.read_bytes())
    data[len(impacts.MAGIC) + 4] ^= 0xFF
    path.write_bytes(bytes(data))
    with ix.reader() as r:
        found = Impacts.open(r)
        assert found is not None
        field, term = next((f, t) for (f, t), (off, *_rest) in found.directory().items()
                           if off == len(impacts.MAGIC))
        with pytest.raises(DamagedImpacts):
            found.postings(field, term)
    path.write_bytes(bytes(data[:-3]))  # truncated: the trailer is gone
    with ix.reader() as r, pytest.raises(DamagedImpacts):
        Impacts.open(r).postings("body", b"alpha")  # type: ignore[union-attr]


def test_engine_ignores_terms_not_in_the_file(short_lists: int, tmp_path: Path) -> None:
    ix = _new(tmp_path)
    _write(ix, _docs(100), ours=True)
    with ix.reader() as r:
        found = Impacts.open(r)
        assert found is not None
        assert found.postings("body", b"no-such-term") is None
        with pytest.raises(TermNotFound):
            r.postings("body", b"no-such-term")


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.tuples(st.sampled_from(["body", "title", "exact"]), st.binary(max_size=6)),
                       st.tuples(*[st.integers(0, 2**40)] * 6), max_size=30),
       st.tuples(st.sampled_from(["body", "code"]), st.binary(max_size=6)))
def test_directory_finds_every_list_by_bisection(lists: dict[tuple[str, bytes], tuple[int, ...]],
                                                 other: tuple[str, bytes]) -> None:
    directory = impacts.Directory.loads(impacts.Directory.of((f, t, *e) for (f, t), e in lists.items()).dumps())
    assert dict(directory.items()) == lists and len(directory) == len(lists)
    assert all(directory.get(f, t) == e for (f, t), e in lists.items())
    assert directory.get(*other) == lists.get(other)
