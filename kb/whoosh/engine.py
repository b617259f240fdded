"""Scoring straight from the posting lists: BM25F sums, phrase checks and matched terms, without a matcher tree.

Whoosh evaluates a query by walking a tree of matcher objects document by document; with kb's query shape (every
word over six fields, identifier parts, exact forms, a proximity bonus) that costs about 0.4 ms per matching
document, seconds for a common word. Here each (field, term) posting list is decoded a block at a time into flat
lists (cached per searcher), scores are summed in a dict, and positions are read only for the few documents a
phrase or the proximity bonus must check. The formula is Whoosh's BM25F (same idf, field lengths and boosts), so
ranking is unchanged (tests/test_whoosh_layer.py compares the scores); docs/ranking.md explains the ranking itself.

Reading a block at a time needs the internals of Whoosh's W3 codec. `fast_path` checks once per searcher that they
are there; if not, every segment is read through Whoosh's public matcher API instead (`Leaf`, slower, same
results). While reading, only TermNotFound is an expected miss: anything else propagates, so that a damaged file
reaches the search's verify-and-rebuild path instead of looking like a missing word.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import accumulate
from math import log

from whoosh.reading import TermNotFound
from whoosh.util.numeric import byte_to_length, length_to_byte

from .impacts import POSITION_FIELDS, Impacts, PositionTable

TYPE_CHECKING = False  # rather than typing's: a cold search does not import typing (kb/__init__.py)
if TYPE_CHECKING:
    from typing import Any
    Postings = tuple[Any, Any]  # (doc ids, weights): array('i'), array('d')
    # (ids, weights, length bytes, norms by length byte, idf x (K1 + 1)) -> BM25 of each posting, array('d')
    Bm25 = Callable[[Any, Any, bytes, list[float], float], Any]

try:  # private names of Whoosh's default codec: only the fast path uses them, and only after fast_path() said so
    from whoosh.codec.whoosh3 import LENGTHS_COLUMN, W3Codec, _lenfield
except ImportError:  # a Whoosh without them: the stock path
    LENGTHS_COLUMN = W3Codec = _lenfield = None

POSTINGS_BUDGET = 5_000_000  # decoded postings kept per searcher (least recently used dropped): ~100 MB at most
VALUES_COST = 5  # a posting kept with its positions counts as this many (a byte string per posting)
STORED_CACHE = 5000  # stored documents (with their text) kept per searcher
LEAN_POSITIONS = 128  # positions of at least 1 document per block (128 postings): read the whole list with them
VECTOR_MIN = 256  # postings from which a list's BM25 is computed with `Engine.vector` when there is one
TABLES_BUDGET = 3_000_000  # twice the postings of the position tables kept per searcher (~23 bytes a posting: ~35 MB)


class Engine:
    """Per-searcher view of the index for scoring: decoded postings, field-length norms, idf."""

    def __init__(self, searcher: Any, *, K1: float, B: float, field_B: dict[str, float],
                 fast: bool | None = None, lean: bool = True, impacts: bool = True) -> None:
        self.searcher = searcher
        # lean: score from ids and weights alone, cutting each block's pickle before its positions (see
        # FastLeaf.lean_block); positions are then read only for the documents a phrase or the proximity bonus
        # checks. Not lean: every block unpickled whole and positions kept (the exhaustive reference).
        self.lean = lean
        readers = [(s.reader(), off) for s, off in searcher.leaf_searchers()]
        # The one capability check, for the whole searcher: every segment is read the fast way or the stock way.
        self.fast = fast_path(readers) if fast is None else fast
        kind = FastLeaf if self.fast else Leaf
        self.leaves = [kind(reader, off) for reader, off in readers]
        self.use_impacts = impacts
        if self.fast:
            for leaf in self.leaves:
                memoize_key_search(getattr(getattr(leaf.reader, "_terms", None), "_tindex", None))
        if self.fast and lean and impacts:
            # Also once per searcher: which segments have their long lists stored as arrays (kb/whoosh/impacts.py);
            # a lean read takes a list from there when it is stored, from the blocks otherwise.
            for leaf in self.leaves:
                leaf.impacts = Impacts.open(leaf.reader)
        self.N = max(1, searcher.doc_count_all())
        self.K1, self.B, self.field_B = K1, B, field_B
        # Decoded lists, least recently used first (evicted from the front when over POSTINGS_BUDGET), kept as
        # arrays: ~20 bytes a posting with its scores, against ~100 as lists of Python numbers.
        self._postings: dict[tuple[str, str], Postings] = {}
        self._values: dict[tuple[str, str], list[Any]] = {}
        self._scores: dict[tuple[str, str], tuple[Any, Any]] = {}
        self._sizes: dict[tuple[str, str], int] = {}
        self._held = 0
        self.corrections: dict[str, str | None] = {}
        # BM25 of a whole list at once (kb.dense.bm25, the same bits as term_scores' loop), once numpy is in use
        self.vector: Bm25 | None = None
        self.dense: bool | None = None  # search.DENSE when this engine was made
        self.searched = 0  # searches answered with this engine (kb/search.py's choice of numpy counts them)
        self._lengths: dict[str, bytes] = {}
        self._norms: dict[str, list[float]] = {}
        self._stored: dict[int, dict[str, Any]] = {}
        self._df: dict[tuple[str, str], int] = {}
        # (field, term) -> the segments whose impacts file stores the list's positions, with them (least recently
        # used first, dropped when over TABLES_BUDGET)
        self._tables: dict[tuple[str, str], list[tuple[Leaf, PositionTable]]] = {}
        self._tables_held = 0

    # -- raw data --------------------------------------------------------------------------------------

    def postings(self, field: str, term: str, *, with_values: bool = False) -> Postings:
        """(doc ids, weights) of a term in a field; with `with_values` (or when not lean) its encoded positions are
        read too and kept for `positions`."""
        key = (field, term)
        hit = self._postings.pop(key, None)
        if hit is not None:
            self._postings[key] = hit  # now the most recently used
            if not with_values or key in self._values:
                return hit
        ids = array("i")
        tfs = array("d")
        lean = self.lean and not with_values
        values: list[Any] | None = [] if field in POSITION_FIELDS and not lean else None
        for leaf in self.leaves:
            if lean and leaf.impacts is not None:
                stored = leaf.stored_postings(field, term)
                if stored is not None:
                    ids.extend(stored[0])
                    tfs.extend(stored[1])
                    continue
            try:
                m = leaf.matcher(field, term)
            except TermNotFound:  # the only expected miss: this segment lacks the term (or the field)
                continue
            seg_ids: list[int] = []
            seg_tfs: list[float] = []
            leaf.decode(m, seg_ids, seg_tfs, values, lean=lean)
            ids.fromlist(seg_ids)
            tfs.fromlist(seg_tfs)
        got: Postings = (ids, tfs)
        self._forget(key)
        size = len(ids) * (VALUES_COST if values is not None else 1) + 1
        while self._postings and self._held + size > POSTINGS_BUDGET:
            self._forget(next(iter(self._postings)))
        self._postings[key] = got
        self._sizes[key] = size
        self._held += size
        if values is not None and len(values) == len(ids):
            self._values[key] = values
        return got

    def _forget(self, key: tuple[str, str]) -> None:
        self._postings.pop(key, None)
        self._values.pop(key, None)
        self._scores.pop(key, None)
        self._held -= self._sizes.pop(key, 0)

    def cached(self, field: str, term: str) -> bool:
        return (field, term) in self._postings

    def holding(self, field: str, term: str, docs: list[int]) -> list[int]:
        """Which of `docs` hold the term in the field, for terms only checked for a few candidates: by the list's
        ids in a segment's impacts file when it stores them (decompressed as far as the ids), else skipping through
        the posting blocks without decoding them all (block headers carry their last id)."""
        found: list[int] = []
        rest: list[int] = []
        for leaf, local in self._leaf_docs(docs):
            ids = leaf.stored_ids(field, term) if self.lean else None
            if ids is None:
                rest.extend(d + leaf.off for d in local)
            else:  # the segment's impacts file has the list: its ids, without a block header per 128 postings
                found.extend(d + leaf.off for d in local if _holds(ids, d) and d not in leaf.deleted)
        for m, local, leaf in self._leaf_matchers(field, term, rest):
            leaf.holding(m, local, found)
        return found

    def _leaf_docs(self, docs: list[int]) -> Iterator[tuple[Leaf, list[int]]]:
        """Per segment holding some of `docs`: the segment and those docs as sorted segment-local ids."""
        todo = sorted(docs)
        for leaf in self.leaves:
            off = leaf.off
            local = [d - off for d in todo if off <= d < off + leaf.n]
            if local:
                yield leaf, local

    def doc_ids(self, field: str, term: str) -> list[int]:
        return self.postings(field, term)[0]

    def prefix_terms(self, field: str, prefix: str, *, limit: int, scan: int = 5000) -> list[tuple[int, str]]:
        """(doc frequency, term) of the most frequent terms with this prefix, from the term index alone."""
        freq: dict[str, int] = {}
        for leaf in self.leaves:
            try:
                for n, (text, info) in enumerate(leaf.reader.iter_prefix(field, prefix)):
                    if n >= scan:
                        break
                    t = text.decode("utf-8") if isinstance(text, bytes) else text
                    freq[t] = freq.get(t, 0) + info.doc_frequency()
            except TermNotFound:  # a field this segment lacks
                continue
        return sorted(((df, t) for t, df in freq.items()), reverse=True)[:limit]

    def _length_bytes(self, field: str) -> bytes:
        got = self._lengths.get(field)
        if got is not None:
            return got
        got = b"".join(leaf.lengths(field) for leaf in self.leaves)
        self._lengths[field] = got
        return got

    def norms(self, field: str) -> list[float]:
        """K1 x (1 - B + B x length / average length), by length byte: BM25's per-document denominator part."""
        got = self._norms.get(field)
        if got is None:
            b = self.field_B.get(field, self.B)
            avg = (self.searcher.avg_field_length(field) or 1.0)
            got = [self.K1 * ((1 - b) + b * byte_to_length(i) / avg) for i in range(256)]
            self._norms[field] = got
        return got

    def idf(self, field: str, term: str) -> float:
        return log(self.N / (self.doc_frequency(field, term) + 1)) + 1

    def doc_frequency(self, field: str, term: str) -> int:
        """The searcher's document frequency of the term, remembered (a query asks for it several times: the
        clause's rarity, each list's idf; each ask is a term-index lookup per segment)."""
        key = (field, term)
        got = self._df.get(key)
        if got is None:
            if len(self._df) >= TERM_INFOS:
                self._df.clear()
            got = self._df[key] = self.searcher.doc_frequency(field, term)
        return got

    def term_scores(self, field: str, term: str, *, vector: Bm25 | None = None) -> tuple[Any, Any]:
        """(doc ids, BM25 of the term in each) for one field, unboosted; cached with the postings.

        `vector` computes the same values over the whole list at once (kb/dense.py, with numpy): the same operations
        in the same order on the same float64 values, so the same bits as the loop here.
        """
        key = (field, term)
        got = self._scores.get(key)
        if got is not None:
            return got
        ids, tfs = self.postings(field, term)
        vals = array("d")
        if ids:
            lens, norm, scale = self._bm25_parts(field, term)
            vector = vector or (self.vector if len(ids) >= VECTOR_MIN else None)
            if vector is not None:
                vals = vector(ids, tfs, lens, norm, scale)
            else:
                vals = array("d", [scale * tf / (tf + norm[lens[d]]) for d, tf in zip(ids, tfs, strict=True)])
        got = (ids, vals)
        if key in self._postings:  # kept (and evicted) with its postings
            self._scores[key] = got
        return got

    def _bm25_parts(self, field: str, term: str) -> tuple[bytes, list[float], float]:
        """What BM25 of a term in a document takes besides its weight: the field's length bytes, the norm by length
        byte, and idf x (K1 + 1) (term_scores and scores_of use one expression with them, so the same bits)."""
        return self._length_bytes(field), self.norms(field), self.idf(field, term) * (self.K1 + 1)

    def sum_scores(self, refs: list[tuple[str, str, float]]) -> dict[int, float]:
        """doc -> sum of boost x BM25 over the (field, term, boost) refs, for documents holding any of them."""
        lists = [(self.term_scores(f, t), boost) for f, t, boost in refs]
        lists = [x for x in lists if x[0][0]]
        if not lists:
            return {}
        lists.sort(key=lambda x: -len(x[0][0]))
        (ids, vals), boost = lists[0]
        # The longest list at C speed.
        acc = dict(zip(ids, vals if boost == 1.0 else [v * boost for v in vals], strict=True))
        get = acc.get
        for (ids, vals), boost in lists[1:]:
            for d, v in zip(ids, vals, strict=True):
                acc[d] = get(d, 0.0) + boost * v
        return acc

    def scores_of(self, docs: list[int], field: str, term: str, boost: float) -> dict[int, float]:
        """boost x BM25 of one term for `docs`, every one of which holds it: for a few documents of a long list
        (a phrase's candidates) computed for those alone, with term_scores' expression (so the same bits), instead
        of for the whole list, unless the list is scored already or numpy (`vector`) would score it whole."""
        n = len(self.doc_ids(field, term))
        if (field, term) in self._scores or len(docs) * 8 >= n or (self.vector is not None and n >= VECTOR_MIN):
            return self.score_docs(docs, field, term, boost)
        ids, tfs = self.postings(field, term)
        lens, norm, scale = self._bm25_parts(field, term)
        find = index_of(ids)
        out: dict[int, float] = {}
        for d in docs:
            tf = tfs[find(d)]
            out[d] = boost * (scale * tf / (tf + norm[lens[d]]))
        return out

    def score_docs(self, docs: Iterable[int], field: str, term: str, boost: float) -> dict[int, float]:
        """boost x BM25 of one term for the given documents only (those that hold it)."""
        ids, vals = self.term_scores(field, term)
        wanted = docs if isinstance(docs, (set, dict)) else set(docs)
        if not ids or not wanted:
            return {}
        if len(wanted) * 8 < len(ids):
            find = index_of(ids)
            return {d: boost * vals[i] for d in wanted for i in [find(d)] if i is not None}
        return {d: boost * v for d, v in zip(ids, vals, strict=True) if d in wanted}

    def prefetch_positions(self, field: str, term: str, n_docs: int) -> None:
        """About to read the positions of `n_docs` documents of the list (in several calls): when they span most of
        its blocks, read the whole list with positions now, once (unless segments' impacts files store them)."""
        if self.lean and field in POSITION_FIELDS and (field, term) not in self._values:
            if not self.position_tables(field, term) and n_docs * LEAN_POSITIONS >= len(self.postings(field, term)[0]):
                self.postings(field, term, with_values=True)

    def position_tables(self, field: str, term: str) -> list[tuple[Leaf, PositionTable]]:
        """The segments whose impacts file stores the list's positions, with them (kb/whoosh/impacts.py): read
        there, a document's positions cost a bisection and a slice, not its block's unpickling."""
        key = (field, term)
        got = self._tables.pop(key, None)
        if got is None:
            got = []
            if self.lean and field in POSITION_FIELDS:
                got = [(leaf, table) for leaf in self.leaves for table in [leaf.position_table(field, term)] if table]
            size = sum(len(table) for _leaf, table in got) + 1
            while self._tables and self._tables_held + size > TABLES_BUDGET:
                old = next(iter(self._tables))
                self._tables_held -= sum(len(table) for _leaf, table in self._tables.pop(old)) + 1
            self._tables_held += size
        self._tables[key] = got  # now the most recently used
        return got

    def positions(self, field: str, term: str, docs: list[int]) -> dict[int, list[int]]:
        """Token positions of a term in the given documents (sorted ascending), for phrase checks."""
        out: dict[int, list[int]] = {}
        if not docs:
            return out
        tables = self.position_tables(field, term) if (field, term) not in self._values else []
        if tables:
            rest = _table_positions(tables, docs, out)
            for m, local, leaf in self._leaf_matchers(field, term, rest):  # segments without stored positions
                leaf.positions(m, local, out)
            return out
        ids = self.postings(field, term)[0]
        values = self._values.get((field, term))
        if values is None and field in POSITION_FIELDS and len(docs) * LEAN_POSITIONS >= len(ids):
            # Documents in most blocks: read the whole list with its positions once (kept for the next check).
            ids = self.postings(field, term, with_values=True)[0]
            values = self._values.get((field, term))
        if values is not None:
            decode = self.searcher.schema[field].format.decode_positions
            find = index_of(ids)
            for d in docs:
                i = find(d)
                if i is not None:
                    out[d] = decode(values[i])
            return out
        for m, local, leaf in self._leaf_matchers(field, term, docs):
            leaf.positions(m, local, out)
        return out

    def _leaf_matchers(self, field: str, term: str, docs: list[int]) -> Iterator[tuple[Any, list[int], Leaf]]:
        """Per segment holding some of `docs`: the term's matcher, those docs as sorted segment-local ids, and
        the segment. Segments without the term are skipped."""
        for leaf, local in self._leaf_docs(docs):
            try:
                m = leaf.matcher(field, term)
            except TermNotFound:  # the only expected miss: this segment lacks the term
                continue
            yield m, local, leaf

    def stored(self, doc: int) -> dict[str, Any]:
        got = self._stored.get(doc)
        if got is None:
            if len(self._stored) >= STORED_CACHE:
                self._stored.clear()
            got = self._stored[doc] = self.searcher.stored_fields(doc)
        return got


_MATCHER_METHODS = ("_read_data", "_read_weights", "_read_values", "_next_block", "_skip_to_block", "is_active")
_MATCHER_FIELDS = ("_ids", "_data", "_byteids", "_weights", "_values", "_i", "_maxid", "_blocklength", "_postfile",
                   "_dataoffset", "_nextoffset", "_compression", "_fixedsize")


def fast_path(readers: list[tuple[Any, int]]) -> bool:
    """Whether every segment can be read through the internals of Whoosh's default (W3) codec.

    Checked once per searcher, when it is first used for scoring: the fast path then serves every call, or the stock
    path (Whoosh's public matcher API) does. Never a fallback in the middle of reading a posting list.
    """
    if W3Codec is None or getattr(LENGTHS_COLUMN, "_typecode", None) != "B":
        return False
    for reader, _off in readers:
        if not isinstance(getattr(reader, "_codec", None), W3Codec):
            return False
        perdoc = getattr(reader, "_perdoc", None)
        terms = getattr(reader, "_terms", None)
        if not all(hasattr(x, n) for x, n in ((reader, "_terms"), (reader, "deleted_docs_set"),
                                               (reader, "_text_to_bytes"), (perdoc, "_cached_reader"),
                                               (terms, "term_info"), (terms, "_postfile"),
                                               (reader._codec, "postings_reader"))):
            return False
        term = next(iter(reader.all_terms()), None)
        if term is None:
            continue
        m = reader._terms.matcher(term[0], term[1], reader.schema[term[0]].format)
        if not all(hasattr(m, n) for n in _MATCHER_METHODS + _MATCHER_FIELDS):
            return False
    return True


class Leaf:
    """One segment read through Whoosh's public API (the stock path): deletions filtered by Whoosh itself."""

    impacts: Impacts | None = None  # the segment's long lists as arrays, when it has them and the engine uses them
    deleted: frozenset[int] = frozenset()  # the fast path's own filter (Whoosh's API filters for the stock path)

    def __init__(self, reader: Any, off: int) -> None:
        self.reader = reader
        self.off = off
        self.n = reader.doc_count_all()

    def matcher(self, field: str, term: str) -> Any:
        """The term's posting matcher in this segment; raises TermNotFound when the segment lacks it."""
        return self.reader.postings(field, term)

    def stored_postings(self, field: str, term: str) -> Postings | None:
        """The term's list from an impacts file: only the fast path reads them."""
        return None

    def position_table(self, field: str, term: str) -> PositionTable | None:
        """The term's positions from an impacts file: only the fast path reads them."""
        return None

    def stored_ids(self, field: str, term: str) -> Any:
        """The term's segment-local ids from an impacts file (array('i')), or None: only the fast path reads them."""
        return None

    def decode(self, m: Any, ids: list[int], tfs: list[float], values: list[Any] | None, *,
               lean: bool = False) -> None:
        """Append the matcher's ids (shifted to global numbers), weights and (when asked) encoded positions."""
        off = self.off
        while m.is_active():
            ids.append(m.id() + off)
            tfs.append(m.weight())
            if values is not None:
                values.append(m.value())
            m.next()

    def holding(self, m: Any, docs: list[int], found: list[int]) -> None:
        """Append (as global ids) the sorted segment-local `docs` that the matcher holds."""
        found.extend(d + self.off for d in _skip_through(m, docs))

    def positions(self, m: Any, docs: list[int], out: dict[int, list[int]]) -> None:
        """Token positions of the sorted segment-local `docs` the matcher holds, into `out` by global id."""
        for d in _skip_through(m, docs):
            out[d + self.off] = m.value_as("positions")

    def lengths(self, field: str) -> bytes:
        """The field's length byte of every document in the segment."""
        reader = self.reader
        return bytes(min(255, _length_byte(reader.doc_field_length(d, field, 0) or 0)) for d in range(self.n))


class FastLeaf(Leaf):
    """One W3 segment read a block at a time through the codec's internals (see `fast_path`).

    The codec unpickles whole blocks anyway, so ids, weights and positions are taken a block at a time into flat
    lists; deleted documents are dropped here, from the raw lists, rather than by Whoosh's per-posting filter.
    """

    def __init__(self, reader: Any, off: int) -> None:
        super().__init__(reader, off)
        self.deleted: frozenset[int] = reader.deleted_docs_set
        self._infos: dict[tuple[str, str], Any] = {}  # (field, term) -> Whoosh's term info, or _MISSING
        self._bytes: dict[tuple[str, str], bytes] = {}

    def matcher(self, field: str, term: str) -> Any:
        """Whoosh's `_terms.matcher`, with the term info remembered (a term-index lookup is a hash probe and an
        unpickled record, ~20-40 us): a list is looked up again for its matched terms and positions, and by the
        next query with the same word."""
        key = (field, term)
        info = self._infos.get(key)
        reader = self.reader
        tbytes = self.term_bytes(field, term)
        if info is None:
            if len(self._infos) >= TERM_INFOS:
                self._infos.clear()
            try:
                if tbytes is None:
                    raise TermNotFound(f"no field {field!r}")
                info = reader._terms.term_info(field, tbytes)
            except TermNotFound:
                info = _MISSING
            self._infos[key] = info
        if info is _MISSING:
            raise TermNotFound(f"{field}:{term!r}")
        return reader._codec.postings_reader(reader._terms._postfile, info, reader.schema[field].format,
                                             term=(field, tbytes))

    def term_bytes(self, field: str, term: str) -> bytes | None:
        """The term as the field stores it (Whoosh's `_text_to_bytes`, remembered: a schema lookup and an encode
        for every list, probe and position read), or None for a field the segment's schema lacks."""
        key = (field, term)
        got = self._bytes.get(key)
        if got is None:
            if field not in self.reader.schema:
                return None
            if len(self._bytes) >= TERM_INFOS:
                self._bytes.clear()
            got = self._bytes[key] = self.reader._text_to_bytes(field, term)
        return got

    def decode(self, m: Any, ids: list[int], tfs: list[float], values: list[Any] | None, *,
               lean: bool = False) -> None:
        if self.deleted:
            seg_ids: list[int] = []
            seg_tfs: list[float] = []
            seg_values: list[Any] = []
            self._blocks(m, 0, seg_ids, seg_tfs, seg_values if values is not None else None, lean)
            columns = [(seg_tfs, tfs)] + ([(seg_values, values)] if values is not None else [])
            self.copy_live(seg_ids, live_runs(seg_ids, self.deleted), ids, columns)
            return
        self._blocks(m, self.off, ids, tfs, values, lean)

    def stored_postings(self, field: str, term: str) -> Postings | None:
        """(global ids, weights) of the term from the segment's impacts file, without deleted documents; None when
        the file does not hold the list (short, or absent from the segment)."""
        where = self._in_impacts(field, term)
        got = where[0].postings(field, where[1]) if where is not None else None
        if got is None:
            return None
        ids, weights = got
        runs = live_runs(ids, self.deleted) if self.deleted else [(0, len(ids))]
        if not self.off and runs == [(0, len(ids))]:
            return ids, weights  # nothing to cut or shift: the arrays as read
        live_ids, live_weights = array("i"), array("d")
        self.copy_live(ids, runs, live_ids, [(weights, live_weights)])
        return live_ids, live_weights

    def stored_ids(self, field: str, term: str) -> Any:
        """The term's segment-local ids (deleted documents included) when the segment's impacts file stores the
        list; None otherwise."""
        where = self._in_impacts(field, term)
        return where[0].ids(field, where[1]) if where is not None else None

    def position_table(self, field: str, term: str) -> PositionTable | None:
        """The positions of the term's list by segment-local document, when the segment's impacts file stores
        them; None otherwise (read from the blocks)."""
        where = self._in_impacts(field, term)
        if where is None:
            return None
        fmt = self.reader.schema[field].format
        return where[0].positions(field, where[1], fmt.decode_positions) if fmt.supports("positions") else None

    def _in_impacts(self, field: str, term: str) -> tuple[Impacts, bytes] | None:
        """The segment's impacts file and the term's bytes there, or None (no file, or a field it lacks)."""
        if self.impacts is None:
            return None
        tbytes = self.term_bytes(field, term)
        return None if tbytes is None else (self.impacts, tbytes)

    def copy_live(self, ids: Sequence[int], runs: list[tuple[int, int]], out: Any,
                  columns: list[tuple[Sequence[Any], Any]]) -> None:
        """Append the postings of the `runs` of segment-local `ids` (`live_runs`: deleted documents cut out) to
        `out` as global ids (the segment's offset added), and the same items of each (column, out) pair."""
        off = self.off
        for a, b in runs:
            out.extend(ids[a:b] if not off else [d + off for d in ids[a:b]])
            for column, into in columns:
                into.extend(column[a:b])

    @staticmethod
    def _blocks(m: Any, off: int, ids: list[int], tfs: list[float], values: list[Any] | None, lean: bool) -> None:
        while m.is_active():
            if lean and values is None and m._data is None:
                lean_block(m)
            if m._ids is None:
                if m._data is None:
                    m._read_data()
                raw = m._data[0]
                # Whoosh's delta_decode is a Python generator; accumulate does the same sum in C.
                m._ids = raw if m._byteids else tuple(accumulate(raw))
            if m._weights is None:
                m._read_weights()
            start = m._i
            block_ids = m._ids[start:] if start else m._ids
            ids.extend(block_ids if not off else [d + off for d in block_ids])
            tfs.extend(m._weights[start:] if start else m._weights)
            if values is not None:
                if m._values is None:
                    m._read_values()
                values.extend(m._values[start:] if start else m._values)
            m._next_block()

    def holding(self, m: Any, docs: list[int], found: list[int]) -> None:
        """Skip whole blocks by their last id (header only), and bisect inside the few blocks that may hold a doc."""
        off = self.off
        found.extend(d + off for d, _ in self._matching(m, docs, _load_ids))

    def positions(self, m: Any, docs: list[int], out: dict[int, list[int]]) -> None:
        """Like `holding`, skipping blocks by their last id; a block that holds one of `docs` is unpickled whole
        (positions included) once, and only those documents' positions are decoded."""
        off = self.off
        decode = m.format.decode_positions
        for d, i in self._matching(m, docs, _load_whole):
            out[d + off] = decode(m._values[i])

    def _matching(self, m: Any, docs: list[int], load: Callable[[Any], None]) -> Iterator[tuple[int, int]]:
        """(doc, index in its block) for each of the sorted segment-local `docs` the term's list holds, skipping
        blocks by their last id; `load` reads what the caller needs of a block it stops in."""
        deleted = self.deleted
        for d in docs:
            if not m.is_active():
                return
            if d > m._maxid:
                m._skip_to_block(lambda d=d: d > m._maxid)
                if not m.is_active():
                    return
            load(m)
            i = bisect_left(m._ids, d, m._i)
            m._i = min(i, m._blocklength - 1) if i < m._blocklength else m._i
            if i < m._blocklength and m._ids[i] == d and d not in deleted:
                yield d, i

    def lengths(self, field: str) -> bytes:
        n = self.n
        col = self.reader._perdoc._cached_reader(_lenfield(field), LENGTHS_COLUMN)
        raw = bytes(col._dbfile.get(col._basepos, col._count)) if col is not None else b""
        return raw[:n] + bytes(max(0, n - len(raw)))


_MISSING = object()  # a term the segment does not hold (FastLeaf.matcher)
TERM_INFOS = 100_000  # term infos remembered per segment (~300 bytes each), all forgotten when full


# The first object of a block's values in the pickle Whoosh writes (protocol 2): bytes are pickled as a call of
# _codecs.encode (or, when empty, of bytes()). Neither string can occur in the ids and weights before them, whose
# opcodes (MARK, BININT*, BINFLOAT, NONE, TUPLE*, BINPUT) and arguments (at most 8 bytes) contain neither.
_VALUES_START = (b"c_codecs\nencode\n", b"c__builtin__\nbytes\n")
_LEAN_CHUNK = 2048  # decompressed bytes read at a time while looking for the values (ids + weights: ~1-2 KB)


def lean_block(m: Any) -> None:
    """Read the current block's ids and weights without unpickling (or mostly without decompressing) its values.

    A W3 block is one zlib'd pickle of (ids, weights, values); for a field with positions the values are 128
    pickled byte strings, ~90% of the unpickling time (each one is a call of _codecs.encode). Scoring needs only
    ids and weights, which come first: the pickle is cut where the values begin and closed with None in their
    place. The cut result is checked (ids and weights of the block's length); if it does not fit, the block is
    unpickled whole, as Whoosh would.
    """
    from pickle import UnpicklingError, loads
    from zlib import decompressobj

    raw = m._postfile.get(m._dataoffset, m._nextoffset - m._dataoffset)
    if m._compression:
        z = decompressobj()
        data = z.decompress(raw, _LEAN_CHUNK)
        cut = _values_start(data)
        while cut < 0 and z.unconsumed_tail:
            data += z.decompress(z.unconsumed_tail, _LEAN_CHUNK)
            cut = _values_start(data)
    else:
        data = bytes(raw)
        cut = _values_start(data)
    n = m._blocklength
    got: Any = None
    if cut > 0:
        head = data[:cut]
        # A tuple of more than three values opens with MARK; fixed-size values are one byte string (no MARK).
        if n > 3 and (m._fixedsize is None or m._fixedsize < 0) and head.endswith(b"("):
            head = head[:-1]
        try:
            got = loads(head + b"N\x87.")
        except (UnpicklingError, EOFError, IndexError, ValueError, TypeError):  # not the expected shape
            got = None
    if not (isinstance(got, tuple) and len(got) == 3 and got[2] is None and len(got[0]) == n
            and (got[1] is None or isinstance(got[1], float) or len(got[1]) == n)):
        if m._compression:
            data = data + z.decompress(z.unconsumed_tail) + z.flush()
        m._data = loads(data)
        return
    ids, weights = got[0], got[1]
    m._ids = ids if m._byteids else tuple(accumulate(ids))
    if weights is None or isinstance(weights, float):  # as Whoosh's _read_weights: float32 copies
        m._weights = array("f", [1.0 if weights is None else weights]) * n
    else:
        m._weights = weights


def _values_start(data: bytes) -> int:
    found = [i for i in (data.find(mark) for mark in _VALUES_START) if i >= 0]
    return min(found) if found else -1


def _load_ids(m: Any) -> None:
    """A block's ids (not its weights or positions), once."""
    if m._ids is None:
        if m._data is None:
            m._read_data()
        raw = m._data[0]
        m._ids = raw if m._byteids else tuple(accumulate(raw))


def _load_whole(m: Any) -> None:
    """A block's ids and positions, once (a lean read of the block kept no positions: it is read whole)."""
    if m._values is None:
        m._ids = m._weights = None
        m._read_data()
        raw = m._data[0]
        m._ids = raw if m._byteids else tuple(accumulate(raw))
        m._read_values()


KEY_MEMO = 65536  # term-index probes remembered per segment (~100 bytes each)


def memoize_key_search(tindex: Any) -> None:
    """Make the term index's `closest_key_pos` (the binary search behind prefix expansion and typo correction's
    word-list walk) remember the keys it reads by index slot.

    Every search starts at the same middle slots, and each probe is three small reads and a slice from the file;
    typo correction makes hundreds of searches per word (~25 ms). The search itself is Whoosh's, step for step,
    so it finds the same position; the files of a segment never change. Whoosh's own method stays when the
    index is not the ordered hash file it expects.
    """
    needed = ("closest_key_pos", "key_at", "_get_pos", "indexbase", "indexsize", "indexlen")
    own = getattr(tindex, "__dict__", None)
    if own is None or "closest_key_pos" in own or not all(hasattr(tindex, n) for n in needed):
        return
    key_at, get_pos = tindex.key_at, tindex._get_pos
    base, size, length = tindex.indexbase, tindex.indexsize, tindex.indexlen
    memo: dict[int, tuple[int, bytes]] = {}

    def closest_key_pos(key: bytes) -> int | None:
        if not isinstance(key, bytes):
            raise TypeError(f"Key {key!r} should be bytes")
        lo, hi = 0, length
        while lo < hi:
            mid = (lo + hi) // 2
            got = memo.get(mid)
            if got is None:
                pos = get_pos(base + mid * size)
                got = (pos, key_at(pos))
                if len(memo) < KEY_MEMO:
                    memo[mid] = got
            if got[1] < key:
                lo = mid + 1
            else:
                hi = mid
        if lo == length:
            return None
        got = memo.get(lo)
        return got[0] if got is not None else get_pos(base + lo * size)

    tindex.closest_key_pos = closest_key_pos


def terms_within(readers: list[Any], field: str, text: str, maxdist: int, prefix: int) -> list[Any]:
    """Every segment's `terms_within` (spelling words within `maxdist` edits), in segment order, with the
    Levenshtein automaton built once for all segments: Whoosh builds it again for each one, 2-3.5 ms for two edits,
    so a typo cost that much more for every segment an update added. The walk of each segment's word list is
    Whoosh's own; a segment whose reader or codec is not the stock one is asked as Whoosh would be."""
    from whoosh.codec.base import Automata
    from whoosh.reading import SegmentReader

    dfa = None
    found: list[Any] = []
    for r in readers:
        codec = getattr(r, "_codec", None)
        if (type(r) is not SegmentReader or codec is None
                or type(codec.automata(r._storage, r._segment)) is not Automata):
            found.extend(r.terms_within(field, text, maxdist, prefix=prefix))
            continue
        if dfa is None:
            dfa = Automata.levenshtein_dfa(text, maxdist, prefix)
        found.extend(Automata.find_matches(dfa, r.cursor(r.schema[field].spelling_fieldname(field))))
    return found


def live_runs(ids: Sequence[int], deleted: frozenset[int]) -> list[tuple[int, int]]:
    """[start, end) runs of the sorted `ids` that are not deleted, so that the live postings are copied by slices.

    A segment usually has few deleted documents against long lists: each one within the list's range of ids is
    found by bisection (~0.2 us; the runs between them copied at C speed) instead of testing every posting
    (~0.04 us each), unless there are more of them than a fifth of the postings.
    """
    n = len(ids)
    if not n:
        return []
    low, high = ids[0], ids[-1]
    inside = [d for d in deleted if low <= d <= high]
    if len(inside) * 5 < n:
        cuts = [i for d in sorted(inside) for i in [bisect_left(ids, d)] if ids[i] == d]
    else:
        cuts = [i for i, d in enumerate(ids) if d in deleted]
    runs: list[tuple[int, int]] = []
    start = 0
    for i in cuts:
        if i > start:
            runs.append((start, i))
        start = i + 1
    if start < n:
        runs.append((start, n))
    return runs


def index_of(ids: list[int]) -> Any:
    from bisect import bisect_left

    n = len(ids)

    def find(d: int) -> int | None:
        i = bisect_left(ids, d)
        return i if i < n and ids[i] == d else None

    return find


def _length_byte(length: int) -> int:
    return int(length_to_byte(length)) if length else 0


def phrase_at(positions: list[list[int]], offsets: list[int], slop: int = 0) -> bool:
    """True when the tokens occur at the query's relative offsets (stop-word gaps included), each within `slop`.

    offsets[i] is token i's position in the query relative to token 0; with slop 0 the document must have the same
    gaps ("see the upstream" -> see@p, upstream@p+2, as the index keeps stop words' positions empty). With slop the
    tokens must come in order, each at most offset-difference + slop after the previous.
    """
    if not positions or any(not p for p in positions):
        return False
    rest = [set(p) for p in positions[1:]] if not slop else positions[1:]
    for p0 in positions[0]:
        if not slop:
            if all(p0 + offsets[i + 1] in rest[i] for i in range(len(rest))):
                return True
            continue
        prev = p0
        ok = True
        for i, plist in enumerate(rest):
            gap = offsets[i + 1] - offsets[i]
            nxt = next((p for p in plist if prev < p <= prev + gap + slop), None)
            if nxt is None:
                ok = False
                break
            prev = nxt
        if ok:
            return True
    return False


def _holds(ids: Any, d: int) -> bool:
    i = bisect_left(ids, d)
    return i < len(ids) and ids[i] == d


def _table_positions(tables: list[tuple[Leaf, PositionTable]], docs: list[int], out: dict[int, list[int]]
                     ) -> list[int]:
    """Positions of the `docs` (global ids) from the segments' stored tables into `out`; returns the docs that lie
    in segments without one. A deleted document gets none, as from the blocks."""
    rest: list[int] = []
    for d in docs:
        for leaf, table in tables:
            if leaf.off <= d < leaf.off + leaf.n:
                local = d - leaf.off
                got = table.of(local) if local not in leaf.deleted else None
                if got is not None:
                    out[d] = got
                break
        else:
            rest.append(d)
    return rest


def _skip_through(m: Any, local: list[int]) -> Iterator[int]:
    """Yield each of the sorted ids `local` that the matcher holds, leaving the matcher on it while yielded."""
    for d in local:
        if not m.is_active():
            return
        m.skip_to(d)
        if not m.is_active():
            return
        if m.id() == d:
            yield d
