"""kb's per-term segment writer (kb/whoosh/writer.py) must write what Whoosh's own writer writes: a stock Whoosh
reader sees the same terms, postings (ids, weights, values), block statistics, term statistics, field lengths,
stored fields and document count, whether the pool spilled runs or not, and when segments are merged."""

from __future__ import annotations

import random
import zlib
from pathlib import Path
from typing import Any

import pytest
from whoosh.codec.whoosh3 import W3LeafMatcher
from whoosh.fields import ID, TEXT, Schema
from whoosh.filedb.filestore import FileStorage

from kb.analysis import analyse_doc, build_schema
from kb.whoosh.writer import TermPool, TermSegmentWriter, open_writer

pytestmark = pytest.mark.usefixtures("private_tempdir")  # Whoosh RamStorage writers (tests/conftest.py)

WORDS = ("alpha beta gamma delta token refresh forward call GetNetworkInfo mms.send.to_subscriber in-flight Café "
         "configure server webhook retries access index search page the of and").split()


_COUNT = iter(range(1_000_000))


def _new(tmp: Path, schema: Any = None) -> Any:
    """An empty index in its own folder under the test's tmp_path (Whoosh's RamStorage keeps its temporary files
    in one folder of the system's temp directory, shared by every process running these tests)."""
    folder = tmp / f"ix{next(_COUNT)}"
    folder.mkdir()
    return FileStorage(str(folder)).create_index(schema if schema is not None else build_schema())


def _docs(n: int, seed: int = 7) -> list[dict[str, Any]]:
    rnd = random.Random(seed)
    docs = []
    for i in range(n):
        body = " ".join(rnd.choice(WORDS) for _ in range(rnd.choice([0, 1, 3, 12, 40, 400])))
        doc: dict[str, Any] = {
            "key": f"p{i // 5}#{i}", "path": f"p{i // 5}.md", "page": f"p{i // 5}", "anchor": f"a{i}",
            "section": f"Section {i}", "breadcrumb": "A > B", "line": i, "part": 0,
            "title": f"Page {i // 5} about {WORDS[i % len(WORDS)]}", "heading": "Heading " + WORDS[i % 7],
            "crumbs": "" if i % 3 else "Guide \n Setup", "body": body, "code": "x = GetNetworkInfo()" if i % 4 else "",
            "meta": "a description", "tags": "api,guide" if i % 2 else "", "exact": body, "source": "docs",
            "route": f"/p{i // 5}",
        }
        if i % 11 == 0:
            doc["meta"] = None  # a field given as None is left out, as Whoosh does
        docs.append(doc)
    return docs


def _write(ix: Any, docs: list[dict[str, Any]], *, ours: bool, limit: int | None = None, analysed: bool = True,
           **commit: Any) -> Any:
    schema = build_schema()
    w = open_writer(ix, limitmb=1) if ours else ix.writer(limitmb=1)
    assert isinstance(w, TermSegmentWriter) == ours
    if ours:
        assert w.fast and isinstance(w.pool, TermPool)
    if limit is not None:
        w.pool.limit = limit
    for doc in docs:
        w.add_document(**(analyse_doc(doc, schema) if analysed else doc))
    pool = w.pool
    w.commit(**commit)
    return pool


def _blocks(reader: Any, field: str, term: bytes) -> list[tuple[Any, ...]]:
    """Every block's header as a stock matcher reads it, and its decoded postings."""
    m = reader.postings(field, term)
    if not isinstance(m, W3LeafMatcher):
        return [("inline", tuple(m.all_ids()))]
    out = []
    while True:
        m._read_data()  # the block's (ids, weights, values) tuple as stored
        raw = zlib.decompress(m._postfile.get(m._dataoffset, m._nextoffset - m._dataoffset))
        out.append((m._blocklength, m._maxid, m._maxweight, m._compression, m._minlength, m._maxlength, m._data,
                    raw[:2]))  # pickle protocol 2, as Whoosh writes it
        if m._lastblock:
            return out
        m._next_block()


def _same(a: Any, b: Any) -> None:
    """Everything a stock reader sees in index `a` equals what it sees in `b`."""
    with a.reader() as ra, b.reader() as rb:
        assert ra.doc_count_all() == rb.doc_count_all() and ra.doc_count() == rb.doc_count()
        terms = list(ra.all_terms())
        assert terms == list(rb.all_terms()) and terms
        for field, term in terms:
            ia, ib = ra.term_info(field, term), rb.term_info(field, term)
            assert (ia.weight(), ia.doc_frequency(), ia.min_length(), ia.max_length(), ia.max_weight(),
                    ia.min_id(), ia.max_id()) == \
                   (ib.weight(), ib.doc_frequency(), ib.min_length(), ib.max_length(), ib.max_weight(),
                    ib.min_id(), ib.max_id()), (field, term)
            assert ra.doc_frequency(field, term) == rb.doc_frequency(field, term)
            assert ra.frequency(field, term) == rb.frequency(field, term)
            assert _blocks(ra, field, term) == _blocks(rb, field, term), (field, term)
        fields = set(build_schema().names())
        for field in fields:
            assert ra.field_length(field) == rb.field_length(field), field
            for doc in range(ra.doc_count_all()):
                assert ra.doc_field_length(doc, field) == rb.doc_field_length(doc, field), (field, doc)
        assert list(ra.all_stored_fields()) == list(rb.all_stored_fields())
        assert [ra.is_deleted(d) for d in range(ra.doc_count_all())] == \
               [rb.is_deleted(d) for d in range(rb.doc_count_all())]


@pytest.mark.parametrize("limit", [None, 60_000], ids=["in-memory", "spilled"])
@pytest.mark.parametrize("analysed", [True, False], ids=["analysed", "plain"])
def test_writes_what_whoosh_writes(limit: int | None, analysed: bool, tmp_path: Path) -> None:
    docs = _docs(700)
    ours, stock = _new(tmp_path), _new(tmp_path)
    pool = _write(ours, docs, ours=True, limit=limit, analysed=analysed)
    _write(stock, docs, ours=False, limit=limit, analysed=analysed)
    if limit is not None:
        assert pool.spilled > 3  # several runs merged term by term
    with ours.reader() as r:  # common terms span several blocks
        assert max(len(_blocks(r, "body", t)) for f, t in r.all_terms() if f == "body") >= 3
    _same(ours, stock)


def test_merging_segments_and_deletions_write_what_whoosh_writes(tmp_path: Path) -> None:
    docs = _docs(300, seed=3)
    ours, stock = _new(tmp_path), _new(tmp_path)
    for ix, mine in ((ours, True), (stock, False)):
        for part in range(3):
            _write(ix, docs[part * 100:(part + 1) * 100], ours=mine)
        w = open_writer(ix, limitmb=1) if mine else ix.writer(limitmb=1)
        w.delete_by_term("path", "p3.md")
        for doc in docs[:5]:
            w.add_document(**analyse_doc(doc, build_schema()))
        w.commit(optimize=True)  # every segment's postings go through the pool of the new one
    _same(ours, stock)


def test_capability_check_falls_back_to_whoosh_for_what_it_does_not_write(tmp_path: Path) -> None:
    from whoosh.formats import Positions

    schema = Schema(key=ID(stored=True), body=TEXT(vector=Positions()))
    ix = _new(tmp_path, schema)
    w = open_writer(ix, limitmb=1)
    assert isinstance(w, TermSegmentWriter) and not w.fast  # vectors: Whoosh's own writer
    w.add_document(key="a", body="alpha beta")
    w.commit()
    with ix.searcher() as s:
        assert s.document(key="a") == {"key": "a"}
        assert list(s.reader().vector_as("weight", 0, "body")) == [("alpha", 1.0), ("beta", 1.0)]


def test_forced_stock_path_writes_the_same_index(tmp_path: Path) -> None:
    docs = _docs(200, seed=5)
    fast, stock = _new(tmp_path), _new(tmp_path)
    _write(fast, docs, ours=True)
    w = open_writer(stock, limitmb=1, fast=False)
    assert not w.fast and not isinstance(w.pool, TermPool)
    for doc in docs:
        w.add_document(**analyse_doc(doc, build_schema()))
    w.commit()
    _same(fast, stock)


def test_cancel_removes_spilled_runs(tmp_path: Path) -> None:
    ix = _new(tmp_path)
    w = open_writer(ix, limitmb=1)
    w.pool.limit = 20_000
    for doc in _docs(100):
        w.add_document(**doc)
    assert w.pool.runs
    temp = w._tempstorage
    names = list(temp.list())
    assert names
    w.cancel()
    assert not w.pool.runs and not Path(temp.folder).exists()
    assert ix.doc_count_all() == 0


def _count_unmarshalled(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The sizes of the batches the writer module unmarshals from now on (a list filled as it reads them)."""
    import marshal

    import kb.whoosh.writer as writer_module

    loaded: list[int] = []

    class Counting:
        @staticmethod
        def loads(data: bytes) -> Any:
            loaded.append(len(data))
            return marshal.loads(data)

    monkeypatch.setattr(writer_module, "marshal", Counting)
    return loaded


def test_a_spilled_run_is_read_for_the_fields_asked_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """At commit the writer and its helper each read every run for their own fields: the other's batches are skipped
    without being unmarshalled."""
    w = open_writer(_new(tmp_path), limitmb=1)
    pool = w.pool
    assert isinstance(pool, TermPool)
    pool.add_page("body", 0, {b"alpha": ([0, 1], [1.0, 1.0], [b"\x00", b"\x01"])})
    pool.add_page("title", 0, {b"beta": ([0], [1.0], [b"\x02"])})
    pool.save()
    loaded = _count_unmarshalled(monkeypatch)
    terms = pool.iter_terms(("title", b""), None, keep=True)
    got = [(f, t, [(list(d), ws, vs) for d, ws, vs in chunks]) for f, t, chunks in terms]
    assert got == [("title", b"beta", [([0], [1.0], [b"\x02"])])] and len(loaded) == 1
    assert [t for _f, t, _c in pool.iter_terms(None, ("title", b""))] == [b"alpha"]
    w.cancel()


def test_a_range_inside_a_field_skips_the_run_s_batches_outside_it(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Each batch of a run names its first and last terms: a range of terms inside a field (a piece the writer
    takes from the helper's part) unmarshals only the batches that hold some of it."""
    import kb.whoosh.writer as writer_module

    monkeypatch.setattr(writer_module, "RUN_BATCH", 2)
    w = open_writer(_new(tmp_path), limitmb=1)
    pool = w.pool
    assert isinstance(pool, TermPool)
    letters = [bytes([c]) for c in range(ord("a"), ord("z") + 1)]
    pool.add_page("body", 0, {t: ([0], [1.0], [t]) for t in letters})
    pool.save()
    loaded = _count_unmarshalled(monkeypatch)
    got = [t for _f, t, _c in pool.iter_terms(("body", b"m"), ("body", b"q"), keep=True)]
    assert got == [b"m", b"n", b"o", b"p"] and len(loaded) == 2  # batches of two terms: (m, n), (o, p)
    got = [t for _f, t, _c in pool.iter_terms(("body", b"l"), ("body", b"o"), keep=True)]
    assert got == [b"l", b"m", b"n"] and len(loaded) == 2 + 2  # (k, l), (m, n)
    w.cancel()


def test_a_range_of_terms_cut_inside_a_field_is_read_from_runs_and_memory(tmp_path: Path) -> None:
    """The commit's two processes may cut a field's terms between them: each range gets exactly its terms, from
    the spilled runs and from memory, in document order, and taking one range out of memory leaves the other."""
    w = open_writer(_new(tmp_path), limitmb=1)
    pool = w.pool
    assert isinstance(pool, TermPool)
    pool.add_page("body", 0, {b"alpha": ([0], [1.0], [b"a"]), b"mid": ([0], [1.0], [b"m"]),
                              b"zulu": ([1], [1.0], [b"z"])})
    pool.add_page("title", 0, {b"beta": ([0], [1.0], [b"b"])})
    pool.save()
    pool.add_page("body", 2, {b"alpha": ([0], [2.0], [b"A"]), b"mike": ([1], [1.0], [b"k"])})
    pool.add_page("title", 2, {b"beta": ([1], [1.0], [b"B"])})

    def read(lo: Any, hi: Any) -> list[tuple[str, bytes, list[int]]]:
        return [(f, t, [d for docs, _ws, _vs in chunks for d in docs])
                for f, t, chunks in pool.iter_terms(lo, hi, keep=True)]

    cut = ("body", b"mike")
    assert read(None, cut) == [("body", b"alpha", [0, 2]), ("body", b"mid", [0])]
    assert read(cut, None) == [("body", b"mike", [3]), ("body", b"zulu", [1]), ("title", b"beta", [0, 3])]
    assert read(("title", b""), None) == [("title", b"beta", [0])]  # memory's share was taken by the last read
    w.cancel()


def _pages(docs: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    pages: dict[str, list[dict[str, Any]]] = {}
    for doc in docs:
        pages.setdefault(doc["path"], []).append(doc)
    return list(pages.values())


@pytest.mark.parametrize("limit", [None, 60_000], ids=["in-memory", "spilled"])
@pytest.mark.parametrize("fast", [True, False], ids=["per-term", "whoosh"])
def test_pages_analysed_by_term_write_what_whoosh_writes(limit: int | None, fast: bool, tmp_path: Path) -> None:
    from kb.analysis import analyse_page

    docs = _docs(600, seed=11)
    ours, stock = _new(tmp_path), _new(tmp_path)
    w = open_writer(ours, limitmb=1, fast=fast)
    if limit is not None:
        w.pool.limit = limit
    for page in _pages(docs):
        w.add_page(analyse_page(page, build_schema()))
    spilled = getattr(w.pool, "spilled", None)
    w.commit()
    if fast and limit is not None:
        assert spilled is not None and spilled > 3
    _write(stock, docs, ours=False, limit=limit, analysed=False)
    _same(ours, stock)


def test_a_renamed_page_is_indexed_under_its_new_id(tmp_path: Path) -> None:
    from kb.analysis import analyse_page

    docs = _docs(10, seed=2)
    page = analyse_page(docs[:5], build_schema())
    renamed = page.with_field([{**d, "page": "other/id"} for d in page.docs], "page", build_schema())
    ours, stock = _new(tmp_path), _new(tmp_path)
    w = open_writer(ours, limitmb=1)
    w.add_page(renamed)
    w.commit()
    _write(stock, [{**d, "page": "other/id"} for d in docs[:5]], ours=False, analysed=False)
    _same(ours, stock)
    with ours.searcher() as s:
        assert s.doc_count() == 5 and all(s.stored_fields(n)["page"] == "other/id" for n in range(5))


def test_postings_added_out_of_document_order_are_written_in_order(tmp_path: Path) -> None:
    """Whoosh's pool sorts every posting; kb's relies on document order, so one out of order (a merge could
    add an older document after a newer one) is sorted before its term is written."""
    schema = Schema(key=ID(stored=True), body=TEXT())
    ours, stock = _new(tmp_path, schema), _new(tmp_path, schema)
    for ix, mine in ((ours, True), (stock, False)):
        w = open_writer(ix, limitmb=1) if mine else ix.writer()
        for n in range(4):
            w.add_document(key=f"d{n}", body="alpha beta")
        w.pool.add(("body", b"alpha", 1, 2.0, b"\x00\x00\x00\x02"))  # document 1 again, after document 3
        w.commit()
    with ours.reader() as a, stock.reader() as b:
        assert list(a.postings("body", b"alpha").all_ids()) == list(b.postings("body", b"alpha").all_ids())


def test_equal_values_of_a_block_are_pickled_once(tmp_path: Path) -> None:
    """Pages analysed in other processes bring equal position values as separate objects; the block writer
    pickles each distinct value once per block and refers back to it (what a stock reader reads is unchanged)."""
    import pickle

    from kb.analysis import analyse_page

    docs = [{**d, "body": "alpha beta gamma", "exact": "alpha beta gamma"} for d in _docs(60, seed=4)]
    pages = [pickle.loads(pickle.dumps(analyse_page(page, build_schema()))) for page in _pages(docs)]
    ours = _new(tmp_path)
    w = open_writer(ours, limitmb=1)
    for page in pages:
        w.add_page(page)
    w.commit()
    with ours.reader() as r:
        m = r.postings("body", b"alpha")
        m._read_data()
        raw = zlib.decompress(m._postfile.get(m._dataoffset, m._nextoffset - m._dataoffset))
        values = pickle.loads(raw)[2]
        assert len(values) == 60 and len(set(values)) == 1 and len({id(v) for v in values}) == 1
        assert raw.count(values[0].decode("latin-1").encode("utf-8")) == 1  # the value is written once
        assert list(m.all_ids()) == list(range(60))


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="the commit helper is a forked process")
@pytest.mark.parametrize("limit", [None, 60_000], ids=["in-memory", "spilled"])
@pytest.mark.parametrize("helper", ["works", "fails"])
@pytest.mark.parametrize("cut", ["estimated", ("body", b"m"), ("exact", b"")], ids=["estimated", "in-body", "field"])
def test_commit_shared_with_a_helper_process_writes_what_whoosh_writes(
        limit: int | None, helper: str, cut: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A large segment's later terms (from a term inside a field, or from a field's first) are written by a forked
    helper and appended; if the helper fails, the writer writes them itself. Either way a stock reader sees what
    Whoosh's own writer wrote."""
    import os

    import kb.whoosh.writer as writer_module
    from kb.analysis import analyse_page

    monkeypatch.setattr(writer_module, "PARALLEL_POSTINGS", 1)
    parent = os.getpid()
    splits: list[Any] = []
    real_cut, real_encode = writer_module._cut, writer_module._encode

    def split(pool: Any, fields: list[str], costs: dict[str, float]) -> Any:
        splits.append(real_cut(pool, fields, costs) if cut == "estimated" else cut)
        return splits[-1]

    def encode(*args: Any) -> Any:
        if helper == "fails" and os.getpid() != parent:
            raise OSError(28, "No space left on device")
        return real_encode(*args)

    monkeypatch.setattr(writer_module, "_cut", split)
    monkeypatch.setattr(writer_module, "_encode", encode)
    docs = _docs(600, seed=13)
    ours, stock = _new(tmp_path), _new(tmp_path)
    w = open_writer(ours, limitmb=1)
    if limit is not None:
        w.pool.limit = limit
    for page in _pages(docs):
        w.add_page(analyse_page(page, build_schema()))
    spilled = w.pool.spilled
    w.commit()
    assert splits and splits[0] is not None and splits[0] > (min(w.pool.counts), b"")  # the work was shared
    if limit is not None:
        assert spilled > 3
    _write(stock, docs, ours=False, limit=limit, analysed=False)
    _same(ours, stock)
    assert not [p for p in Path(w._tempstorage.folder).parent.glob("*_helper*")]


def _term_files(ix: Any, docs: list[dict[str, Any]], limit: int | None = None) -> dict[str, bytes]:
    """Build `ix` from `docs` page by page with kb's writer (pool `limit` when given); its postings and term index
    files' bytes by suffix."""
    from kb.analysis import analyse_page

    w = open_writer(ix, limitmb=1)
    if limit is not None:
        w.pool.limit = limit
    for page in _pages(docs):
        w.add_page(analyse_page(page, build_schema()))
    w.commit()
    folder = Path(ix.storage.folder)
    return {p.suffix: p.read_bytes() for p in folder.glob("MAIN_*") if p.suffix in (".pst", ".trm")}


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="the commit helper is a forked process")
@pytest.mark.parametrize("helper", ["late", "slow", "slow-then-fails"])
def test_the_writer_takes_the_pieces_of_the_helper_s_part_the_helper_has_not_reached(
        helper: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The helper's part is cut into pieces; the writer, done with its own part, takes pieces from the end until
    none is left: all of them when the helper has not started (late), all but the first when the helper is slow
    in it, and then the first too when the helper fails. The postings and term index files are byte for byte what
    one process writes (which the tests above compare with Whoosh's own writer). The pool is spilled: each piece
    is a range read from the runs and from memory."""
    import time

    import kb.whoosh.writer as writer_module

    docs = _docs(600, seed=13)
    limit = 60_000
    monkeypatch.setattr(writer_module, "PARALLEL_POSTINGS", 10**12)
    alone = _term_files(_new(tmp_path), docs, limit)
    real_claimed, real_steal, real_pieces = writer_module._claimed, writer_module._steal, writer_module._pieces
    pieces: list[int] = []
    stolen: list[int] = []

    first, done = tmp_path / "helper-claimed-its-first-piece", tmp_path / "writer-stole-the-rest"

    def wait_for(flag: Path) -> None:  # files, not sleeps: the two processes' speeds under load are unknown
        deadline = time.monotonic() + 60
        while not flag.exists():
            assert time.monotonic() < deadline, f"{flag.name} never happened"
            time.sleep(0.01)

    def claimed(*args: Any) -> Any:  # (runs in the helper)
        if helper == "late":
            wait_for(done)  # starts only when the writer has taken every piece
        for n, entry in enumerate(real_claimed(*args)):
            yield entry
            if n == 0 and helper != "late":
                first.touch()
                wait_for(done)  # in its first piece while the writer takes the others
        if helper == "slow-then-fails":
            raise OSError(28, "No space left on device")

    def steal(*args: Any) -> Any:
        if helper != "late":
            wait_for(first)
        stolen.append(len(out := real_steal(*args)))
        done.touch()
        return out

    def count(*args: Any) -> Any:
        pieces.append(len(out := real_pieces(*args)))
        return out

    monkeypatch.setattr(writer_module, "PARALLEL_POSTINGS", 1)
    monkeypatch.setattr(writer_module, "_claimed", claimed)
    monkeypatch.setattr(writer_module, "_steal", steal)
    monkeypatch.setattr(writer_module, "_pieces", count)
    assert _term_files(_new(tmp_path), docs, limit) == alone and len(alone) == 2
    assert pieces[0] >= 3 and stolen == [pieces[0] if helper == "late" else pieces[0] - 1]


def _fail_after(entries: Any, n: int) -> Any:
    for i, entry in enumerate(entries):
        if i == n:
            raise OSError(28, "No space left on device")
        yield entry


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="the commit helper is a forked process")
@pytest.mark.parametrize("when", ["midway", "at its end"])
def test_a_helper_failing_after_its_terms_were_added_leaves_the_files_one_process_writes(
        when: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The writer adds the helper's terms to the term index batch by batch as the helper announces them; when the
    helper then fails (midway, or after its last batch), those entries are taken out again and the writer writes
    the helper's fields itself: the postings and term index files are byte for byte what one process writes."""
    import os

    import kb.whoosh.writer as writer_module
    from kb.analysis import analyse_page

    docs = _docs(600, seed=13)

    def build() -> Path:
        ix = _new(tmp_path)
        w = open_writer(ix, limitmb=1)
        for page in _pages(docs):
            w.add_page(analyse_page(page, build_schema()))
        w.commit()
        return Path(ix.storage.folder)

    def files(folder: Path) -> dict[str, bytes]:
        return {p.suffix: p.read_bytes() for p in folder.glob("MAIN_*") if p.suffix in (".pst", ".trm")}

    monkeypatch.setattr(writer_module, "PARALLEL_POSTINGS", 10**12)
    alone = build()
    parent = os.getpid()
    real_encode, real_finish = writer_module._encode, writer_module._SinkPart.finish
    real_helper_terms = writer_module._helper_terms
    added: list[Any] = []

    def encode(*args: Any) -> Any:
        entries = real_encode(*args)
        return _fail_after(entries, 100) if when == "midway" and os.getpid() != parent else entries

    def finish(helper: Any, where: Any) -> Any:
        if when == "at its end" and os.getpid() != parent:
            raise OSError(28, "No space left on device")
        return real_finish(helper, where)

    def helper_terms(*args: Any) -> Any:
        for entry in real_helper_terms(*args):
            added.append(entry)
            yield entry

    monkeypatch.setattr(writer_module, "PARALLEL_POSTINGS", 1)
    monkeypatch.setattr(writer_module, "RUN_BATCH", 16)
    monkeypatch.setattr(writer_module, "_encode", encode)
    monkeypatch.setattr(writer_module._SinkPart, "finish", staticmethod(finish))
    monkeypatch.setattr(writer_module, "_helper_terms", helper_terms)
    shared = build()
    assert len(added) == 96 if when == "midway" else len(added) > 100  # announced batches of 16 were added
    assert files(shared) == files(alone) and len(files(alone)) == 2
    assert not list(shared.glob("*_helper*"))


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="the commit helper is a forked process")
@pytest.mark.parametrize("numbers", ["unknown", "wrong"])
def test_the_writer_makes_the_keys_of_helper_records_whose_field_number_it_does_not_match(
        numbers: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The helper makes its terms' term index records with the field numbers it expects the writer's field writer
    to give; when it has none, or they are not the writer's, the writer makes those keys and hashes itself: the
    postings and term index files are byte for byte what one process writes."""
    import kb.whoosh.writer as writer_module

    docs = _docs(600, seed=13)

    monkeypatch.setattr(writer_module, "PARALLEL_POSTINGS", 10**12)
    alone = _term_files(_new(tmp_path), docs)
    real_records = writer_module._records

    def records(encoded: Any, hashfn: Any, fieldids: dict[str, int]) -> Any:
        assert fieldids  # the writer's field writer had no field yet: the helper was told the numbers
        return real_records(encoded, hashfn, {} if numbers == "unknown" else {f: n + 1 for f, n in fieldids.items()})

    monkeypatch.setattr(writer_module, "PARALLEL_POSTINGS", 1)
    monkeypatch.setattr(writer_module, "_records", records)
    assert _term_files(_new(tmp_path), docs) == alone and len(alone) == 2


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="the commit helper is a forked process")
@pytest.mark.parametrize("helper", ["shared", "works", "fails"])
def test_the_impacts_file_gets_every_long_list_whoever_writes_it(helper: str, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The segment's impacts file (kb/whoosh/impacts.py, fed term by term) gets every long list once, readable at
    its offset, whether one process writes the segment, the helper writes the later fields (its part is appended),
    or the helper fails and the writer writes them itself."""
    import os

    import kb.whoosh.impacts as impacts
    import kb.whoosh.writer as writer_module
    from kb.analysis import analyse_page

    monkeypatch.setattr(writer_module, "PARALLEL_POSTINGS", 10**12 if helper == "shared" else 1)
    monkeypatch.setattr(impacts, "MIN_POSTINGS", 5)
    parent = os.getpid()
    real_encode = writer_module._encode

    def encode(*args: Any) -> Any:
        if helper == "fails" and os.getpid() != parent:
            raise OSError(28, "No space left on device")
        return real_encode(*args)

    merged: list[int] = []  # entries of the helper's part (not of the pieces the writer took from its end)
    real_merge = writer_module._SinkPart.merge

    def merge(sink: Any, side: Any, tempstore: Any) -> None:
        if "_piece" not in side[0][0]:
            merged.append(len(side[1]))
        real_merge(sink, side, tempstore)

    monkeypatch.setattr(writer_module, "_encode", encode)
    monkeypatch.setattr(writer_module._SinkPart, "merge", staticmethod(merge))
    docs = _docs(300, seed=17)
    ours = _new(tmp_path)
    w = open_writer(ours, limitmb=1)
    for page in _pages(docs):
        w.add_page(analyse_page(page, build_schema()))
    w.commit()
    with ours.reader() as r:
        lists = {(f, t): list(r.postings(f, t).items_as("weight")) for f, t in r.all_terms()}
        want = {key: ([i for i, _ in v], [w for _, w in v]) for key, v in lists.items() if len(v) >= 5}
        side = impacts.Impacts.open(r)
        assert side is not None
        got = {}
        for fieldname, tbytes in side.directory():
            found = side.postings(fieldname, tbytes)
            assert found is not None
            got[(fieldname, tbytes)] = (list(found[0]), list(found[1]))
    assert got == want and len(got) > 20
    assert (merged and merged[0] > 0) if helper == "works" else not merged  # the helper's part was appended


def test_a_failed_segment_write_raises_its_own_error_not_the_impacts_file_s(tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """When writing the postings fails (disk full), the impacts file is abandoned, not finished: finishing it could
    fail too and replace the error the user needs to see."""
    import kb.whoosh.impacts as impacts
    import kb.whoosh.writer as writer_module
    from kb.analysis import analyse_page

    def full(*_args: Any) -> None:
        raise OSError(28, "No space left on device")

    def finish(_self: Any) -> None:
        raise ValueError("I/O operation on closed file")

    monkeypatch.setattr(writer_module, "write_segment_terms", full)
    monkeypatch.setattr(impacts.ImpactsWriter, "close", finish)
    w = open_writer(_new(tmp_path), limitmb=1)
    for page in _pages(_docs(5)):
        w.add_page(analyse_page(page, build_schema()))
    with pytest.raises(OSError, match="No space left"):
        w.commit()
