"""What an index generation records about itself: the build stamp, each source file's signature, and how the
content folder differs from it.

The manifest is what makes reindexing incremental (a page whose size and mtime match is not read again) and what
lets kb tell an index it can use from one built by another version or with other settings.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from . import __version__
from . import whoosh as _whoosh  # noqa: F401 - first: Whoosh without urllib.request and asyncio (kb/whoosh)
from .analysis import ANALYSIS_VERSION
from .discover import Discovery, SourceFile
from .limits import MAX_FILE_BYTES
from .model import Problem
from .urls import Routing

try:  # CPython's own SHA-1: the same digests as hashlib's, without loading OpenSSL (~3 ms of every search)
    from _sha1 import sha1 as _sha1
except ImportError:  # a build without it (FIPS)
    from hashlib import sha1 as _sha1

SCHEMA_VERSION = 3  # 2: immutable generations, manifest records index file checksums; 3: source and route fields


@dataclass(frozen=True)
class Settings:
    """What changes the content of the index; any change forces a full rebuild."""

    include_drafts: bool = False
    max_file_bytes: int = MAX_FILE_BYTES
    # (path prefix, source name, routing) per source: which source a file is in and how its URL is routed.
    sources: tuple[tuple[str, str, Routing], ...] = ()
    dialect: str = "auto"  # how pages are read (kb.dialects; "auto": detected when parsing): a change rebuilds
    # (path prefix, dialect) per source, resolved when pages are about to be parsed (Indexer.parse_settings); not
    # part of the stamp: a detected dialect follows the pages, a configured one is in `sources` and `dialect`.
    parse_dialects: tuple[tuple[str, str], ...] = ()
    model: str = ""  # the embedding model's id when passages get vectors (kb/semantic), else ""

    def stamp(self) -> str:
        stamp = f"{format_stamp()};drafts={int(self.include_drafts)};max={self.max_file_bytes};dialect={self.dialect}"
        if self.sources:
            digest = _sha1(repr(self.sources).encode("utf-8")).hexdigest()[:12]
            stamp += f";sources={digest}"
        return stamp + (f";model={self.model}" if self.model else "")

    def source_for(self, rel: str) -> tuple[str, str, Routing | None]:
        """(source name, path inside the source, routing) of an indexed path."""
        for prefix, name, routing in self.sources:
            if rel.startswith(prefix):
                return name, rel[len(prefix):], routing
        return "", rel, None

    def dialect_for(self, rel: str) -> str:
        """The dialect an indexed path is parsed in: its source's, else the knowledge base's ("auto" or forced)."""
        for prefix, name in self.parse_dialects:
            if rel.startswith(prefix):
                return name
        return self.dialect


def without_model(stamp: str) -> str:
    """The stamp minus its model part: equal ones differ only in their vectors, which can be rebuilt alone."""
    return stamp.split(";model=", 1)[0]


def format_stamp() -> str:
    """The part of the stamp that decides whether this kb can search an index at all (version, schema, analysis);
    the rest (which pages to include) only matters when writing."""
    return f"kb={__version__};schema={SCHEMA_VERSION};analysis={ANALYSIS_VERSION}"


@dataclass
class Entry:
    """What the manifest remembers of one file: enough to skip it next time without reading it."""

    size: int
    mtime_ns: int
    sha1: str
    page: str | None = None  # None: the file was skipped (binary, draft, unreadable...)
    title: str = ""
    sections: int = 0
    passages: int = 0
    problems: list[dict[str, object]] = field(default_factory=list)


_ENTRY_FIELDS = frozenset(Entry.__dataclass_fields__)


def _entry(data: dict[str, object]) -> Entry:
    """An Entry from its saved fields. A manifest this version wrote has exactly Entry's fields: the parsed dict then
    becomes the entry's attributes as it is (every search loads the manifest: at 10,000 pages calling Entry(**e)
    was 30 ms of it); anything else goes through Entry(**e), which fills defaults or raises TypeError."""
    if data.keys() != _ENTRY_FIELDS:
        return Entry(**data)  # type: ignore[arg-type]
    entry = object.__new__(Entry)
    entry.__dict__ = data
    return entry


@dataclass
class Manifest:
    """What a generation holds: the build stamp, each source file's signature, and each index file's checksum."""

    stamp: str
    content: str
    files: dict[str, Entry]
    index: dict[str, tuple[int, str]] = field(default_factory=dict)  # index file name -> (size, sha1)
    docs: int = -1
    # CRC-32 of the index files the open check reads whole (at most SMALL_FILE bytes, kb/store.py): a search checks
    # them without SHA-1, whose import (OpenSSL) cost more than all the reading. Empty in an older kb's manifest.
    crc32: dict[str, int] = field(default_factory=dict)

    def size(self) -> tuple[int, int]:
        """(pages, sections) the generation holds: what /api/health, status() and the artifacts report."""
        entries = [e for e in self.files.values() if e.page is not None]
        return len(entries), sum(e.sections for e in entries)

    @classmethod
    def load(cls, path: Path) -> Manifest:
        data = json.loads(path.read_text(encoding="utf-8"))
        files = {str(rel): _entry(e) for rel, e in data["files"].items()}
        index = {str(name): (int(v[0]), str(v[1])) for name, v in data["index"].items()}
        return cls(str(data["stamp"]), str(data["content"]), files, index, int(data["docs"]), _crc32(data))

    def save(self, path: Path) -> None:
        """Write the manifest, then its head (kb/manifest.py, `save_head`) beside it."""
        data = {**self._summary(), "files": {rel: e.__dict__ for rel, e in sorted(self.files.items())}}
        _write(path, json.dumps(data, separators=(",", ":")).encode("utf-8"))
        self.save_head(path)

    def save_head(self, path: Path) -> None:
        """Write what a search needs of the manifest at `path` into a small file of its own (HEAD_NAME beside it):
        the stamp, the index files and count, and every source file's stat signature as one string
        (`signature`), with the manifest file's own size and mtime so that the head is used only with the
        manifest it was written with. A search of a fresh index then compares one string instead of loading the
        whole manifest (at 10,000 pages 2.7 MB of JSON with titles, checksums and problems: ~70 CPU-ms)."""
        st = os.stat(path)
        head = {**self._summary(), "manifest": [st.st_size, st.st_mtime_ns]}
        _write(path.with_name(HEAD_NAME), json.dumps(head, separators=(",", ":")).encode("utf-8") + b"\n"
               + _encode(self.signature()))

    def _summary(self) -> dict[str, object]:
        """What both the manifest and its head hold: stamp, content, document count, index files."""
        return {"stamp": self.stamp, "content": self.content, "docs": self.docs,
                "index": {name: list(v) for name, v in sorted(self.index.items())},
                "crc32": dict(sorted(self.crc32.items()))}

    def signature(self) -> str:
        """Every file's path and stat signature in path order, as `signature_of` gives them for a discovery."""
        return _signature((rel, e.size, e.mtime_ns) for rel, e in sorted(self.files.items()))


class ManifestHead(Manifest):
    """A manifest read from its head (Manifest.save_head): the stamp, index files and count are there at once; the
    per-file entries are read from the manifest itself only if something asks for `files` (a search does not)."""

    def __init__(self, path: Path, stamp: str, content: str, index: dict[str, tuple[int, str]], docs: int,
                 signature: bytes, crc32: dict[str, int]) -> None:
        self.stamp, self.content, self.index, self.docs, self.crc32 = stamp, content, index, docs, crc32
        self.path = path
        self.signature_bytes = signature

    def __getattr__(self, name: str) -> object:
        if name != "files":
            raise AttributeError(name)
        self.files = Manifest.load(self.path).files
        return self.files

    @classmethod
    def read(cls, path: Path) -> ManifestHead | None:
        """The head written with the manifest at `path`; None when there is none, or it was not written with that
        manifest (then the manifest itself is what counts). OSError and ValueError as for Manifest.load."""
        try:
            raw = path.with_name(HEAD_NAME).read_bytes()
        except FileNotFoundError:
            return None
        line, newline, signature = raw.partition(b"\n")
        head = json.loads(line)
        st = os.stat(path)
        if not newline or head["manifest"] != [st.st_size, st.st_mtime_ns]:
            return None
        index = {str(name): (int(v[0]), str(v[1])) for name, v in head["index"].items()}
        return cls(path, str(head["stamp"]), str(head["content"]), index, int(head["docs"]), signature, _crc32(head))


def _crc32(data: dict[str, object]) -> dict[str, int]:
    """The `crc32` of a saved manifest or head; none in an older kb's, whose small files are checked by SHA-1."""
    sums = data.get("crc32", {})
    if not isinstance(sums, dict):
        raise ValueError("crc32 is not a mapping")
    return {str(name): int(v) for name, v in sums.items()}


HEAD_NAME = ".manifest-head"  # a dot name: not an index file (kb/store.py index_files), not linked or exported


def signature_of(files: Sequence[SourceFile]) -> bytes:
    """A discovery's files (in path order) as one string: equal to a manifest's `signature` exactly when no file
    was added, removed or changed since (a path holds no NUL and sizes and times are integers, so the string
    cannot be read two ways)."""
    return _encode(_signature((f.rel, f.size, f.mtime_ns) for f in files))


def _signature(files: Iterable[tuple[str, int, int]]) -> str:
    return "\0".join([f"{rel}\0{size}\0{mtime_ns}" for rel, size, mtime_ns in files])


def _encode(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def _write(path: Path, data: bytes) -> None:
    """Write a file whole or not at all (a temporary file, flushed, then renamed over it)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


@dataclass(frozen=True)
class Plan:
    """How the content folder differs from the manifest, by stat signature only."""

    new: tuple[SourceFile, ...]
    changed: tuple[SourceFile, ...]
    removed: tuple[str, ...]
    unchanged: tuple[SourceFile, ...]
    problems: tuple[Problem, ...]

    @property
    def stale(self) -> bool:
        return bool(self.new or self.changed or self.removed)


FRESH = Plan((), (), (), (), ())  # unchanged, by the stat signature of every page; the files are not listed


def freshness(manifest: Manifest | None, stamp: str, discover: Callable[[], Discovery]) -> Plan | None:
    """How the content differs from an index's manifest, by a stat walk only; None when there is no usable index
    (no manifest, or one built by another kb version or with other settings: a rebuild, not an update)."""
    if manifest is None or manifest.stamp != stamp:
        return None
    return plan(discover(), manifest)


def quick_freshness(head: ManifestHead, stamp: str, discover: Callable[[], Discovery],
                    load: Callable[[], Manifest | None],
                    signature: Callable[[], bytes | None] | None = None) -> Plan | None:
    """freshness() from a manifest's head: when every file's signature is as recorded, the plan is an unchanged one
    without loading the manifest; otherwise the manifest (`load`) is compared with the same discovery.

    `signature`, when given, is the walk's signature_of() built without SourceFile objects (or None when it cannot
    tell: kb.sources.content_signature): if it equals the head's, the content is unchanged and the plan, which a
    search only asks whether it is stale, lists no files (FRESH); if not, discover() walks again as before."""
    if head.stamp != stamp:
        return None
    if signature is not None and signature() == head.signature_bytes:
        return FRESH
    discovery = discover()
    if signature_of(discovery.files) == head.signature_bytes:
        return Plan((), (), (), discovery.files, discovery.problems)
    manifest = load()
    if manifest is None or manifest.stamp != stamp:
        return None
    return plan(discovery, manifest)


def plan(discovery: Discovery, manifest: Manifest) -> Plan:
    new, changed, unchanged = [], [], []
    seen = set()
    for f in discovery.files:
        seen.add(f.rel)
        entry = manifest.files.get(f.rel)
        if entry is None:
            new.append(f)
        elif (entry.size, entry.mtime_ns) != f.signature:
            changed.append(f)
        else:
            unchanged.append(f)
    removed = tuple(rel for rel in manifest.files if rel not in seen)
    return Plan(tuple(new), tuple(changed), removed, tuple(unchanged), discovery.problems)