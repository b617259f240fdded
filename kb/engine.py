"""Scoring straight from the posting lists: BM25F sums, phrase checks and matched terms, without a matcher tree.

Whoosh evaluates a query by walking a tree of matcher objects document by document; with kb's query shape (every
word over six fields, identifier parts, exact forms, a proximity bonus) that costs about 0.4 ms per matching
document, seconds for a common word. Here each (field, term) posting list is decoded a block at a time into flat
lists (cached per searcher), scores are summed in a dict, and positions are read only for the few documents a
phrase or the proximity bonus must check. The formula is Whoosh's BM25F (same idf, field lengths and boosts), so
ranking is unchanged; docs/ranking.md explains the ranking itself.
"""

from __future__ import annotations

from itertools import accumulate
from math import log
from typing import Any, Iterable, Iterator

from whoosh.codec.whoosh3 import LENGTHS_COLUMN, _lenfield
from whoosh.util.numeric import byte_to_length

POSTINGS_BUDGET = 1_500_000  # decoded postings kept per searcher (all dropped when over): ~100-150 MB at most
STORED_CACHE = 5000  # stored documents (with their text) kept per searcher
POSITION_FIELDS = frozenset({"title", "heading", "body"})  # phrase fields: their encoded positions are kept too
Postings = tuple[list[int], list[float]]


class Engine:
    """Per-searcher view of the index for scoring: decoded postings, field-length norms, idf."""

    def __init__(self, searcher: Any, *, K1: float, B: float, field_B: dict[str, float]) -> None:
        self.searcher = searcher
        self.leaves = [(s.reader(), off) for s, off in searcher.leaf_searchers()]
        self.N = max(1, searcher.doc_count_all())
        self.K1, self.B, self.field_B = K1, B, field_B
        self._postings: dict[tuple[str, str], Postings] = {}
        self._values: dict[tuple[str, str], list[Any]] = {}
        self._scores: dict[tuple[str, str], tuple[list[int], list[float]]] = {}
        self._held = 0
        self.corrections: dict[str, str | None] = {}
        self._lengths: dict[str, bytes] = {}
        self._norms: dict[str, list[float]] = {}
        self._stored: dict[int, dict[str, Any]] = {}

    # -- raw data --------------------------------------------------------------------------------------

    def postings(self, field: str, term: str) -> Postings:
        key = (field, term)
        hit = self._postings.get(key)
        if hit is not None:
            return hit
        ids: list[int] = []
        tfs: list[float] = []
        values: list[Any] | None = [] if field in POSITION_FIELDS else None
        for reader, off in self.leaves:
            try:
                m = reader.postings(field, term)
            except Exception:  # TermNotFound, or a field this segment lacks
                continue
            deleted = getattr(m, "_ids", None) if type(m).__name__ == "FilterMatcher" else None
            if deleted is not None and getattr(m, "_exclude", False) and hasattr(m, "child"):
                # A segment with deleted documents: decode the raw list fast, then drop the deleted ones.
                seg_ids: list[int] = []
                seg_tfs: list[float] = []
                seg_values: list[Any] | None = [] if values is not None else None
                _decode(m.child, 0, seg_ids, seg_tfs, seg_values)
                for i, d in enumerate(seg_ids):
                    if d not in deleted:
                        ids.append(d + off)
                        tfs.append(seg_tfs[i])
                        if values is not None and seg_values is not None:
                            values.append(seg_values[i])
                continue
            _decode(m, off, ids, tfs, values)
        self._held += len(ids) + 1
        if self._held > POSTINGS_BUDGET:
            self._postings.clear()
            self._values.clear()
            self._scores.clear()
            self._held = len(ids) + 1
        self._postings[key] = (ids, tfs)
        if values is not None and len(values) == len(ids):
            self._values[key] = values
        return ids, tfs

    def cached(self, field: str, term: str) -> bool:
        return (field, term) in self._postings

    def holding(self, field: str, term: str, docs: list[int]) -> list[int]:
        """Which of `docs` hold the term in the field, skipping through the posting blocks without decoding them
        all (block headers carry their last id), for terms only checked for a few candidates."""
        found: list[int] = []
        for m, local, off in self._leaf_matchers(field, term, docs):
            try:
                _probe(m, local, off, found)
            except AttributeError:  # a wrapped matcher (deletions) or another codec: the public way
                found.extend(d + off for d in _skip_through(m, local))
        return found

    def doc_ids(self, field: str, term: str) -> list[int]:
        return self.postings(field, term)[0]

    def prefix_terms(self, field: str, prefix: str, *, limit: int, scan: int = 5000) -> list[tuple[int, str]]:
        """(doc frequency, term) of the most frequent terms with this prefix, from the term index alone."""
        freq: dict[str, int] = {}
        for reader, _off in self.leaves:
            try:
                it = reader.iter_prefix(field, prefix)
                for n, (text, info) in enumerate(it):
                    if n >= scan:
                        break
                    t = text.decode("utf-8") if isinstance(text, bytes) else text
                    freq[t] = freq.get(t, 0) + info.doc_frequency()
            except Exception:
                continue
        return sorted(((df, t) for t, df in freq.items()), reverse=True)[:limit]

    def _length_bytes(self, field: str) -> bytes:
        got = self._lengths.get(field)
        if got is not None:
            return got
        parts: list[bytes] = []
        for reader, _off in self.leaves:
            n = reader.doc_count_all()
            try:
                col = reader._perdoc._cached_reader(_lenfield(field), LENGTHS_COLUMN)
                raw = bytes(col._dbfile.get(col._basepos, col._count)) if col is not None else b""
            except Exception:
                raw = bytes(min(255, _length_byte(reader.doc_field_length(d, field, 0))) for d in range(n))
            parts.append(raw[:n] + bytes(max(0, n - len(raw))))
        got = b"".join(parts)
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
        return log(self.N / (self.searcher.doc_frequency(field, term) + 1)) + 1

    def term_scores(self, field: str, term: str) -> tuple[list[int], list[float]]:
        """(doc ids, BM25 of the term in each) for one field, unboosted; cached with the postings."""
        key = (field, term)
        got = self._scores.get(key)
        if got is not None:
            return got
        ids, tfs = self.postings(field, term)
        vals: list[float] = []
        if ids:
            lens = self._length_bytes(field)
            norm = self.norms(field)
            scale = self.idf(field, term) * (self.K1 + 1)
            vals = [scale * tf / (tf + norm[lens[d]]) for d, tf in zip(ids, tfs)]
        if len(self._scores) > len(self._postings) + 64:
            self._scores.clear()
        got = self._scores[key] = (ids, vals)
        return got

    def sum_scores(self, refs: list[tuple[str, str, float]]) -> dict[int, float]:
        """doc -> sum of boost x BM25 over the (field, term, boost) refs, for documents holding any of them."""
        lists = [(self.term_scores(f, t), boost) for f, t, boost in refs]
        lists = [x for x in lists if x[0][0]]
        if not lists:
            return {}
        lists.sort(key=lambda x: -len(x[0][0]))
        (ids, vals), boost = lists[0]
        acc = dict(zip(ids, vals if boost == 1.0 else [v * boost for v in vals]))  # the longest list at C speed
        get = acc.get
        for (ids, vals), boost in lists[1:]:
            for d, v in zip(ids, vals):
                acc[d] = get(d, 0.0) + boost * v
        return acc

    def score_docs(self, docs: Iterable[int], field: str, term: str, boost: float) -> dict[int, float]:
        """boost x BM25 of one term for the given documents only (those that hold it)."""
        ids, vals = self.term_scores(field, term)
        wanted = docs if isinstance(docs, (set, dict)) else set(docs)
        if not ids or not wanted:
            return {}
        if len(wanted) * 8 < len(ids):
            find = index_of(ids)
            return {d: boost * vals[i] for d in wanted for i in [find(d)] if i is not None}
        return {d: boost * v for d, v in zip(ids, vals) if d in wanted}

    def positions(self, field: str, term: str, docs: list[int]) -> dict[int, list[int]]:
        """Token positions of a term in the given documents (sorted ascending), for phrase checks."""
        out: dict[int, list[int]] = {}
        if not docs:
            return out
        ids = self.postings(field, term)[0]
        values = self._values.get((field, term))
        if values is not None:
            decode = self.searcher.schema[field].format.decode_positions
            find = index_of(ids)
            for d in docs:
                i = find(d)
                if i is not None:
                    out[d] = decode(values[i])
            return out
        for m, local, off in self._leaf_matchers(field, term, docs):
            for d in _skip_through(m, local):
                out[d + off] = m.value_as("positions")
        return out

    def _leaf_matchers(self, field: str, term: str, docs: list[int]) -> Iterator[tuple[Any, list[int], int]]:
        """Per segment holding some of `docs`: the term's matcher, those docs as sorted segment-local ids, and
        the segment's offset. Segments without the term are skipped."""
        todo = sorted(docs)
        for reader, off in self.leaves:
            n = reader.doc_count_all()
            local = [d - off for d in todo if off <= d < off + n]
            if not local:
                continue
            try:
                m = reader.postings(field, term)
            except Exception:  # the term is not in this segment (Whoosh raises TermNotFound and kin)
                continue
            yield m, local, off

    def stored(self, doc: int) -> dict[str, Any]:
        got = self._stored.get(doc)
        if got is None:
            if len(self._stored) >= STORED_CACHE:
                self._stored.clear()
            got = self._stored[doc] = self.searcher.stored_fields(doc)
        return got


def _decode(m: Any, off: int, ids: list[int], tfs: list[float], values: list[Any] | None) -> None:
    """Append a posting matcher's ids (shifted to global numbers), weights and (when asked) encoded positions,
    a block at a time: the codec unpickles whole blocks anyway, so keeping the values costs no extra decoding."""
    try:
        while m.is_active():
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
    except AttributeError:  # another codec: the public, slower way
        while m.is_active():
            ids.append(m.id() + off)
            tfs.append(m.weight())
            if values is not None:
                values.append(m.value())
            m.next()


def _probe(m: Any, docs: list[int], off: int, found: list[int]) -> None:
    """Append the (sorted) docs the W3 posting matcher holds: skip whole blocks by their last id (header only), and
    bisect inside the few blocks that may hold a doc."""
    from bisect import bisect_left

    m._maxid  # noqa: B018 -- AttributeError here means another matcher type
    for d in docs:
        if not m.is_active():
            return
        if d > m._maxid:
            m._skip_to_block(lambda: d > m._maxid)
            if not m.is_active():
                return
        if m._ids is None:
            if m._data is None:
                m._read_data()
            raw = m._data[0]
            m._ids = raw if m._byteids else tuple(accumulate(raw))
        i = bisect_left(m._ids, d, m._i)
        m._i = min(i, m._blocklength - 1) if i < m._blocklength else m._i
        if i < m._blocklength and m._ids[i] == d:
            found.append(d + off)


def index_of(ids: list[int]) -> Any:
    from bisect import bisect_left

    n = len(ids)

    def find(d: int) -> int | None:
        i = bisect_left(ids, d)
        return i if i < n and ids[i] == d else None

    return find


def _length_byte(length: int) -> int:
    from whoosh.util.numeric import length_to_byte

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
