"""Index files read through memory maps while searching.

Whoosh's FileStorage opens each segment file as a buffered file, so every read of a term's entry, a posting block or
a stored document is a seek and a read, and a system call whenever it misses the 8 KB buffer; a warm search at
10,000 pages makes hundreds (a term lookup probes the terms file's hash table a few times, and most words are looked
up in several fields). Mapped, each read is a slice of memory: a warm search's median CPU time at 10,000 pages fell
by ~15% (docs/performance.md, tenth round), and a searcher maps only the files it reads.

A map stays valid for the searcher's life because kb never changes a segment file in place: an update hard-links
the live generation's files into a new one and adds segments there, and a generation is removed only when no
searcher holds its reader lock; a file someone else cut short is found before each search (`check`), since reading
a map past its file's end kills the process. Only searchers map (`open_searcher`): a reindex reads segments through
plain files, so its resident memory does not count the index's pages, and a damaged file found by a rebuild's check
is reported the usual way. A file that cannot be mapped (empty, or on a file system without mmap) is opened the
stock way.
"""

from __future__ import annotations

import errno
import mmap
import os
import sys
from collections.abc import Iterator

from whoosh.filedb.filestore import FileStorage
from whoosh.filedb.structfile import StructFile

TYPE_CHECKING = False  # rather than typing's: a cold search does not import typing (kb/__init__.py)
if TYPE_CHECKING:
    from typing import Any

# Python 3.13's mmap can do without the duplicate descriptor it otherwise keeps per map (for size() and resize()).
_UNTRACKED = {"trackfd": False} if sys.version_info >= (3, 13) and sys.platform != "win32" else {}
# A file system without mmap (ENODEV); no address space or map left for it (ENOMEM, vm.max_map_count), where a
# plain read still works.
_UNMAPPABLE = (errno.ENODEV, errno.ENOMEM)
# A search reads an index file at scattered places: a page not in memory is read alone, not with the 128 KB around
# it that the kernel reads for a mapped file by default (after the page cache was dropped, 5 searches at 10,000 pages
# read 290 MB so, 84 MB with this, 105 MB through plain files; with the pages cached it changes nothing).
_RANDOM = getattr(mmap, "MADV_RANDOM", None)


class ShrunkFile(OSError):
    """A mapped index file is now shorter than its map: cut while a searcher had it open (damage, as a bad block)."""


class MappedStorage(FileStorage):  # type: ignore[misc]
    """A FileStorage whose files open as views of one read-only map per file, made on first open."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        # name -> (map, (device, inode) of the file mapped); None: the file is read the stock way
        self._maps: dict[str, tuple[mmap.mmap, tuple[int, int]] | None] = {}

    def open_file(self, name: str, **kwargs: Any) -> StructFile:
        if name not in self._maps:
            self._maps[name] = _map(self._fpath(name))
        mapped = self._maps[name]
        if mapped is None or kwargs:
            return super().open_file(name, **kwargs)
        return MappedFile(mapped[0], name)

    def check(self) -> None:
        """Raise ShrunkFile if a mapped file was cut short since it was mapped.

        Reading a map past its file's end kills the process (SIGBUS) where a plain read returns short data, which
        the search reports as damage and rebuilds from. kb never changes a segment file, but someone may (`cp` or
        `rsync --inplace` over a live generation truncates each file first), so every search first compares the
        files' sizes with their maps (a `stat` per mapped file, ~2 us each): a file cut before the search is
        damage like any other. One cut during the search itself is not caught."""
        for name, mapped in self._maps.items():
            if mapped is None:
                continue
            data, identity = mapped
            try:
                st = os.stat(self._fpath(name))
            except FileNotFoundError:  # unlinked: the map still holds the file, which nobody can cut by name
                continue
            if (st.st_dev, st.st_ino) == identity and st.st_size < len(data):
                raise ShrunkFile(f"{name} is {st.st_size} bytes, {len(data)} when it was opened")

    def release(self) -> None:
        """Unmap every file, when the one searcher over this storage closes: a map holds the file's pages and,
        before Python 3.13, a duplicate of its descriptor. (Not `close`: Whoosh calls that whenever any reader on
        the storage closes, such as the one `FileIndex.doc_count` opens and closes.) The maps are never lent out as
        buffers, so they close at once."""
        maps, self._maps = self._maps, {}
        for mapped in maps.values():
            if mapped is not None:
                mapped[0].close()


def _map(path: str) -> tuple[mmap.mmap, tuple[int, int]] | None:
    """The file's map and the (device, inode) it maps, or None for a file to read the stock way."""
    with open(path, "rb") as f:
        st = os.fstat(f.fileno())
        if st.st_size == 0:
            return None  # mmap refuses empty files
        try:
            data = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ, **_UNTRACKED)
        except OSError as exc:
            if exc.errno in _UNMAPPABLE:  # read it as a file
                return None
            raise  # out of descriptors (the map's duplicate one) and the like: reported as what ran out
    if _RANDOM is not None:
        data.madvise(_RANDOM)
    return data, (st.st_dev, st.st_ino)


class MappedFile(StructFile):  # type: ignore[misc]
    """One open of a mapped file, with its own position over the shared map."""

    def __init__(self, data: mmap.mmap, name: str) -> None:
        self._view = _View(data)
        super().__init__(self._view, name=name)

    def get(self, position: int, length: int) -> bytes:
        """What StructFile's seek-and-read returns (and where it leaves the position), in one slice."""
        view = self._view
        got = view.data[position:position + length]
        view.pos = position + len(got)
        return got


class _View:
    """The file interface Whoosh and pickle use (read, readline, seek, tell, iteration) over a map, with a position of
    its own, so that several opens of one file do not move each other. Closing leaves the map to the storage."""

    def __init__(self, data: mmap.mmap) -> None:
        self.data = data
        self.pos = 0

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        if whence == os.SEEK_SET and offset < 0:
            raise ValueError(f"negative seek value {offset}")
        base = 0 if whence == os.SEEK_SET else self.pos if whence == os.SEEK_CUR else len(self.data)
        self.pos = max(0, base + offset)  # as io.BytesIO: a relative seek before the start stops there
        return self.pos

    def tell(self) -> int:
        return self.pos

    def read(self, size: int | None = -1) -> bytes:
        start = self.pos
        end = len(self.data) if size is None or size < 0 else start + size
        got = self.data[start:end]
        self.pos = start + len(got)
        return got

    def readline(self, size: int | None = -1) -> bytes:
        start = self.pos
        newline = self.data.find(b"\n", start)
        end = len(self.data) if newline < 0 else newline + 1
        if size is not None and size >= 0:
            end = min(end, start + size)
        got = self.data[start:end]
        self.pos = start + len(got)
        return got

    def readinto(self, buffer: Any) -> int:
        got = self.read(len(buffer))
        buffer[:len(got)] = got
        return len(got)

    def __iter__(self) -> Iterator[bytes]:
        while line := self.readline():
            yield line

    def close(self) -> None:
        pass
