"""Searchers read the index files through memory maps (kb/whoosh/storage.py): same bytes, same rankings, and the
stock files where a file cannot be mapped."""

from __future__ import annotations

import errno
import gc
import io
import mmap
import os
import pickle
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from whoosh.filedb.structfile import StructFile

from kb.search import run, weighting
from kb.store import IndexStore
from kb.whoosh import open_index, storage
from kb.whoosh.searcher import open_searcher
from kb.whoosh.storage import MappedFile, MappedStorage
from tests.index_support import QUERIES, SITE, two_segment_index


@pytest.fixture(scope="module")
def gen(tmp_path_factory: pytest.TempPathFactory) -> Path:
    live = IndexStore(two_segment_index(tmp_path_factory.mktemp("storage"))).live()
    assert live is not None
    return live


def _hits(ix: Any) -> list[Any]:
    with ix.searcher(weighting=weighting()) as s:
        return [run(s, q, limit=20) for q in QUERIES]


def test_mapped_and_stock_files_rank_the_same(gen: Path) -> None:
    mapped, stock = open_index(str(gen), mapped=True), open_index(str(gen))
    try:
        assert isinstance(mapped.storage, MappedStorage) and not isinstance(stock.storage, MappedStorage)
        got = _hits(mapped)
        assert got == _hits(stock)
        assert sum(bool(r.hits) for r in got) >= 4
    finally:
        mapped.close()
        mapped.storage.release()  # Whoosh's searcher leaves the maps to the storage (kb's Searcher releases them)
        stock.close()


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")
def test_a_closed_searcher_holds_no_descriptor_or_map(gen: Path) -> None:
    def held() -> list[str]:
        """Descriptors and maps into the generation folder."""
        targets = Path("/proc/self/maps").read_text(encoding="utf-8").split()
        for fd in os.listdir("/proc/self/fd"):
            try:
                targets.append(os.readlink(f"/proc/self/fd/{fd}"))
            except OSError:  # the listing's own descriptor, closed since
                continue
        return sorted(t for t in targets if t.startswith(str(gen)))

    gc.collect()  # maps another test's storage left for the collector are not this searcher's
    before = held()
    searcher = open_searcher(str(gen))
    assert run(searcher, "access token").hits
    assert any(name.endswith(".pst") for name in held())  # the postings are mapped
    searcher.close()
    assert held() == before


def test_files_that_cannot_be_mapped_are_read_as_files(gen: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    plain = open_index(str(gen))
    try:
        stock = _hits(plain)
    finally:
        plain.close()

    def refuse(*_args: Any, **_kwargs: Any) -> mmap.mmap:
        raise OSError(errno.ENODEV, "No such device")  # a file system without mmap

    monkeypatch.setattr(storage.mmap, "mmap", refuse)
    ix = open_index(str(gen), mapped=True)
    try:
        assert _hits(ix) == stock
        assert ix.storage._maps and not any(ix.storage._maps.values())
    finally:
        ix.close()
        ix.storage.release()


def test_an_empty_file_opens_as_a_file(tmp_path: Path) -> None:
    (tmp_path / "empty").write_bytes(b"")
    f = MappedStorage(str(tmp_path)).open_file("empty")
    try:
        assert not isinstance(f, MappedFile) and f.read() == b""
    finally:
        f.close()


OPS = st.lists(st.one_of(
    st.tuples(st.just("seek"), st.integers(0, 300), st.sampled_from([os.SEEK_SET, os.SEEK_CUR, os.SEEK_END])),
    st.tuples(st.just("read"), st.integers(-1, 300)),
    st.tuples(st.just("readline"), st.integers(-1, 40)),
    st.tuples(st.just("get"), st.integers(0, 300), st.integers(0, 300)),
    st.tuples(st.just("varint")), st.tuples(st.just("tell")), st.tuples(st.just("lines")),
), max_size=25)


def _apply(f: StructFile, op: tuple[Any, ...]) -> Any:
    name, *args = op
    if name == "seek":
        offset, whence = args
        return f.seek(-offset if whence == os.SEEK_END else offset, whence)
    if name == "varint":
        try:
            return f.read_varint()
        except TypeError:  # at the end: ord() of b""
            return "end"
    if name == "lines":
        return list(f)
    return {"read": f.read, "readline": f.readline, "get": f.get, "tell": f.tell}[name](*args)


@settings(max_examples=150, deadline=None)
@given(data=st.binary(min_size=1, max_size=400), ops=OPS)
def test_a_mapped_file_reads_as_a_plain_one(tmp_path_factory: pytest.TempPathFactory, data: bytes,
                                            ops: list[tuple[Any, ...]]) -> None:
    folder = tmp_path_factory.mktemp("mapped")
    (folder / "f").write_bytes(data)
    mapped, plain = MappedStorage(str(folder)).open_file("f"), StructFile(io.BytesIO(data))
    assert isinstance(mapped, MappedFile)
    for op in ops:
        assert _apply(mapped, op) == _apply(plain, op), op
        assert mapped.tell() == plain.tell(), op


def test_two_opens_of_a_file_keep_their_own_positions(tmp_path: Path) -> None:
    (tmp_path / "p").write_bytes(pickle.dumps({"a": 1}) + pickle.dumps([2, 3]))
    store = MappedStorage(str(tmp_path))
    first, second = store.open_file("p"), store.open_file("p")
    assert first.read_pickle() == {"a": 1}
    assert second.read_pickle() == {"a": 1}  # not moved by the first open's read
    assert first.read_pickle() == [2, 3]
    first.close()
    assert second.read_pickle() == [2, 3]  # closing one open leaves the map to the others


SHRINK_SCRIPT = r"""
import os, sys
from kb import KnowledgeBase
from kb.store import IndexStore
notes = []
kb = KnowledgeBase(sys.argv[1], sys.argv[2], on_note=notes.append)
kb.reindex()
assert kb.search("access token").hits  # the searcher now maps the index files
gen = IndexStore(sys.argv[2]).live()
for suffix in sys.argv[3:]:
    path = next(p for p in gen.iterdir() if p.name.endswith(suffix))
    os.truncate(path, path.stat().st_size // 3)  # as `cp` over a live generation does first
print("HITS", len(kb.search("access token").hits), "NOTES", len(notes), notes[-1] if notes else "", flush=True)
"""


@pytest.mark.parametrize("suffixes", [[".pst"], [".trm"], ["_stored.col", ".kbi"]], ids=lambda s: "+".join(s))
def test_an_index_file_cut_under_an_open_searcher_is_damage_not_a_crash(tmp_path: Path, suffixes: list[str]) -> None:
    """Reading a map past its file's end is SIGBUS, which kills the process; a file cut short while a long-lived
    searcher (the API, `kb serve`, `kb mcp`) has it mapped must be found before the search reads it."""
    import subprocess
    import sys

    content = tmp_path / "content"
    shutil.copytree(SITE, content)
    done = subprocess.run([sys.executable, "-c", SHRINK_SCRIPT, str(content), str(tmp_path / "index"), *suffixes],
                          capture_output=True, text=True, timeout=120, env={**os.environ, "KB_MODEL": "none"})
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    words = done.stdout.split()
    assert words[:2] == ["HITS", words[1]] and int(words[1]) > 0, done.stdout
    assert words[3] == "1" and "damaged" in done.stdout, done.stdout
