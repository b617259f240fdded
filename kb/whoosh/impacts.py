"""Long posting lists stored a second time beside each segment, as arrays a search reads without unpickling.

Whoosh keeps a term's postings in blocks of 128, each a zlib'd pickle of (ids, weights, positions) behind a pickled
header. A search that must score every posting of a common word (docs/performance.md: no block of such a list can
be skipped for kb's pool of 300) spent most of its time there: ~0.5 us a posting, 130 ms for `return`'s six lists at
10,000 pages. So when a segment is written, each list of at least MIN_POSTINGS postings is also written to the
segment's `.kbi` file as its document numbers (int32) and weights (float64, the float32 values Whoosh reads back),
byte-shuffled (all first bytes, then all second bytes...) and zlib'd, which packs sorted ids and small counts into
about one byte a posting and reads back with one decompress and a few slice copies.

The file is optional: a segment written by Whoosh's own writer, or by an older kb, has none and is read block by
block as before. Whether a segment has one is decided once, when the searcher's engine is made. The ids are the
segment's own document numbers, deleted documents included (deletions are applied by the reader, as for blocks).
Each list carries a CRC-32 and the directory one of its own: a damaged file raises `DamagedImpacts`, which a
search treats like any other damaged index file (verify, rebuild, one warning).

Positions (second version of the file, MAGIC ending in 2): a quoted phrase and the proximity bonus read the positions
of a few hundred passages per list, and from the blocks each one costs its whole block's unpickling (~190 us a block
of 128, one `_codecs.encode` call per posting). So a list of a phrase field (POSITION_FIELDS) also stores its
postings' encoded positions right after its ids and weights, as Whoosh encoded them (where each ends, then the bytes),
and a reader decodes only the postings it needs, with the field's own format. A file of the first version has none:
its lists are used, and positions are read from the blocks. Which of the two a file is, is decided once, when its
directory is read.

Layout: MAGIC, the lists (each list's positions, when stored, right after it), the directory, then TRAILER: directory
offset, size and CRC, END. The directory (`Directory`) is a marshalled pair: the sorted keys (field, NUL, term
bytes) and an int64 array of six numbers per key (offset, size, postings, crc, positions' size, their crc). Loading
it builds no object per list, which a search that opens the index pays once (the first version's directory, a
marshalled tuple of (field, term bytes, offset, size, postings, crc) tuples made into a dict, cost ~0.45 us a list:
~7 ms at 10,000 pages with only the lists of 1,024 postings or more).
"""

from __future__ import annotations

import marshal
import struct
import sys
import zlib
from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator
from itertools import accumulate

TYPE_CHECKING = False  # rather than typing's: a cold search does not import typing (kb/__init__.py)
if TYPE_CHECKING:
    from typing import Any

EXT = ".kbi"
MAGIC = b"KBIMPACTS2\n"  # the version this kb writes: lists with their positions
MAGIC_V1 = b"KBIMPACTS1\n"  # an older kb's: lists only (still read; positions come from the blocks)
END = b"KBIEND1\n"
TRAILER = struct.Struct("<QII8s")
MIN_POSTINGS = 128  # shorter lists fit in one block, read from it as cheaply (each stored list adds to the directory)
POSITION_FIELDS = frozenset({"title", "heading", "body"})  # kb's phrase fields: their lists store positions too
LEVEL = 1  # zlib level: ~1.1 bytes a posting (level 6: ~0.9) at a third of the compression time
BIG_ENDIAN = sys.byteorder == "big"
Chunk = tuple[list[int], list[float], list[bytes]]


class DamagedImpacts(ValueError):
    """A `.kbi` file that does not read back as written (a damaged index file, like a bad block)."""


def supported() -> bool:
    """Whether this Python's arrays have the item sizes the file stores (int32 ids, float64 weights)."""
    return array("i").itemsize == 4 and array("d").itemsize == 8


def _shuffle(data: bytes, width: int) -> bytes:
    return b"".join(data[i::width] for i in range(width))


def _unshuffle(data: bytes, width: int) -> bytes:
    n = len(data) // width
    out = bytearray(len(data))
    for i in range(width):
        out[i::width] = data[i * n:(i + 1) * n]
    return bytes(out)


def encode(ids: array[int], weights: array[float]) -> bytes:
    """One list: little-endian int32 ids and float64 weights, each byte-shuffled, compressed together."""
    if BIG_ENDIAN:
        ids, weights = array("i", ids), array("d", weights)
        ids.byteswap()
        weights.byteswap()
    return zlib.compress(_shuffle(ids.tobytes(), 4) + _shuffle(weights.tobytes(), 8), LEVEL)


def decode(blob: bytes, n: int) -> tuple[array[int], array[float]]:
    raw = zlib.decompress(blob)
    if len(raw) != 12 * n:
        raise DamagedImpacts(f"a list holds {len(raw)} bytes, expected {12 * n}")
    ids = array("i")
    ids.frombytes(_unshuffle(raw[:4 * n], 4))
    weights = array("d")
    weights.frombytes(_unshuffle(raw[4 * n:], 8))
    if BIG_ENDIAN:
        ids.byteswap()
        weights.byteswap()
    return ids, weights


def encode_positions(values: list[bytes]) -> bytes | None:
    """One list's positions as Whoosh encoded them (each posting's value: a count and a pickle of the deltas),
    stored as they are: where each value ends (uint32, byte-shuffled), then the values, compressed together. Taken
    as bytes, not decoded (that would cost the writer ~1 us a posting); a reader decodes the few it needs with the
    field's format, so it gets exactly what the blocks give. None when a value is empty (none to store) or the
    values pass 4 GB."""
    if not all(values):
        return None
    try:
        ends = array("I", accumulate(map(len, values)))
    except OverflowError:
        return None
    if BIG_ENDIAN:
        ends.byteswap()
    return zlib.compress(_shuffle(ends.tobytes(), 4) + b"".join(values), LEVEL)


Decode = Callable[[bytes], list[int]]  # a field format's decode_positions


class PositionTable:
    """A stored list's encoded positions by segment-local document number: `of(doc)` is what the field format's
    `decode_positions` gives for the doc's posting in the blocks (None when the list does not hold the doc)."""

    __slots__ = ("ids", "ends", "data", "decode")

    def __init__(self, ids: array[int], ends: array[int], data: bytes, decode: Decode) -> None:
        self.ids = ids
        self.ends = ends  # where each posting's value ends in `data` (stored so, not summed at every read)
        self.data = data
        self.decode = decode

    def of(self, doc: int) -> list[int] | None:
        i = bisect_left(self.ids, doc)
        if i == len(self.ids) or self.ids[i] != doc:
            return None
        return self.decode(self.data[self.ends[i - 1] if i else 0:self.ends[i]])

    def __len__(self) -> int:
        """What keeping it costs, in postings (for a cache's budget: ~4 bytes of offsets and ~15 of value each)."""
        return 2 * len(self.ids)


def decode_positions(ids: array[int], blob: bytes, decode: Decode) -> PositionTable:
    """The positions of the list whose ids are `ids`, from their stored bytes (`encode_positions`)."""
    n = len(ids)
    raw = zlib.decompress(blob)
    if len(raw) < 4 * n:
        raise DamagedImpacts(f"a list's positions hold {len(raw)} bytes, expected at least {4 * n}")
    ends = array("I")
    ends.frombytes(_unshuffle(raw[:4 * n], 4))
    if BIG_ENDIAN:
        ends.byteswap()
    size = ends[-1] if n else 0
    if len(raw) != 4 * n + size:
        raise DamagedImpacts(f"a list's positions hold {len(raw)} bytes, expected {4 * n + size}")
    return PositionTable(ids, ends, raw[4 * n:], decode)


class ImpactsWriter:
    """Collects the long lists of a segment as the writer hands its terms over (`term`), then writes the file."""

    def __init__(self, storage: Any, segment: Any) -> None:
        self.file = segment.create_file(storage, EXT)
        self.file.write(MAGIC)
        self.offset = len(MAGIC)
        # (field, term, offset, size, postings, crc, positions' size, their crc): the positions follow the list
        self.entries: list[tuple[str, bytes, int, int, int, int, int, int]] = []

    def term(self, fieldname: str, tbytes: bytes, chunks: Iterable[Chunk]) -> Iterator[Chunk]:
        """Pass a term's chunks through unchanged, keeping their ids and weights (and in a phrase field their
        positions); a long list is written at the end."""
        kept: list[Chunk] = []
        n = 0
        for chunk in chunks:
            kept.append(chunk)
            n += len(chunk[0])
            yield chunk
        if n >= MIN_POSTINGS:
            ids = array("i")
            weights = array("f")  # the 32-bit floats the blocks hold, which is what a reader gets back
            for docs, ws, _values in kept:
                ids.extend(docs)
                weights.extend(ws)
            positions = None
            if fieldname in POSITION_FIELDS:
                values = [v for chunk in kept for v in chunk[2]]
                positions = encode_positions(values) if len(values) == n else None  # one value a posting, or none
            self.add(fieldname, tbytes, ids, array("d", weights), positions)

    def add(self, fieldname: str, tbytes: bytes, ids: array[int], weights: array[float],
            positions: bytes | None = None) -> None:
        blob = encode(ids, weights)
        self.file.write(blob)
        pos = positions or b""
        self.file.write(pos)
        self.entries.append((fieldname, bytes(tbytes), self.offset, len(blob), len(ids), zlib.crc32(blob),
                             len(pos), zlib.crc32(pos)))
        self.offset += len(blob) + len(pos)

    def abandon(self) -> None:
        """Close the file as it is (its segment failed to write and will not be committed)."""
        self.file.close()

    def close(self) -> None:
        directory = Directory.of(self.entries).dumps()
        self.file.write(directory)
        self.file.write(TRAILER.pack(self.offset, len(directory), zlib.crc32(directory), END))
        self.file.close()


Entry = tuple[int, int, int, int, int, int]  # offset, size, postings, crc, positions' size, their crc


class Directory:
    """Where each list of a file is: sorted keys (field, NUL, term bytes) found by bisection, six int64 each."""

    __slots__ = ("keys", "values")

    def __init__(self, keys: list[bytes], values: array[int]) -> None:
        if len(values) != 6 * len(keys) or keys != sorted(keys):
            raise ValueError("keys and values do not match")
        self.keys = keys
        self.values = values

    @classmethod
    def of(cls, entries: Iterable[tuple[Any, ...]]) -> Directory:
        """From (field, term bytes, offset, size, postings, crc[, positions' size, their crc]) tuples."""
        rows = sorted((f.encode() + b"\0" + t, (*e, 0, 0)[:6]) for f, t, *e in entries)
        return cls([k for k, _ in rows], array("q", [v for _, e in rows for v in e]))

    def dumps(self) -> bytes:
        values = array("q", self.values)
        if BIG_ENDIAN:
            values.byteswap()
        return marshal.dumps((self.keys, values.tobytes()), 4)

    @classmethod
    def loads(cls, data: bytes) -> Directory:
        keys, raw = marshal.loads(data)
        values = array("q")
        values.frombytes(raw)
        if BIG_ENDIAN:
            values.byteswap()
        return cls(keys, values)

    def get(self, fieldname: str, tbytes: bytes) -> Entry | None:
        key = fieldname.encode() + b"\0" + tbytes
        i = bisect_left(self.keys, key)
        if i == len(self.keys) or self.keys[i] != key:
            return None
        return self._entry(i)

    def _entry(self, i: int) -> Entry:
        v, at = self.values, 6 * i
        return v[at], v[at + 1], v[at + 2], v[at + 3], v[at + 4], v[at + 5]

    def items(self) -> Iterator[tuple[tuple[str, bytes], Entry]]:
        for i, key in enumerate(self.keys):
            field, _, term = key.partition(b"\0")
            yield (field.decode(), term), self._entry(i)

    def __iter__(self) -> Iterator[tuple[str, bytes]]:
        """The (field, term bytes) of every list, as a dict's keys."""
        return (key for key, _entry in self.items())

    def __len__(self) -> int:
        return len(self.keys)


class Impacts:
    """A segment's `.kbi` file, read lazily: the directory on the first lookup, each list when asked for."""

    def __init__(self, storage: Any, name: str) -> None:
        self.storage = storage
        self.name = name
        self._directory: Directory | None = None  # positions' sizes are 0 in a first-version file

    @classmethod
    def open(cls, reader: Any) -> Impacts | None:
        """The segment's impacts file, or None when it has none (written by Whoosh's writer or an older kb)."""
        storage = reader.storage()
        name = reader.segment().make_filename(EXT)
        return cls(storage, name) if supported() and storage.file_exists(name) else None

    def _read(self, offset: int, size: int) -> bytes:
        f = self.storage.open_file(self.name)
        try:
            f.seek(offset)
            data = f.read(size)
        finally:
            f.close()
        if len(data) != size:
            raise DamagedImpacts(f"{self.name} is truncated")
        return bytes(data)

    def directory(self) -> Directory:
        if self._directory is None:
            total = self.storage.file_length(self.name)
            if total < len(MAGIC) + TRAILER.size:
                raise DamagedImpacts(f"{self.name} is truncated")
            # The version, decided once per file: a first-version file's lists are used, without positions.
            magic = self._read(0, len(MAGIC))
            if magic not in (MAGIC, MAGIC_V1):
                raise DamagedImpacts(f"{self.name} is not an impacts file this kb reads")
            offset, size, crc, end = TRAILER.unpack(self._read(total - TRAILER.size, TRAILER.size))
            if end != END or offset + size + TRAILER.size != total:
                raise DamagedImpacts(f"{self.name} has no valid trailer")
            data = self._read(offset, size)
            if zlib.crc32(data) != crc:
                raise DamagedImpacts(f"{self.name}: directory checksum mismatch")
            try:
                self._directory = Directory.of(marshal.loads(data)) if magic == MAGIC_V1 else Directory.loads(data)
            except (ValueError, EOFError, TypeError, AttributeError) as exc:
                raise DamagedImpacts(f"{self.name}: unreadable directory ({exc})") from None
        return self._directory

    def has(self, fieldname: str, tbytes: bytes) -> bool:
        return self.directory().get(fieldname, tbytes) is not None

    def _blob(self, offset: int, size: int, crc: int, fieldname: str, tbytes: bytes) -> bytes:
        blob = self._read(offset, size)
        if zlib.crc32(blob) != crc:
            raise DamagedImpacts(f"{self.name}: checksum mismatch in the list of {fieldname}:{tbytes!r}")
        return blob

    def _list_blob(self, fieldname: str, tbytes: bytes) -> tuple[bytes, int] | None:
        """A stored list's checked bytes and its number of postings; None for a list not stored."""
        entry = self.directory().get(fieldname, tbytes)
        if entry is None:
            return None
        offset, size, n, crc, _p_size, _p_crc = entry
        return self._blob(offset, size, crc, fieldname, tbytes), n

    def postings(self, fieldname: str, tbytes: bytes) -> tuple[array[int], array[float]] | None:
        """(segment-local ids, weights) of a long list, deleted documents included; None for a list not stored."""
        stored = self._list_blob(fieldname, tbytes)
        if stored is None:
            return None
        blob, n = stored
        try:
            return decode(blob, n)
        except zlib.error as exc:
            raise DamagedImpacts(f"{self.name}: {exc}") from None

    def ids(self, fieldname: str, tbytes: bytes) -> array[int] | None:
        """The segment-local ids of a stored list alone (the stream is decompressed only as far as they go): which
        candidates hold a term, for a list only probed, not scored; None for a list not stored."""
        stored = self._list_blob(fieldname, tbytes)
        if stored is None:
            return None
        blob, n = stored
        try:
            raw = zlib.decompressobj().decompress(blob, 4 * n)
        except zlib.error as exc:
            raise DamagedImpacts(f"{self.name}: {exc}") from None
        if len(raw) != 4 * n:
            raise DamagedImpacts(f"{self.name}: the list of {fieldname}:{tbytes!r} is short")
        ids = array("i")
        ids.frombytes(_unshuffle(raw, 4))
        if BIG_ENDIAN:
            ids.byteswap()
        return ids

    def positions(self, fieldname: str, tbytes: bytes, decoder: Decode) -> PositionTable | None:
        """The positions of a stored list's postings, by document; None when they are not stored (not a phrase
        field, a short list, a first-version file, values that were not Whoosh's pickled positions)."""
        entry = self.directory().get(fieldname, tbytes)
        if entry is None or not entry[4]:
            return None
        offset, size, n, crc, p_size, p_crc = entry
        data = self._read(offset, size + p_size)  # the list, then its positions
        blob, pos = data[:size], data[size:]
        if zlib.crc32(blob) != crc or zlib.crc32(pos) != p_crc:
            raise DamagedImpacts(f"{self.name}: checksum mismatch in the list of {fieldname}:{tbytes!r}")
        try:
            ids, _weights = decode(blob, n)
            return decode_positions(ids, pos, decoder)
        except zlib.error as exc:
            raise DamagedImpacts(f"{self.name}: {exc}") from None
