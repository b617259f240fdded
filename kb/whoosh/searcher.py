"""A searcher for kb's own scoring engine: the part of `whoosh.searching.Searcher` that kb uses, without its imports.

kb never runs Whoosh queries: it scores from the posting lists (engine.py) and reads stored fields. Whoosh's
Searcher module imports its whole query language (whoosh.query, with the English morphology tables compiled at
import), highlighting and classification: about a fifth of a cold `kb search`. This class wraps the same index
reader with the same methods and numbers (document counts, field lengths, the reader methods Whoosh's searcher
copies), so anything written against a Whoosh searcher's read side works on it; tests/test_whoosh_layer.py checks
the engine gives the same scores on both.
"""

from __future__ import annotations

from collections.abc import Iterator

from whoosh.reading import TermNotFound

TYPE_CHECKING = False  # rather than typing's: a cold search does not import typing (kb/__init__.py)
if TYPE_CHECKING:
    from typing import Any

    from .storage import MappedStorage

# The reader methods whoosh.searching.Searcher exposes as its own (the same list, so code moves between the two).
_FROM_READER = ("stored_fields", "all_stored_fields", "has_vector", "vector", "vector_as", "lexicon", "field_terms",
                "frequency", "doc_frequency", "term_info", "doc_field_length", "corrector", "iter_docs")


class Searcher:
    """The read side of a Whoosh searcher over one index reader (all segments, or one of them as a leaf)."""

    def __init__(self, reader: Any, *, parent: Searcher | None = None, storage: MappedStorage | None = None) -> None:
        self.ixreader = reader
        self._storage = storage  # released with the searcher: its maps outlive the reader's files
        self.schema = reader.schema
        self.is_closed = False
        self._doccount = reader.doc_count_all()
        self._parent = parent
        self.subsearchers: list[tuple[Searcher, int]] | None = None
        if not reader.is_atomic():
            self.subsearchers = [(Searcher(r, parent=self), offset) for r, offset in reader.leaf_readers()]
        for name in _FROM_READER:
            setattr(self, name, getattr(reader, name))

    def __enter__(self) -> Searcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def reader(self) -> Any:
        return self.ixreader

    def is_atomic(self) -> bool:
        return bool(self.ixreader.is_atomic())

    def leaf_searchers(self) -> list[tuple[Searcher, int]]:
        return [(self, 0)] if self.subsearchers is None else self.subsearchers

    def doc_count(self) -> int:
        """Documents not deleted."""
        return int(self.ixreader.doc_count())

    def doc_count_all(self) -> int:
        """Documents, deleted ones included (what BM25's idf counts, as in Whoosh)."""
        return self._doccount

    def field_length(self, fieldname: str) -> int:
        if self._parent is not None:
            return self._parent.field_length(fieldname)
        return int(self.ixreader.field_length(fieldname))

    def avg_field_length(self, fieldname: str, default: float | None = None) -> float | None:
        if not self.schema[fieldname].scorable:
            return default
        return self.field_length(fieldname) / (self._doccount or 1)

    def document_numbers(self, **terms: str) -> Iterator[int]:
        """Documents holding every given term (field=value), deleted ones left out, in order."""
        found: set[int] | None = None
        for field, text in terms.items():
            if field not in self.schema:
                return iter(())
            try:
                ids = set(self.ixreader.postings(field, text).all_ids())
            except TermNotFound:
                return iter(())
            found = ids if found is None else found & ids
        if found is None:  # no terms: every document, as Whoosh's searcher does
            return iter(d for d in range(self._doccount) if not self.ixreader.is_deleted(d))
        return iter(sorted(found))

    def documents(self, **terms: str) -> Iterator[dict[str, Any]]:
        """The stored fields of every document holding the given terms (`documents(path="a.md")`)."""
        for docnum in self.document_numbers(**terms):
            yield self.ixreader.stored_fields(docnum)

    def check_files(self) -> None:
        """Before a search: raise (kb/whoosh/storage.py ShrunkFile) if a mapped index file was cut short since it
        was opened, which reading would turn into a crash rather than an error."""
        if self._storage is not None:
            self._storage.check()

    def close(self) -> None:
        if self._parent is None:
            self.ixreader.close()
            if self._storage is not None:
                self._storage.release()
        self.is_closed = True


def open_searcher(folder: str) -> Searcher:
    """A searcher on the Whoosh index in a generation folder, its files memory-mapped (kb/whoosh/storage.py)."""
    from . import open_index

    ix = open_index(folder, mapped=True)
    return Searcher(ix.reader(), storage=ix.storage)
