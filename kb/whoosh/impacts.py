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

Layout: MAGIC, the lists, the directory (a marshalled tuple of (field, term bytes, offset, size, postings, crc)
tuples), then TRAILER: directory offset, size and CRC, END.
"""

from __future__ import annotations

import marshal
import struct
import sys
import zlib
from array import array
from collections.abc import Iterable, Iterator
from typing import Any

EXT = ".kbi"
MAGIC = b"KBIMPACTS1\n"
END = b"KBIEND1\n"
TRAILER = struct.Struct("<QII8s")
MIN_POSTINGS = 1024  # shorter lists (8 blocks or fewer) are cheap enough to read from the blocks
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


class ImpactsWriter:
    """Collects the long lists of a segment as the writer hands its terms over (`term`), then writes the file."""

    def __init__(self, storage: Any, segment: Any) -> None:
        self.file = segment.create_file(storage, EXT)
        self.file.write(MAGIC)
        self.offset = len(MAGIC)
        self.entries: list[tuple[str, bytes, int, int, int, int]] = []

    def term(self, fieldname: str, tbytes: bytes, chunks: Iterable[Chunk]) -> Iterator[Chunk]:
        """Pass a term's chunks through unchanged, keeping their ids and weights; a long list is written at the end."""
        kept: list[tuple[list[int], list[float]]] = []
        n = 0
        for chunk in chunks:
            kept.append((chunk[0], chunk[1]))
            n += len(chunk[0])
            yield chunk
        if n >= MIN_POSTINGS:
            ids = array("i")
            weights = array("f")  # the 32-bit floats the blocks hold, which is what a reader gets back
            for docs, ws in kept:
                ids.extend(docs)
                weights.extend(ws)
            self.add(fieldname, tbytes, ids, array("d", weights))

    def add(self, fieldname: str, tbytes: bytes, ids: array[int], weights: array[float]) -> None:
        blob = encode(ids, weights)
        self.file.write(blob)
        self.entries.append((fieldname, bytes(tbytes), self.offset, len(blob), len(ids), zlib.crc32(blob)))
        self.offset += len(blob)

    def abandon(self) -> None:
        """Close the file as it is (its segment failed to write and will not be committed)."""
        self.file.close()

    def close(self) -> None:
        directory = marshal.dumps(tuple(self.entries), 4)
        self.file.write(directory)
        self.file.write(TRAILER.pack(self.offset, len(directory), zlib.crc32(directory), END))
        self.file.close()


class Impacts:
    """A segment's `.kbi` file, read lazily: the directory on the first lookup, each list when asked for."""

    def __init__(self, storage: Any, name: str) -> None:
        self.storage = storage
        self.name = name
        self._directory: dict[tuple[str, bytes], tuple[int, int, int, int]] | None = None

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

    def directory(self) -> dict[tuple[str, bytes], tuple[int, int, int, int]]:
        if self._directory is None:
            total = self.storage.file_length(self.name)
            if total < len(MAGIC) + TRAILER.size:
                raise DamagedImpacts(f"{self.name} is truncated")
            offset, size, crc, end = TRAILER.unpack(self._read(total - TRAILER.size, TRAILER.size))
            if end != END or offset + size + TRAILER.size != total:
                raise DamagedImpacts(f"{self.name} has no valid trailer")
            data = self._read(offset, size)
            if zlib.crc32(data) != crc:
                raise DamagedImpacts(f"{self.name}: directory checksum mismatch")
            try:
                entries = marshal.loads(data)
                self._directory = {(f, t): (off, n_bytes, n, c) for f, t, off, n_bytes, n, c in entries}
            except (ValueError, EOFError, TypeError) as exc:
                raise DamagedImpacts(f"{self.name}: unreadable directory ({exc})") from None
        return self._directory

    def has(self, fieldname: str, tbytes: bytes) -> bool:
        return (fieldname, tbytes) in self.directory()

    def postings(self, fieldname: str, tbytes: bytes) -> tuple[array[int], array[float]] | None:
        """(segment-local ids, weights) of a long list, deleted documents included; None for a list not stored."""
        entry = self.directory().get((fieldname, tbytes))
        if entry is None:
            return None
        offset, size, n, crc = entry
        blob = self._read(offset, size)
        if zlib.crc32(blob) != crc:
            raise DamagedImpacts(f"{self.name}: checksum mismatch in the list of {fieldname}:{tbytes!r}")
        try:
            return decode(blob, n)
        except zlib.error as exc:
            raise DamagedImpacts(f"{self.name}: {exc}") from None
