"""Whoosh's on-disk codec with field lengths read once per segment instead of once per posting.

Whoosh asks for a document's field length for every posting it writes at commit (and for every document it scores
with BM25F). The stock per-document reader answers each call with a seek and a one-byte read from the lengths
column, and for a field with no lengths column (an ID field) it first checks whether the file exists, again per
call. Both were a third of commit time. This reader loads each lengths column once, as the bytes it is on disk,
and remembers which fields have none. The file format is unchanged: any Whoosh reads these segments.

The subclass relies on two internals of `whoosh.codec.whoosh3` (`_cached_reader` and the lengths column layout:
one byte per document); `codec()` falls back to the stock codec when they are not there.
"""

from __future__ import annotations

from typing import Any

from whoosh.codec import whoosh3
from whoosh.util.numeric import byte_to_length

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
            raise IndexError("Asked for docnum %r of %d" % (docnum, self._doccount))
        data = self._length_bytes(fieldname)
        if data is None:
            return default
        # Same answers as the stock reader, including None for a zero length byte.
        lbyte = data[docnum] if docnum < len(data) else 0
        return byte_to_length(lbyte) if lbyte else None


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
