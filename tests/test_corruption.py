"""Same-size corruption of any kind of index file: the search warns once, rebuilds, and answers correctly.

A file whose size is right passes the quick check at open; what catches it is either the checksum of the small
files at open or the failure it causes while reading, which must reach the verify-and-rebuild path instead of
being taken for "this term is not here" (it used to answer "No results" silently).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from kb import KnowledgeBase
from kb.manifest import Manifest
from kb.store import MANIFEST, SMALL_FILE, IndexStore
from tests.sitegen import Site, make_site, marker, revision

KINDS = {
    "postings": ".pst",
    "terms": ".trm",
    "stored fields": "_stored.col",
    "field lengths": "_body_len.col",
    "table of contents": ".toc",
    "impacts": ".kbi",
}


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> tuple[Site, Path]:
    root = tmp_path_factory.mktemp("pristine")
    site = make_site(root / "content", pages=6)
    with KnowledgeBase(site.root, root / "index") as kb:
        kb.reindex()
    return site, root / "index"


def one_file(index: Path, suffix: str) -> Path:
    gen = IndexStore(index).live()
    assert gen is not None
    found = [p for p in gen.iterdir() if p.name.endswith(suffix)]
    assert len(found) == 1, found
    return found[0]


def scramble(path: Path, *, whole: bool) -> None:
    data = bytearray(path.read_bytes())
    start, end = (0, len(data)) if whole else (len(data) // 3, min(len(data), len(data) // 3 + 64))
    noise = os.urandom(end - start)
    data[start:end] = bytes(b ^ (n | 1) for b, n in zip(data[start:end], noise, strict=True))  # every byte changes
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("whole", [True, False], ids=["whole file", "one block"])
@pytest.mark.parametrize("kind", list(KINDS))
def test_search_warns_rebuilds_and_answers(pristine: tuple[Site, Path], tmp_path: Path, kind: str,
                                           whole: bool) -> None:
    site, clean = pristine
    index = tmp_path / "index"
    shutil.copytree(clean, index, symlinks=True)
    target = one_file(index, KINDS[kind])
    size = target.stat().st_size
    scramble(target, whole=whole)
    assert target.stat().st_size == size
    notes: list[str] = []
    with KnowledgeBase(site.root, index, on_note=notes.append) as kb:
        assert [h.path for h in kb.search(marker(3)).hits][:1] == [site.rel(3)]
        assert {h.path for h in kb.search(revision(0), limit=1000).hits} == site.expected(0)
        assert [h.path for h in kb.search(marker(5)).hits][:1] == [site.rel(5)]
    assert len(notes) == 1 and "damaged" in notes[0] and "\n" not in notes[0], notes


@pytest.mark.parametrize("checksums", ["crc32", "sha1 only"])
def test_a_changed_byte_in_a_length_column_is_found_at_open(pristine: tuple[Site, Path], tmp_path: Path,
                                                            checksums: str) -> None:
    """The open check reads the small files whole: by the manifest's CRC-32, or by SHA-1 in an older kb's manifest
    (which has no `crc32`). One changed byte of field lengths raises no error later, it only changes scores."""
    site, clean = pristine
    index = tmp_path / "index"
    shutil.copytree(clean, index, symlinks=True)
    gen = IndexStore(index).live()
    assert gen is not None
    manifest = Manifest.load(gen / MANIFEST)
    assert set(manifest.crc32) == {n for n, (size, _sha1) in manifest.index.items() if size <= SMALL_FILE}
    assert any(n.endswith("_body_len.col") for n in manifest.crc32)
    if checksums == "sha1 only":
        manifest.crc32 = {}
        manifest.save(gen / MANIFEST)
    target = one_file(index, "_body_len.col")
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01
    target.write_bytes(bytes(data))
    notes: list[str] = []
    with KnowledgeBase(site.root, index, on_note=notes.append) as kb:
        assert [h.path for h in kb.search(marker(3)).hits][:1] == [site.rel(3)]
    assert len(notes) == 1 and "_body_len.col is corrupted" in notes[0], notes
