"""Whoosh's writer, made cheaper per posting: field lengths read once per segment, runs spilled in batches.

Whoosh asks for a document's field length for every posting it writes at commit (and for every document it scores
with BM25F). The stock per-document reader answers each call with a seek and a one-byte read from the lengths
column, and for a field with no lengths column (an ID field) it first checks whether the file exists, again per
call. Both were a third of commit time. This reader loads each lengths column once, as the bytes it is on disk,
and remembers which fields have none. The file format is unchanged: any Whoosh reads these segments.

The subclass relies on two internals of `whoosh.codec.whoosh3` (`_cached_reader` and the lengths column layout:
one byte per document); `codec()` falls back to the stock codec when they are not there.

It also reads the stored-fields column with its offsets summed at C speed (`StoredBytesReader`): a search's first
stored-field read otherwise spends ~2 ms on a 1,000-page site in a Python loop, in every `kb search` process.
"""

from __future__ import annotations

import marshal
import struct
from array import array
from collections.abc import Callable, Iterable, Iterator
from itertools import accumulate

from whoosh import columns
from whoosh.codec import whoosh3
from whoosh.util.numeric import byte_to_length
from whoosh.writing import PostingPool

TYPE_CHECKING = False  # rather than typing's: a cold search does not import typing (kb/__init__.py)
if TYPE_CHECKING:
    from typing import Any

_UNSET = object()


class KbPerDocReader(whoosh3.W3PerDocReader):
    def _length_bytes(self, fieldname: str) -> bytes | None:
        cache: dict[str, bytes | None] = self.__dict__.setdefault("_kb_lengths", {})
        data = cache.get(fieldname, _UNSET)
        if data is _UNSET:
            reader = self._cached_reader(whoosh3._lenfield(fieldname), whoosh3.LENGTHS_COLUMN)
            data = None if reader is None else bytes(reader._dbfile.get(reader._basepos, reader._count))
            cache[fieldname] = data
        return data  # type: ignore[return-value]

    def doc_field_length(self, docnum: int, fieldname: str, default: int = 0) -> Any:
        if docnum > self._doccount:
            raise IndexError(f"Asked for docnum {docnum!r} of {self._doccount}")
        data = self._length_bytes(fieldname)
        if data is None:
            return default
        # Same answers as the stock reader, including None for a zero length byte.
        lbyte = data[docnum] if docnum < len(data) else 0
        return byte_to_length(lbyte) if lbyte else None

    def column_reader(self, fieldname: str, column: Any) -> Any:
        if column is whoosh3.STORED_COLUMN and _STORED_COLUMN is not None:
            column = _STORED_COLUMN
        return super().column_reader(fieldname, column)


class StoredBytesReader(columns.CompressedBytesColumn.Reader):  # type: ignore[misc]
    """The stored-fields column's reader, with offsets derived from the lengths at C speed, or read where they lie.

    A segment of up to 2**15 documents keeps no offsets in this column (VarBytesColumn's `write_offsets_cutoff`),
    and the stock reader derives them in a Python loop as it opens: 23,537 documents at 1,000 pages, ~6 M
    instructions of a cold search. A larger one keeps them, and the stock reader reads both arrays whole; here
    they are read an entry at a time (`ArrayInFile`). Every value read is the same."""

    _offsets: array[int] | ArrayInFile
    _lengths: array[int] | ArrayInFile

    def _read_offsets_and_lengths(self) -> None:
        lastbyte = self._basepos + self._length - 1
        lens_code = chr(self._dbfile.get_byte(lastbyte))
        count = self._doccount
        if lens_code == "X":  # offsets written (over 2**15 documents): both arrays read an entry at a time
            self.had_stored_offsets = True
            lens_code, offsets_code = chr(self._dbfile.get_byte(lastbyte - 2)), chr(self._dbfile.get_byte(lastbyte - 1))
            offsets_start = lastbyte - 2 - struct.calcsize(offsets_code) * count
            lengths_start = offsets_start - struct.calcsize(lens_code) * count
            self._offsets = ArrayInFile(self._dbfile, offsets_start, offsets_code, count)
            self._lengths = ArrayInFile(self._dbfile, lengths_start, lens_code, count)
            return
        lengths = self._dbfile.get_array(lastbyte - struct.calcsize(lens_code) * count, lens_code, count)
        offsets = array("L", accumulate(lengths, initial=0))
        offsets.pop()
        self._offsets, self._lengths = offsets, lengths


class ArrayInFile:
    """An array Whoosh wrote into a file (StructFile.write_array: native item size, big-endian), read an entry at a
    time where it lies: a search reads the stored fields of ~20 documents, and at 10,000 pages (236,420 documents)
    reading the stored column's whole offsets and lengths arrays cost ~700 page faults and ~2 CPU-ms of its first
    stored-field read. Iterating reads the whole array at once."""

    def __init__(self, dbfile: Any, start: int, typecode: str, count: int) -> None:
        self._dbfile, self._start, self._typecode, self._count = dbfile, start, typecode, count
        self._size = struct.calcsize(typecode)
        self._signed = typecode.islower()

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, i: int) -> int:
        if not 0 <= i < self._count:
            raise IndexError(i)
        return int.from_bytes(self._dbfile.get(self._start + i * self._size, self._size), "big", signed=self._signed)

    def __iter__(self) -> Any:
        return iter(self._dbfile.get_array(self._start, self._typecode, self._count))


class _StoredBytes(columns.CompressedBytesColumn):  # type: ignore[misc]
    def reader(self, dbfile: Any, basepos: int, length: int, doccount: int) -> StoredBytesReader:
        return StoredBytesReader(dbfile, basepos, length, doccount, self._module)


def _stored_column() -> Any:
    """Whoosh's stored-fields column with `StoredBytesReader`, or None where this Whoosh's column or its reader is
    not the one StoredBytesReader replaces: decided once, at import."""
    stock: Any = whoosh3.STORED_COLUMN
    child: Any = getattr(stock, "_child", None)
    compressed: Any = columns.CompressedBytesColumn
    if type(stock) is not columns.PickleColumn or type(child) is not compressed:
        return None
    if not all(hasattr(compressed.Reader, name) for name in ("_read_offsets_and_lengths", "__getitem__")):
        return None
    return columns.PickleColumn(_StoredBytes(level=child._level, module=child._module))


_STORED_COLUMN = _stored_column()


class KbCodec(whoosh3.W3Codec):
    def per_document_reader(self, storage: Any, segment: Any) -> whoosh3.W3PerDocReader:
        return KbPerDocReader(storage, segment)


def _supported() -> bool:
    reader = whoosh3.W3PerDocReader
    numeric = getattr(whoosh3.LENGTHS_COLUMN, "_typecode", None)
    return hasattr(reader, "_cached_reader") and hasattr(whoosh3, "_lenfield") and numeric == "B"


def codec() -> whoosh3.W3Codec:
    """The codec to write new segments with."""
    return KbCodec() if _supported() else whoosh3.W3Codec()


class KbPostingPool(PostingPool):
    """Whoosh's posting pool, spilling sorted runs as marshalled batches instead of one pickle per posting.

    A full reindex of a site of any size overflows the writer's memory limit, and from then on every posting
    goes through the run files: Whoosh pickles and unpickles each one separately, which cost more than writing
    it. Postings are tuples of str, bytes, int, float and bytes, which `marshal` handles natively.
    """

    BATCH = 8192

    def _write_run(self, f: Any, items: Iterable[tuple[Any, ...]]) -> None:
        batch: list[tuple[Any, ...]] = []
        for item in items:
            batch.append(item)
            if len(batch) >= self.BATCH:
                write_batch(f, batch)
                batch = []
        if batch:
            write_batch(f, batch)
        f.close()

    def _read_run(self, path: str) -> Iterator[tuple[Any, ...]]:
        return read_batches(self, path)

    def add(self, item: tuple[Any, ...]) -> None:
        # Whoosh's size estimate per posting, in one expression (this runs once per posting).
        self.currentsize += 150 + len(item[0]) + 2 * len(item[1]) + len(item[4] or b"")
        if self.currentsize > self.limit:
            self.save()
        self.fieldnames.add(item[0])
        self.current.append(item)


def write_batch(f: Any, batch: list[Any], encode: Callable[[list[Any]], bytes] | None = None) -> None:
    """One batch of a run file: its length, then the marshalled list (or `encode`d, for items marshal cannot
    write). Marshal version 2: no back-references, 3x faster to write (a run is read once)."""
    data = marshal.dumps(batch, 2) if encode is None else encode(batch)
    f.write(len(data).to_bytes(8, "little"))
    f.write(data)


def iter_batches(f: Any, decode: Callable[[bytes], list[Any]] = marshal.loads) -> Iterator[Any]:
    """The items of an open file written with `write_batch`, one batch in memory at a time."""
    while True:
        head = f.read(8)
        if len(head) < 8:
            return
        yield from decode(f.read(int.from_bytes(head, "little")))


def read_batches(pool: Any, path: str, *, remove: bool = True) -> Iterator[Any]:
    """The items of a run file written with `write_batch`, one batch in memory at a time; the file is removed after
    (unless `remove` is False)."""
    f = pool._open_run(path)
    try:
        yield from iter_batches(f)
    finally:
        f.close()
        if remove:
            pool._remove_run(path)


def pool_supported() -> bool:
    return all(hasattr(PostingPool, name) for name in ("_write_run", "_read_run", "_open_run", "_remove_run", "save"))
