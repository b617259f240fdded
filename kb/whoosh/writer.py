"""A Whoosh segment writer that works per term instead of per posting, writing Whoosh's own W3 segment files.

Whoosh's writer handles every posting on its own several times: it adds it to a pool as a tuple, sorts all of them,
spills and merges them through run files, then hands them one at a time to the codec, which asks the per-document
reader for the document's field length and appends it to a block. That per-posting Python was most of a full
reindex (docs/performance.md). Here each document's postings go straight into a list per (field, term); documents
arrive in order, so those lists are already sorted, and when the pool is over its memory limit it spills a run
sorted by term (memory stays flat in the size of the site). At commit, runs are merged term by term (a term's pieces
concatenate in run order), and each term's postings are cut into blocks with list slices; a block's statistics
(maximum weight, shortest and longest field length) come from the lengths column in one lookup per posting.

The files are the W3 codec's, written by its own field writer, term index and per-document writer: any Whoosh reads
them, and a stock reader sees the same terms, postings, block statistics, lengths and stored fields as from Whoosh's
writer (tests/test_segment_writer.py checks it). What is Whoosh's own (the per-document writer, the TOC, deletions,
merging of small segments, locking, cancel) is inherited unchanged. `supported()` is the one capability check; when
it fails (another Whoosh, a schema with vectors or separate spelling words, another codec), kb uses Whoosh's writer.
"""

from __future__ import annotations

import heapq
import marshal
import os
import pickle
import struct
import zlib
from array import array
from bisect import bisect_left
from collections.abc import Callable, Collection, Iterable, Iterator
from operator import itemgetter, sub
from pickle import dumps
from typing import TYPE_CHECKING, Any

from whoosh.codec import whoosh3
from whoosh.filedb import filetables
from whoosh.system import pack_ushort
from whoosh.util.numeric import byte_to_length, length_to_byte
from whoosh.writing import PostingPool, SegmentWriter

from .codec import (
    KbCodec,
    KbPerDocReader,
    KbPostingPool,
    codec,
    iter_batches,
    pool_supported,
    write_batch,
)
from .impacts import ImpactsWriter

if TYPE_CHECKING:
    from ..analysis import AnalysedPage

# An (unsorted) posting as the fields' `index()` gives it: (term bytes, frequency, weight, encoded value).
Item = tuple[bytes, int, float, bytes]
# One piece of a term's posting list, in document order: (document numbers, weights, encoded values).
Chunk = tuple[list[int], list[float], list[bytes]]
# A (field, term) pair: terms are written in this order, and the commit's two processes each take a range of it.
Key = tuple[str, bytes]

POSTING_BYTES = 150  # memory estimate per posting held in the pool (document number, weight, value, list slots)
TERM_BYTES = 400  # ... and per distinct (field, term): its term bytes, dict entry and three lists
RUN_BATCH = 2048  # postings per marshalled batch in a run file: the merge holds one batch per run in memory
# A block's (ids, weights, values) tuple is pickled with protocol 2, as Whoosh does: the ids and weights come out
# byte for byte as Whoosh writes them (kb's search engine reads them straight from those bytes). Protocol 4 would
# halve the blocks and pickle faster (~5% of a full build's CPU), but is not what other readers may expect.
BLOCK_PICKLE = 2
_RECORD_HEAD = struct.Struct("!ii")  # a term index record's key and value lengths, as `HashWriter.add` packs them
SHARED_VALUES = 200_000  # distinct encoded values a field's block writer keeps one object of, before starting afresh


class TermPool(PostingPool):
    """Postings grouped by field and term as they arrive, spilled to run files sorted by term when over `limit`.

    Subclasses Whoosh's pool for its run-file handling (temporary storage, names, removal), so that the writer's
    cancel and cleanup paths stay Whoosh's.
    """

    def __init__(self, tempstore: Any, segment: Any, limitmb: int = 128) -> None:
        super().__init__(tempstore, segment, limitmb=limitmb)
        self.terms: dict[str, dict[bytes, Chunk]] = {}
        self.spilled = 0  # runs written so far
        self.runs: list[str] = []  # run files (names in the temporary storage) not merged yet
        self.unsorted: set[tuple[str, bytes]] = set()  # terms given a posting out of document order (`add`)
        self.counts: dict[str, int] = {}  # postings added per field (how `write_segment_terms` shares the work)
        self.pieces: dict[str, int] = {}  # terms added per field, counted again in each run they are spilled to

    def add(self, item: tuple[Any, ...]) -> None:
        """A single (field, term, docnum, weight, value) posting: Whoosh's interface, used when merging segments."""
        fieldname, tbytes, docnum, weight, vbytes = item
        found = self.terms.get(fieldname, {}).get(tbytes)
        if found is not None and found[0][-1] >= docnum:
            self.unsorted.add((fieldname, tbytes))  # not in document order: sorted before it is written
        self.add_doc(fieldname, docnum, [(tbytes, 0, weight, vbytes or b"")])

    def add_doc(self, fieldname: str, docnum: int, items: list[Item]) -> None:
        """One document's postings in one field (documents must come in increasing order)."""
        terms = self._field(fieldname)
        size = POSTING_BYTES * len(items)
        for tbytes, _freq, weight, value in items:
            found = terms.get(tbytes)
            if found is None:
                terms[tbytes] = ([docnum], [weight], [value])
                size += TERM_BYTES
            else:
                found[0].append(docnum)
                found[1].append(weight)
                found[2].append(value)
        self.counts[fieldname] = self.counts.get(fieldname, 0) + len(items)
        self.pieces[fieldname] = self.pieces.get(fieldname, 0) + (size - POSTING_BYTES * len(items)) // TERM_BYTES
        self.currentsize += size
        if self.currentsize > self.limit:
            self.save()

    def add_page(self, fieldname: str, base: int, terms: dict[bytes, Chunk]) -> None:
        """A page's postings in one field, grouped by term and numbered from 0: its documents are `base`, `base + 1`
        ... (pages must come in order)."""
        mine = self._field(fieldname)
        postings = new = 0
        for tbytes, (idx, weights, values) in terms.items():
            docs = [base + i for i in idx]
            postings += len(docs)
            found = mine.get(tbytes)
            if found is None:
                mine[tbytes] = (docs, list(weights), list(values))
                new += 1
            else:
                found[0].extend(docs)
                found[1].extend(weights)
                found[2].extend(values)
        self.counts[fieldname] = self.counts.get(fieldname, 0) + postings
        self.pieces[fieldname] = self.pieces.get(fieldname, 0) + new
        self.currentsize += postings * POSTING_BYTES + new * TERM_BYTES
        if self.currentsize > self.limit:
            self.save()

    def _field(self, fieldname: str) -> dict[bytes, Chunk]:
        terms = self.terms.get(fieldname)
        if terms is None:
            terms = self.terms[fieldname] = {}
            self.fieldnames.add(fieldname)
        return terms

    def _sorted(self, lo: Key | None = None, hi: Key | None = None) -> Iterator[tuple[str, bytes, Chunk]]:
        """The pool's postings by field and term, from `lo` (included) to `hi` (excluded), taking them out of the
        pool as it goes."""
        fields = self.terms
        everything = lo is None and hi is None
        if everything:
            self.terms = {}
            self.currentsize = 0
        for fieldname in sorted(f for f in fields if _field_in(f, lo, hi)):
            terms = fields[fieldname]
            names = sorted(terms)
            start, stop = _term_span(fieldname, lo, hi)
            for tbytes in names[bisect_left(names, start) if start else 0:
                                bisect_left(names, stop) if stop is not None else len(names)]:
                chunk = terms.pop(tbytes)
                if (fieldname, tbytes) in self.unsorted:
                    docs, weights, values = zip(*sorted(zip(*chunk, strict=True), key=itemgetter(0)), strict=True)
                    chunk = (list(docs), list(weights), list(values))
                yield fieldname, tbytes, chunk
            if not terms:
                del fields[fieldname]
        if everything:
            self.unsorted = set()

    def save(self) -> None:
        if not self.terms:
            return
        path, f = self._new_run()
        try:
            batch: list[tuple[str, bytes, list[int], list[float], list[bytes]]] = []
            held = 0
            current = ""
            for fieldname, tbytes, (docs, weights, values) in self._sorted():
                if fieldname != current and batch:
                    _write_field_batch(f, current, batch)  # a batch holds one field (see `_read_run`)
                    batch, held = [], 0
                current = fieldname
                batch.append((fieldname, tbytes, docs, weights, values))
                held += len(docs)
                if held >= RUN_BATCH:
                    _write_field_batch(f, fieldname, batch)
                    batch, held = [], 0
            if batch:
                _write_field_batch(f, current, batch)
        finally:
            f.close()
        self.runs.append(path)
        self.spilled += 1

    def _read_run(self, path: str, lo: Key | None = None, hi: Key | None = None,
                  keep: bool = False) -> Iterator[tuple[str, bytes, list[int], list[float], list[bytes]]]:
        """A run's postings from `lo` (included) to `hi` (excluded). At commit the writer and its helper each read
        every run for their own range: batches of fields outside it are skipped unread."""
        f = self._open_run(path)
        try:
            while True:
                head = f.read(2)
                if len(head) < 2:
                    break
                fieldname = f.read(int.from_bytes(head, "little")).decode("utf-8")
                first = f.read(int.from_bytes(f.read(4), "little"))
                last = f.read(int.from_bytes(f.read(4), "little"))
                size = int.from_bytes(f.read(8), "little")
                if not _field_in(fieldname, lo, hi):
                    f.seek(size, os.SEEK_CUR)
                    continue
                start, stop = _term_span(fieldname, lo, hi)
                if last < start or (stop is not None and first >= stop):  # none of the batch's terms is in range
                    f.seek(size, os.SEEK_CUR)
                    continue
                if start or stop is not None:  # the field the range starts or ends in
                    yield from (entry for entry in marshal.loads(f.read(size))
                                if entry[1] >= start and (stop is None or entry[1] < stop))
                else:
                    yield from marshal.loads(f.read(size))
        finally:
            f.close()
            if not keep:
                self._remove_run(path)

    def iter_terms(self, lo: Key | None = None, hi: Key | None = None,
                   keep: bool = False) -> Iterator[tuple[str, bytes, Iterator[Chunk]]]:
        """(field, term, its posting list in pieces) in term order, from `lo` (included) to `hi` (excluded), None
        being either end; consume each term's pieces before the next. With `keep`, run files stay for another
        reader (the writer's temporary storage removes them at the end). Postings still in memory are merged in as
        the last run (the terms read are taken out of memory)."""
        if not self.runs:
            for fieldname, tbytes, chunk in self._sorted(lo, hi):
                yield fieldname, tbytes, iter((chunk,))
            return
        runs = list(self.runs)
        if not keep:
            self.runs = []
        readers: list[Iterator[tuple[str, bytes, list[int], list[float], list[bytes]]]] = [
            self._read_run(path, lo, hi, keep) for path in runs]
        # What is still in memory holds the latest documents: merged as the last run, without a trip to disk.
        readers.append((f, t, *chunk) for f, t, chunk in self._sorted(lo, hi))
        heads: list[tuple[str, bytes, int, Any]] = []
        for n, reader in enumerate(readers):
            entry = next(reader, None)
            if entry is not None:
                heads.append((entry[0], entry[1], n, entry))
        heapq.heapify(heads)

        def pieces(fieldname: str, tbytes: bytes) -> Iterator[Chunk]:
            # Ties on the term come off the heap in run order, i.e. in document order.
            while heads and heads[0][1] == tbytes and heads[0][0] == fieldname:
                _f, _t, n, entry = heads[0]
                following = next(readers[n], None)
                if following is None:
                    heapq.heappop(heads)
                else:
                    heapq.heapreplace(heads, (following[0], following[1], n, following))
                yield entry[2], entry[3], entry[4]

        while heads:
            fieldname, tbytes = heads[0][0], heads[0][1]
            it = pieces(fieldname, tbytes)
            yield fieldname, tbytes, it
            for _ in it:  # whatever the caller left
                pass

    def cleanup(self) -> None:
        for path in self.runs:
            try:
                self._remove_run(path)
            except OSError:  # already gone with the temporary storage
                pass
        self.runs = []
        self.terms = {}


def _field_in(fieldname: str, lo: Key | None, hi: Key | None) -> bool:
    """Whether some terms of the field can be in the range from `lo` to `hi` (see `_term_span`)."""
    return (lo is None or fieldname >= lo[0]) and (hi is None or fieldname < hi[0]
                                                     or (fieldname == hi[0] and hi[1] != b""))


def _term_span(fieldname: str, lo: Key | None, hi: Key | None) -> tuple[bytes, bytes | None]:
    """The field's terms in the range: from the first (included) to the second (excluded; None: to the end)."""
    start = lo[1] if lo is not None and lo[0] == fieldname else b""
    stop = hi[1] if hi is not None and hi[0] == fieldname else None
    return start, stop


def _write_field_batch(f: Any, fieldname: str, batch: list[Any]) -> None:
    """A run file's batch, after its field's name (2 bytes of length, then UTF-8) and its first and last terms (4
    bytes of length, then the bytes), so that a reader of a range of terms skips the batches outside it unread:
    the writer takes pieces of the helper's part (`_steal`), each a range read from every run."""
    name = fieldname.encode("utf-8")
    first, last = batch[0][1], batch[-1][1]
    f.write(b"".join((len(name).to_bytes(2, "little"), name, len(first).to_bytes(4, "little"), first,
                      len(last).to_bytes(4, "little"), last)))
    write_batch(f, batch)


class _Block:
    """What `W3TermInfo.add_block` reads from a block (the interface of Whoosh's `W3PostingsWriter`)."""

    __slots__ = ("_weights", "_ids", "_minlength", "_maxlength", "_maxweight")

    def __init__(self, ids: list[int], weights: array[float], minlength: int | None, maxlength: int,
                 maxweight: float) -> None:
        self._ids, self._weights = ids, weights
        self._minlength, self._maxlength, self._maxweight = minlength, maxlength, maxweight

    def __len__(self) -> int:
        return len(self._ids)

    def min_id(self) -> int:
        return self._ids[0]

    def max_id(self) -> int:
        return self._ids[-1]

    def min_length(self) -> int | None:
        return self._minlength

    def max_length(self) -> int:
        return self._maxlength

    def max_weight(self) -> float:
        return self._maxweight


class TermWriter:
    """Writes one field's posting lists as W3 blocks, the way `W3PostingsWriter` does posting by posting."""

    def __init__(self, postfile: Any, fixedsize: int | None, lengths: bytes, *, blocklimit: int,
                 compression: int) -> None:
        self.postfile = postfile
        self.fixedsize = fixedsize
        self.lengths = lengths  # the field's lengths column: one length byte per document (b"" without one)
        self.blocklimit = blocklimit
        self.compression = compression
        # One object per distinct value: equal values (a one-position list is the same bytes wherever the position
        # is the same) then pickle once per block and are referenced after, as Whoosh's own writer does when its
        # values happen to be one object. Across a 1,000-page site ~17k distinct values make up 1.3M postings:
        # a third less to pickle and compress, and a smaller postings file.
        self.shared: dict[bytes, bytes] = {}

    def write(self, chunks: Iterable[Chunk]) -> whoosh3.W3TermInfo:
        terminfo = whoosh3.W3TermInfo()
        start = self.postfile.tell()
        limit = self.blocklimit
        ids: list[int] = []
        weights: list[float] = []
        values: list[bytes] = []
        first = True
        for docs, ws, vs in chunks:
            if ids and docs and docs[0] <= ids[-1]:
                raise ValueError(f"postings out of document order ({docs[0]} after {ids[-1]})")
            ids += docs
            weights += ws
            values += vs
            at = 0
            # A full block is written once more postings follow it: the last block is flagged as last.
            while len(ids) - at > limit:
                end = at + limit
                self._block(terminfo, ids[at:end], weights[at:end], values[at:end], first=first, last=False)
                first = False
                at = end
            if at:
                del ids[:at], weights[:at], values[:at]
        if ids:
            self._block(terminfo, ids, weights, values, first=first, last=True)
        terminfo.set_extent(start, self.postfile.tell() - start)
        return terminfo

    def _block(self, terminfo: whoosh3.W3TermInfo, ids: list[int], weights: list[float], values: list[bytes], *,
               first: bool, last: bool) -> None:
        postfile = self.postfile
        if first:
            postfile.write(whoosh3.WHOOSH3_HEADER_MAGIC)
        wf = array("f", weights)  # the stock writer keeps weights as 32-bit floats
        top = max(weights)
        maxweight = top * 1.0 if top > 0 else 0  # as `if weight > maxweight` from an int 0 leaves it
        minlength, maxlength = _length_range(self.lengths, ids)
        terminfo.add_block(_Block(ids, wf, minlength, maxlength, maxweight))

        deltas = (ids[0], *map(sub, ids[1:], ids))  # (ids are increasing: each difference is positive)
        w0 = wf[0]
        if wf.count(w0) == len(wf):
            mini_weights: Any = None if w0 == 1.0 else w0
        else:
            mini_weights = tuple(wf)
        fixed = self.fixedsize
        if fixed == 0:
            mini_values: Any = None
        else:
            if not all(values):
                values = [v for v in values if v]  # the stock writer keeps only non-empty values
            if fixed is None or fixed < 0:
                shared = self.shared
                if len(shared) > SHARED_VALUES:
                    shared.clear()
                mini_values = tuple(map(shared.setdefault, values, values))
            else:
                mini_values = b"".join(values)
        data = dumps((deltas, mini_weights, mini_values), BLOCK_PICKLE)
        comp = self.compression
        if comp:
            data = zlib.compress(data, comp)
        info = dumps((len(ids), ids[-1], maxweight, comp, length_to_byte(minlength), length_to_byte(maxlength)), 2)
        size = len(info) + len(data)
        postfile.write_int(-size if last else size)
        postfile.write(info)
        postfile.write(data)


def _length_range(lengths: bytes, ids: list[int]) -> tuple[int | None, int]:
    """A block's shortest and longest field length (None, 0 when no document of it has one), from the field's
    lengths column (a document past its end has none). The lengths' bytes are gathered with `map` and reduced by
    `min`/`max` over a bytes object, not a Python loop: this runs once per posting at commit."""
    if not lengths:
        return None, 0
    if ids[-1] < len(lengths):  # ids are increasing: every document is in the column
        lbytes = bytes(map(lengths.__getitem__, ids))
    else:
        lbytes = bytes(lengths[d] if d < len(lengths) else 0 for d in ids)
    longest = max(lbytes)
    if not longest:
        return None, 0
    shortest = min(lbytes) or min(lbytes.replace(b"\x00", b""))
    return byte_to_length(shortest), byte_to_length(longest)


def write_terms(fieldwriter: Any, schema: Any, lengths_of: Callable[[str], bytes | None],
                terms: Iterator[tuple[str, bytes, Iterator[Chunk]]], codec_: Any,
                sink: ImpactsWriter | None = None) -> None:
    """Write every term's postings and its term-index entry through Whoosh's W3 field writer (see `_encode` for
    `sink`)."""
    _index_terms(fieldwriter, schema, _encode(fieldwriter._postfile, schema, lengths_of, terms, codec_, sink))


def _index_terms(fieldwriter: Any, schema: Any, infos: Iterable[tuple[str, bytes, whoosh3.W3TermInfo]]) -> None:
    """Add (field, term, term info) entries to the term index, in order."""
    out = _TermIndexOut(fieldwriter, schema)
    for fieldname, tbytes, terminfo in infos:
        prefix = out.field(fieldname)
        key = prefix + tbytes
        out.add(key, out.hashfn(key), terminfo.to_bytes())
    out.close()


class _TermIndexOut:
    """Records added to the term index (an `OrderedHashWriter`) as its `add` puts them, record for record (same
    bytes, positions, hash buckets, key order check), but written a batch at a time with the file position counted
    here: `add` asks the file for its position twice and writes three times per term, a third of the time of adding
    a term. The field writer's fields are started and finished as the records' fields change."""

    def __init__(self, fieldwriter: Any, schema: Any) -> None:
        self.fieldwriter, self.schema = fieldwriter, schema
        self.tindex = tindex = fieldwriter._tindex
        self.dbfile, self.positions, self.buckets = tindex.dbfile, tindex.index, tindex.buckets
        self.hashfn = tindex.hashfn
        self.pos = self.dbfile.tell()
        self.lastkey = tindex.lastkey
        self.out: list[bytes] = []
        self.current: str | None = None
        self.prefix = b""

    def field(self, fieldname: str) -> bytes:
        """The key prefix of the field's terms (its number), starting the field when the records move on to it."""
        if fieldname != self.current:
            if self.current is not None:
                self.fieldwriter.finish_field()
            self.fieldwriter.start_field(fieldname, self.schema[fieldname])
            self.prefix = pack_ushort(self.fieldwriter._fieldid)
            self.current = fieldname
        return self.prefix

    def add(self, key: bytes, h: int, value: bytes) -> None:
        if key <= self.lastkey:
            raise ValueError(f"Keys must increase: {self.lastkey!r}..{key!r}")  # as `OrderedHashWriter.add`
        pos = self.pos
        self.positions.append(pos)
        self.buckets[h & 255].append((h, pos))
        self.out += (_RECORD_HEAD.pack(len(key), len(value)), key, value)
        self.pos = pos + _RECORD_HEAD.size + len(key) + len(value)
        self.lastkey = key
        if len(self.out) >= 3 * RUN_BATCH:
            self.dbfile.write(b"".join(self.out))
            self.out = []

    def close(self) -> None:
        self.dbfile.write(b"".join(self.out))
        self.tindex.lastkey = self.lastkey
        if self.current is not None:
            self.fieldwriter.finish_field()


def _encode(postfile: Any, schema: Any, lengths_of: Callable[[str], bytes | None],
            terms: Iterator[tuple[str, bytes, Iterator[Chunk]]], codec_: Any,
            sink: Any = None) -> Iterator[tuple[str, bytes, whoosh3.W3TermInfo]]:
    """(field, term, its term info) as each term's blocks are written to `postfile`. A `sink` sees every term's
    chunks on their way (`sink.term(field, term, chunks)` passes them through): a side file written per segment,
    such as the search engine's arrays of long lists (see `_SinkPart`)."""
    current = None
    termwriter: TermWriter | None = None
    for fieldname, tbytes, chunks in terms:
        if fieldname != current:
            fieldobj = schema[fieldname]
            termwriter = TermWriter(postfile, fieldobj.format.fixed_value_size(), lengths_of(fieldname) or b"",
                                    blocklimit=codec_._blocklimit, compression=codec_._compression)
            current = fieldname
        assert termwriter is not None
        if sink is not None:
            chunks = sink.term(fieldname, tbytes, chunks)
        yield fieldname, tbytes, termwriter.write(chunks)


PARALLEL_POSTINGS = 300_000  # a segment with fewer postings than this is written by one process


def write_segment_terms(fieldwriter: Any, schema: Any, perdoc: Any, pool: TermPool, codec_: Any,
                        tempstore: Any, sink: Any = None) -> None:
    """Write the pool's postings, the later terms by a forked helper process when the segment is large.

    Commit is the one stretch of a full build where the parse workers are done and one core idles. The terms, in
    (field, term) order, are cut in two at a term chosen by their estimated cost (`_cut`, possibly inside a
    field): a forked helper writes the second part's blocks to a file of its own, with their term index records,
    while this process writes the first. The helper's part is cut again into pieces (`_pieces`), and it takes
    them in order, each only once it has claimed it; this process, done with its own part, claims pieces from the
    end (`_steal`) until none is left, so both end together whichever core runs faster (on a VM the two cores'
    speeds differ by a third from one minute to the next, and no fixed cut kept both busy to the end). The
    helper's blocks are then appended to the postings file and its terms added to the term index with their
    offsets moved by where they land, then the stolen pieces the same way: the files are those a single process
    writes (same blocks, same term order and field numbers). If the helper fails, those of its terms already
    added are taken out of the term index again (`_TermIndexMark`) and this process writes the pieces the helper
    had claimed itself. A `sink` (see `_encode`) gets each part of its side file the same way (`_SinkPart`).
    """
    fields = sorted(name for name, n in pool.counts.items() if n)
    lengths = {name: perdoc._length_bytes(name) if perdoc is not None else None for name in fields}
    costs = {name: _posting_cost(schema[name]) for name in fields}
    cut = _cut(pool, fields, costs)
    if cut is None or not hasattr(os, "fork"):
        write_terms(fieldwriter, schema, lengths.get, pool.iter_terms(), codec_, sink)
        return
    bounds = _pieces(pool, fields, costs, cut)
    tokens, tokens_in = os.pipe()  # one byte per piece: whoever reads a byte takes a piece (reads are atomic)
    os.write(tokens_in, bytes(len(bounds)))
    os.close(tokens_in)
    name = f"{pool.segment.segment_id()}_helper"
    hashfn = fieldwriter._tindex.hashfn
    fieldids = {f: n for n, f in enumerate(fields)} if not fieldwriter._fieldmap else {}
    ready, told = os.pipe()
    pid = os.fork()
    if pid == 0:  # the helper: writes the pieces it claims from the start of its part, never returns
        os.close(ready)
        _help(name, told, schema, lengths.get, _claimed(pool.iter_terms(cut, None, keep=True), bounds, tokens),
              codec_, tempstore, sink, hashfn, fieldids)
    os.close(told)
    stolen: list[_Stolen] = []
    try:
        write_terms(fieldwriter, schema, lengths.get, pool.iter_terms(None, cut, keep=True), codec_, sink)
        stolen = _steal(pool, bounds, tokens, name, schema, lengths.get, codec_, tempstore, sink, hashfn, fieldids)
        base = fieldwriter._postfile.tell()
        mark = _TermIndexMark(fieldwriter._tindex)
        _index_records(fieldwriter, schema, _helper_terms(ready, tempstore, f"{name}.terms"), base)
    finally:
        os.close(ready)
        os.close(tokens)
        _pid, status = os.waitpid(pid, 0)
    helpers = len(bounds) - len(stolen)  # the pieces the helper claimed: every piece was claimed by one or other
    if status != 0:
        mark.undo(fieldwriter._tindex)
        end = bounds[helpers] if helpers < len(bounds) else None
        write_terms(fieldwriter, schema, lengths.get, pool.iter_terms(cut, end, keep=True), codec_, sink)
    else:
        _append(tempstore, f"{name}.pst", fieldwriter._postfile, 0)
        with tempstore.open_file(f"{name}.sink") as f:
            _SinkPart.merge(sink, pickle.loads(f.read()), tempstore)
    for piece in stolen:
        piece.add(fieldwriter, schema, tempstore, sink)


def _claimed(terms: Iterator[tuple[str, bytes, Iterator[Chunk]]], bounds: list[Key],
             tokens: int) -> Iterator[tuple[str, bytes, Iterator[Chunk]]]:
    """The helper's terms, piece by piece from the first (`bounds`: each piece's first key), each piece once a
    token for it is read from `tokens`; none after the first piece it cannot claim (the writer took the rest)."""
    k = -1
    end: Key | None = bounds[0]  # the first term (at the cut) claims the first piece
    for entry in terms:
        while end is not None and (entry[0], entry[1]) >= end:
            if not os.read(tokens, 1):
                return
            k += 1
            end = bounds[k + 1] if k + 1 < len(bounds) else None
        yield entry


class _Stolen:
    """A piece of the helper's part that the writer wrote itself: its blocks and its term index records (as the
    helper makes them, `_records`) in temporary files, and its sink's part; added after the helper's terms (the
    pieces are taken from the end)."""

    def __init__(self, name: str, side: Any) -> None:
        self.name, self.side = name, side

    def add(self, fieldwriter: Any, schema: Any, tempstore: Any, sink: Any) -> None:
        base = fieldwriter._postfile.tell()
        _append(tempstore, f"{self.name}.pst", fieldwriter._postfile, 0)
        with tempstore.open_file(f"{self.name}.terms") as f:
            _index_records(fieldwriter, schema, iter_batches(f), base)
        _SinkPart.merge(sink, self.side, tempstore)


def _steal(pool: TermPool, bounds: list[Key], tokens: int, name: str, schema: Any,
           lengths_of: Callable[[str], bytes | None], codec_: Any, tempstore: Any, sink: Any,
           hashfn: Callable[[bytes], int], fieldids: dict[str, int]) -> list[_Stolen]:
    """The pieces of the helper's part this process claims from the end once its own part is written, each
    written to temporary files of its own (its records on disk, not held: memory stays flat); in key order."""
    stolen: list[_Stolen] = []
    k = len(bounds)
    while os.read(tokens, 1):
        k -= 1
        piece = f"{name}_piece{k}"
        postfile = tempstore.create_file(f"{piece}.pst")
        part, where = _SinkPart.start(sink, tempstore, f"{piece}_side")
        terms = pool.iter_terms(bounds[k], bounds[k + 1] if k + 1 < len(bounds) else None, keep=True)
        with tempstore.create_file(f"{piece}.terms") as out:
            encoded = _encode(postfile, schema, lengths_of, terms, codec_, part)
            _write_infos(out, _records(encoded, hashfn, fieldids), lambda: None)
        postfile.close()
        stolen.append(_Stolen(piece, _SinkPart.finish(part, where)))
    return stolen[::-1]


def _help(name: str, told: int, schema: Any, lengths_of: Callable[[str], bytes | None],
          terms: Iterator[tuple[str, bytes, Iterator[Chunk]]], codec_: Any, tempstore: Any, sink: Any,
          hashfn: Callable[[bytes], int], fieldids: dict[str, int]) -> None:
    """The commit helper's work (in the forked process; never returns): the blocks of `terms` to `name`.pst, their
    term index records to `name`.terms (a byte on `told` as each batch of them is complete; see `_records` for
    `hashfn` and `fieldids`) and its sink's part."""
    code = 1
    try:
        postfile = tempstore.create_file(f"{name}.pst")
        helper_sink, where = _SinkPart.start(sink, tempstore, f"{name}_side")
        encoded = _encode(postfile, schema, lengths_of, terms, codec_, helper_sink)
        with tempstore.create_file(f"{name}.terms") as out:
            _write_infos(out, _records(encoded, hashfn, fieldids), lambda: os.write(told, b"."))
        postfile.close()
        with tempstore.create_file(f"{name}.sink") as out:
            out.write(pickle.dumps(_SinkPart.finish(helper_sink, where), pickle.HIGHEST_PROTOCOL))
        code = 0
    finally:
        os._exit(code)


# A term index record as the helper prepares it (`_records`): field, key (field number and term), the key's hash,
# and the value's bytes around the postings' offset (None: postings inlined, the value is all in the first part).
Record = tuple[str, bytes, int, bytes, int | None, bytes]
_OFFSET = struct.Struct("!Q")  # how `W3TermInfo.to_bytes` ends: the postings' offset (this) and length (an int)


def _records(encoded: Iterable[tuple[str, bytes, whoosh3.W3TermInfo]], hashfn: Callable[[bytes], int],
             fieldids: dict[str, int]) -> Iterator[Record]:
    """The helper's terms as term index records, all but the postings' offset (relative to the helper's file, moved
    by the writer, `_index_records`). Making them here takes the per-term work (the term info's bytes, the key's
    hash) off the writer, which adds the helper's terms after its own part, often with the other core idle. The
    field numbers are those the writer's field writer gives the fields in order (`fieldids`, empty when unknown:
    the writer then makes the key and its hash itself)."""
    tail = _OFFSET.size + 4
    for fieldname, tbytes, terminfo in encoded:
        value = terminfo.to_bytes()
        fid = fieldids.get(fieldname)
        key = tbytes if fid is None else pack_ushort(fid) + tbytes
        h = hashfn(key) if fid is not None else 0
        if terminfo.is_inlined():
            yield fieldname, key, h, value, None, b""
        else:
            yield fieldname, key, h, value[:-tail], terminfo._offset, value[-4:]


def _index_records(fieldwriter: Any, schema: Any, records: Iterable[Record], base: int) -> None:
    """Add the helper's term index records (`_records`) in order, their postings' offsets moved by `base`: what
    `_index_terms` writes for the same terms, record for record."""
    out = _TermIndexOut(fieldwriter, schema)
    pack_offset = _OFFSET.pack
    for fieldname, key, h, head, offset, tail in records:
        prefix = out.field(fieldname)
        if not key.startswith(prefix) or not h:  # the helper did not know this field's number
            key = prefix + (key[2:] if h else key)
            h = out.hashfn(key)
        out.add(key, h, head if offset is None else head + pack_offset(offset + base) + tail)
    out.close()


def _write_infos(out: Any, records: Iterable[Record], written: Callable[[], object]) -> None:
    """The helper's term index records, in batches, each flushed and then announced (`written`) for the writer to
    add while the helper goes on. Batches also keep memory flat: a large segment has millions of terms, which held
    as one list (in the helper, then again in the writer) made peak memory grow with the vocabulary."""
    batch: list[Record] = []
    for entry in records:
        batch.append(entry)
        if len(batch) >= RUN_BATCH:
            write_batch(out, batch)
            out.flush()
            written()
            batch = []
    if batch:
        write_batch(out, batch)
        out.flush()
        written()


def _helper_terms(ready: int, tempstore: Any, name: str) -> Iterator[Record]:
    """The helper's term index records, each batch as soon as the helper announces it on `ready`, until the helper
    closes its end (done, or failed: its exit status tells which)."""
    f = None
    try:
        while True:
            announced = os.read(ready, 4096)
            if not announced:
                return
            if f is None:
                f = tempstore.open_file(name)
            for _ in announced:
                size = int.from_bytes(f.read(8), "little")
                yield from marshal.loads(f.read(size))
    finally:
        if f is not None:
            f.close()


class _TermIndexMark:
    """Where Whoosh's term index (an `OrderedHashWriter`) stood, to take out the entries added since: those of a
    commit helper that failed after some of its terms were added (`write_segment_terms`). An entry is its bytes in
    the file, its position in the ordered index and its slot in a hash bucket; the field numbers the helper's
    fields got stay, and are those that writing the fields again gives them."""

    def __init__(self, tindex: Any) -> None:
        self.end = tindex.dbfile.tell()
        self.count = len(tindex.index)
        self.buckets = [len(bucket) for bucket in tindex.buckets]
        self.lastkey = tindex.lastkey

    def undo(self, tindex: Any) -> None:
        tindex.dbfile.seek(self.end)
        tindex.dbfile.truncate()
        del tindex.index.array[self.count:]
        for bucket, n in zip(tindex.buckets, self.buckets, strict=True):
            del bucket[n:]
        tindex.lastkey = self.lastkey


def _append(tempstore: Any, name: str, out: Any, skip: int) -> int:
    """Copy a temporary file (after its first `skip` bytes) to the end of `out`; how many bytes were copied."""
    copied = 0
    with tempstore.open_file(name) as f:
        f.seek(skip)
        while True:
            data = f.read(1 << 20)
            if not data:
                return copied
            out.write(data)
            copied += len(data)


class _SinkPart:
    """The helper's share of a sink's side file. The sink's interface is that of `ImpactsWriter` (the search
    engine's arrays of long lists): made from (storage, segment) with `segment.create_file(storage, ext)`, it
    writes a header, then appends entries to `file`, each recorded in `entries` as (field, term, offset, ...) with
    `offset` counting the bytes written so far. The helper makes one of the same class over a temporary file
    (this object stands in for the segment); afterwards the part's bytes past its header are appended to the
    sink's file and its entries added with their offsets moved."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.created = ""

    def create_file(self, storage: Any, ext: str) -> Any:
        self.created = f"{self.name}{ext}"
        return storage.create_file(self.created)

    @classmethod
    def start(cls, sink: Any, tempstore: Any, name: str) -> tuple[Any, tuple[str, int] | None]:
        """A sink like `sink` writing to a temporary file, and (that file's name, its header's length)."""
        if sink is None:
            return None, None
        part = cls(name)
        helper = type(sink)(tempstore, part)
        return helper, (part.created, helper.offset)

    @staticmethod
    def finish(helper: Any, where: tuple[str, int] | None) -> Any:
        if helper is None:
            return None
        helper.file.close()
        return where, list(helper.entries)

    @staticmethod
    def merge(sink: Any, side: Any, tempstore: Any) -> None:
        if sink is None or side is None:
            return
        (name, header), entries = side
        shift = sink.offset - header
        sink.offset += _append(tempstore, name, sink.file, header)
        sink.entries.extend((e[0], e[1], e[2] + shift, *e[3:]) for e in entries)


# The commit's cost model (CPU microseconds, measured per field at 1,000 pages): a posting with positions ~2.2, one
# with a fixed-size value (a count) ~1.2, one without a value ~0.1, and TERM_COST per term (its blocks' pickle and
# zlib calls, its term info and term index record: the helper's `key` field, one posting a term, took ~19 us a
# term; at 8 the pieces there were three times the work estimated and the last one kept the helper going alone).
POSITIONS_COST, VALUE_COST, BARE_COST, TERM_COST = 2.2, 1.2, 0.1, 16.0
# The writer's own part of the estimated work. The rest is the helper's, in STEAL_PIECES pieces, of which the
# writer takes from the end what the helper has not reached when the writer is done: its own part is less than
# half so that it is done first even on the slower core, and the pieces decide how the rest is shared.
WRITER_SHARE = 0.40
STEAL_PIECES = 32


def _posting_cost(field: Any) -> float:
    size = field.format.fixed_value_size()
    return POSITIONS_COST if size is None or size < 0 else VALUE_COST if size else BARE_COST


def _cut(pool: TermPool, fields: list[str], costs: dict[str, float]) -> Key | None:
    """Where the helper's part of the terms starts, so that this process's part before it is about WRITER_SHARE of
    the estimated work; None when the segment is too small to repay a second process.

    Why inside a field: `body` alone is ~44% of the work and the next field ~30%, so a cut between fields leaves
    one process idle for a part of the commit. The term to cut at comes from the postings still in memory (the
    latest pages: a sample of how the field's work spreads over its terms)."""
    if sum(pool.counts[f] for f in fields) < PARALLEL_POSTINGS or len(fields) < 2:
        return None
    return _key_at(pool, fields, costs, WRITER_SHARE)


def _pieces(pool: TermPool, fields: list[str], costs: dict[str, float], cut: Key) -> list[Key]:
    """The first key of each piece of the helper's part (from `cut`): STEAL_PIECES pieces of about equal estimated
    work, fewer where the estimate cannot tell keys apart."""
    bounds = [cut]
    for j in range(1, STEAL_PIECES):
        key = _key_at(pool, fields, costs, WRITER_SHARE + (1 - WRITER_SHARE) * j / STEAL_PIECES)
        if key is not None and key > bounds[-1]:
            bounds.append(key)
    return bounds


def _key_at(pool: TermPool, fields: list[str], costs: dict[str, float], share: float) -> Key | None:
    """The (field, term) where `share` of the estimated work is done (b"": the field's start)."""
    work = {f: pool.counts[f] * costs[f] + pool.pieces.get(f, 0) * TERM_COST for f in fields}
    target = share * sum(work.values())
    for i, f in enumerate(fields):
        if target <= work[f]:
            term = _term_at(pool.terms.get(f, {}), target / work[f], costs[f])
            if term:
                return f, term
            return (fields[1], b"") if i == 0 else (f, b"")  # nothing of the field in memory: cut before or after it
        target -= work[f]
    return None


def _term_at(terms: dict[bytes, Chunk], share: float, cost: float) -> bytes:
    """The term at which `share` of the field's work (by the postings in memory) is done; b"" when none are."""
    if not terms:
        return b""
    names = sorted(terms)
    work = [len(terms[t][0]) * cost + TERM_COST for t in names]
    goal, done = share * sum(work), 0.0
    for name, w in zip(names, work, strict=True):
        done += w
        if done >= goal:
            return name
    return names[-1]


class TermSegmentWriter(SegmentWriter):
    """Whoosh's segment writer with `TermPool` for the pool and `write_terms` for the postings at commit.

    `fast` is decided once, when the writer opens (`supported`); without it the writer is Whoosh's own, with kb's
    spilling pool (kb/whoosh/codec.py).
    """

    def __init__(self, ix: Any, *, limitmb: int, fast: bool | None = None) -> None:
        super().__init__(ix, limitmb=limitmb, codec=codec(), compound=False)
        self._fields_of: dict[tuple[str, ...], list[tuple[str, Any, str]]] = {}  # see `_write_doc`
        self.fast = supported(self) if fast is None else fast
        if self.fast:
            self.pool = TermPool(self._tempstorage, self.newsegment, limitmb=limitmb)
        elif type(self.pool) is PostingPool and pool_supported():
            self.pool = KbPostingPool(self._tempstorage, self.newsegment, limitmb=limitmb)

    def add_document(self, **fields: Any) -> None:
        if not self.fast or _boosted(fields):
            super().add_document(**fields)  # boosts multiply weights posting by posting: Whoosh's way
            return
        self._write_doc(fields)

    def add_page(self, page: AnalysedPage) -> None:
        """Add a page's passages (analysed by `kb.analysis.analyse_page`) as consecutive documents."""
        if not self.fast or any(map(_boosted, {tuple(doc) for doc in page.docs})):
            for doc in page.docs:
                self.add_document(**doc)  # Whoosh analyses them again
            return
        base = self.docnum
        for i, doc in enumerate(page.docs):
            self._write_doc(doc, page.names, page.lengths, i)
        for name, terms in page.terms.items():
            self.pool.add_page(name, base, terms)

    def _write_doc(self, doc: dict[str, Any], analysed: Collection[str] = (), lengths: dict[str, Any] | None = None,
                   i: int = 0) -> None:
        """One document's stored fields, lengths and columns; postings of fields not in `analysed` (those the page
        brings grouped by term, with their lengths at `lengths[name][i]`) go to the pool here."""
        self._check_state()
        perdoc = self.perdocwriter
        schema = self.schema
        docnum = self.docnum
        lengths = lengths or {}
        keys = tuple(doc)
        fields = self._fields_of.get(keys)
        if fields is None:  # once per distinct set of fields (every passage of a page has the same)
            names = sorted(name for name in doc if not name.startswith("_"))
            self._check_fields(schema, names)
            fields = self._fields_of[keys] = [(name, schema[name], f"_stored_{name}") for name in names]
        perdoc.start_doc(docnum)
        try:
            for name, field, stored_as in fields:
                value = doc[name]
                if value is None:
                    continue
                length = 0
                if name in analysed:
                    column = lengths.get(name)
                    length = column[i] if column is not None else 0
                elif field.indexed:
                    items = field.index(value)
                    if not isinstance(items, list):
                        items = list(items)
                    if items:
                        if field.scorable:
                            length = sum([item[1] for item in items])
                        self.pool.add_doc(name, docnum, items)
                stored = doc.get(stored_as, value)
                perdoc.add_field(name, field, stored if field.stored else None, length)
                column_type = field.column_type
                if column_type and stored is not None:
                    perdoc.add_column_value(name, column_type, field.to_column_value(stored))
        except BaseException:
            perdoc.cancel_doc()
            raise
        perdoc.finish_doc()
        self._added = True
        self.docnum += 1

    def _flush_segment(self) -> None:
        if not self.fast:
            super()._flush_segment()
            return
        self.perdocwriter.close()
        perdoc = self.per_document_reader()
        sink = ImpactsWriter(self.storage, self.newsegment)
        try:
            write_segment_terms(self.fieldwriter, self.schema, perdoc, self.pool, self.codec, self._tempstorage,
                                sink)
        except BaseException:
            sink.abandon()  # the segment is never committed: no directory, and the first error is the one raised
            raise
        else:
            sink.close()
        finally:
            perdoc.close()
        self.fieldwriter.close()


def _boosted(names: Iterable[str]) -> bool:
    """Whether a document sets a boost (`_field_boost`, `_doc_boost`): Whoosh's writer then adds it."""
    return any(name.startswith("_") and name.endswith("_boost") for name in names)


def supported(writer: SegmentWriter) -> bool:
    """Whether `TermSegmentWriter` writes the same files as Whoosh's writer would: Whoosh's W3 codec (kb's
    subclass) with its default block settings, its field writer, and a schema without vectors or separate
    spelling words (which the per-term path does not write)."""
    codec_, fw = writer.codec, writer.fieldwriter
    if not (isinstance(codec_, KbCodec) and type(fw) is whoosh3.W3FieldWriter and codec_.length_stats):
        return False
    if (getattr(codec_, "_blocklimit", None) != 128 or getattr(codec_, "_inlinelimit", None) != 1
            or getattr(codec_, "_compression", None) not in range(10)):
        return False
    if not all(hasattr(fw, name) for name in ("_tindex", "_postfile", "_fieldid", "_fieldmap")):
        return False
    if not (type(fw._tindex) is filetables.OrderedHashWriter
            and getattr(getattr(filetables, "_lengths", None), "format", None) == _RECORD_HEAD.format
            and all(hasattr(fw._tindex, name) for name in ("dbfile", "index", "buckets", "lastkey", "hashfn"))):
        return False  # what `_TermIndexOut` writes and `_TermIndexMark` takes back
    if not all(hasattr(whoosh3.W3TermInfo, name) for name in ("add_block", "set_extent", "to_bytes", "is_inlined")):
        return False
    if not _offset_at_end():
        return False  # what the helper's records (`_records`) take apart
    if not all(hasattr(PostingPool, name) for name in ("_new_run", "_open_run", "_remove_run")):
        return False
    if not hasattr(whoosh3, "WHOOSH3_HEADER_MAGIC") or not hasattr(KbPerDocReader, "_length_bytes"):
        return False
    return not any(field.vector or field.separate_spelling() for _name, field in writer.schema.items())


def _offset_at_end() -> bool:
    """Whether a term info's bytes end with its postings' offset and length, as `_records` cuts them."""
    info = whoosh3.W3TermInfo()
    info.set_extent(0x0102030405060708, 0x0A0B0C0D)
    return info.to_bytes().endswith(_OFFSET.pack(0x0102030405060708) + (0x0A0B0C0D).to_bytes(4, "big"))


def open_writer(ix: Any, *, limitmb: int, fast: bool | None = None) -> SegmentWriter:
    """The writer kb adds documents with (`limitmb` bounds its pool's memory); `fast=False` forces Whoosh's.

    Segments are written as separate files, not one compound file: Whoosh reads a compound segment into memory on
    every open, which made a cold `kb search` on a large index pay for the whole index (hundreds of MB).
    """
    return TermSegmentWriter(ix, limitmb=limitmb, fast=fast)
