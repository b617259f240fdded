"""A damaged index is detected and rebuilt from the content with one warning line; search keeps answering."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from kb import KnowledgeBase
from kb.cli import cli
from kb.errors import IndexUnusable
from kb.store import CURRENT, MANIFEST, IndexStore
from tests.sitegen import Site, make_site, marker, revision

PAGES = 6


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> tuple[Site, Path]:
    """One site and its index, built once; each test damages its own copy."""
    root = tmp_path_factory.mktemp("pristine")
    site = make_site(root / "content", pages=PAGES)
    kb = KnowledgeBase(site.root, root / "index")
    kb.reindex()
    kb.close()
    return site, root / "index"


@pytest.fixture
def site(pristine: tuple[Site, Path], tmp_path: Path) -> Site:
    site, index = pristine
    shutil.copytree(index, tmp_path / "index", symlinks=True)
    return site


def live(index: Path) -> Path:
    gen = IndexStore(index).live()
    assert gen is not None
    return gen


def segments(index: Path) -> list[Path]:
    """The generation's segment files (postings, terms, columns), largest first."""
    segs = sorted((p for p in live(index).glob("MAIN_*") if not p.name.endswith("WRITELOCK")),
                  key=lambda p: p.stat().st_size, reverse=True)
    assert segs
    return segs


def truncate_segment(index: Path) -> None:
    seg = segments(index)[0]
    with open(seg, "r+b") as fh:
        fh.truncate(seg.stat().st_size // 2)


def delete_segment(index: Path) -> None:
    segments(index)[0].unlink()


def garbage_toc(index: Path) -> None:
    toc = next(live(index).glob("_MAIN_*.toc"))
    toc.write_bytes(os.urandom(toc.stat().st_size))  # same size: only reading it can tell


def garbage_toc_shorter(index: Path) -> None:
    toc = next(live(index).glob("_MAIN_*.toc"))
    toc.write_bytes(b"\x00garbage")


def delete_toc(index: Path) -> None:
    next(live(index).glob("_MAIN_*.toc")).unlink()


def garbage_manifest(index: Path) -> None:
    (live(index) / MANIFEST).write_text("{not json", encoding="utf-8")


def delete_manifest(index: Path) -> None:
    (live(index) / MANIFEST).unlink()


def garbage_pointer(index: Path) -> None:
    (index / CURRENT).write_bytes(b"\xff\xfe../../etc\n")


def delete_pointer(index: Path) -> None:
    (index / CURRENT).unlink()


def pointer_is_a_folder(index: Path) -> None:
    (index / CURRENT).unlink()
    (index / CURRENT).mkdir()


def generation_is_a_file(index: Path) -> None:
    gen = live(index)
    shutil.rmtree(gen)
    gen.write_text("not a folder", encoding="utf-8")


def generation_is_empty(index: Path) -> None:
    gen = live(index)
    shutil.rmtree(gen)
    gen.mkdir()


DAMAGE: dict[str, Callable[[Path], None]] = {
    "truncated segment": truncate_segment,
    "missing segment": delete_segment,
    "garbage table of contents": garbage_toc,
    "short garbage table of contents": garbage_toc_shorter,
    "missing table of contents": delete_toc,
    "garbage manifest": garbage_manifest,
    "missing manifest": delete_manifest,
    "garbage CURRENT pointer": garbage_pointer,
    "missing CURRENT pointer": delete_pointer,
    "CURRENT is a folder": pointer_is_a_folder,
    "a file where the generation folder should be": generation_is_a_file,
    "empty generation folder": generation_is_empty,
}


def answers_correctly(paths: set[str], site: Site) -> None:
    assert paths == site.expected(0)


@pytest.mark.parametrize("damage", list(DAMAGE), ids=list(DAMAGE))
def test_api_search_rebuilds_a_damaged_index_with_one_warning(site: Site, tmp_path: Path, damage: str) -> None:
    index = tmp_path / "index"
    DAMAGE[damage](index)
    notes: list[str] = []
    kb = KnowledgeBase(site.root, index, on_note=notes.append)
    try:
        result = kb.search(marker(3))
        assert [h.path for h in result.hits][:1] == [site.rel(3)]
        answers_correctly({h.path for h in kb.search(revision(0), limit=1000).hits}, site)
    finally:
        kb.close()
    assert len(notes) == 1 and "damaged" in notes[0] and "\n" not in notes[0], notes


SOME = ["truncated segment", "garbage table of contents", "missing CURRENT pointer",
        "a file where the generation folder should be"]


@pytest.mark.parametrize("damage", SOME, ids=SOME)
def test_cli_search_rebuilds_a_damaged_index_with_one_warning(site: Site, tmp_path: Path, damage: str) -> None:
    index = tmp_path / "index"
    DAMAGE[damage](index)
    res = CliRunner().invoke(cli, ["--content", str(site.root), "--index", str(index), "search", marker(5)])
    assert res.exit_code == 0, res.output
    assert site.rel(5) in res.stdout
    warnings = [line for line in res.stderr.splitlines() if "damaged" in line]
    assert len(warnings) == 1 and warnings[0].startswith("kb: warning:"), res.stderr
    assert "Traceback" not in res.output
    # healed for good: the next search says nothing
    again = CliRunner().invoke(cli, ["--content", str(site.root), "--index", str(index), "search", marker(5)])
    assert again.exit_code == 0 and again.stderr == ""


@pytest.mark.parametrize("damage", SOME + ["missing segment", "garbage manifest", "CURRENT is a folder"])
def test_reindex_rebuilds_a_damaged_index(site: Site, tmp_path: Path, damage: str) -> None:
    index = tmp_path / "index"
    DAMAGE[damage](index)
    res = CliRunner().invoke(cli, ["--content", str(site.root), "--index", str(index), "reindex"])
    assert res.exit_code == 0, res.output
    assert f"{PAGES} added" in res.stdout  # a full build, not an update of damaged files
    assert len([line for line in res.stderr.splitlines() if "damaged" in line]) == 1, res.stderr
    kb = KnowledgeBase(site.root, index)
    try:
        answers_correctly({h.path for h in kb.search(revision(0), limit=1000).hits}, site)
    finally:
        kb.close()
    leftovers = sorted(p.name for p in index.iterdir())
    assert len([n for n in leftovers if n.startswith("gen-")]) == 1
    assert not [n for n in leftovers if n.startswith(".") and n != ".kb-index"]


def test_same_size_corruption_inside_a_segment_is_caught_by_reindex_verify(site: Site, tmp_path: Path) -> None:
    index = tmp_path / "index"
    seg = segments(index)[0]
    data = bytearray(seg.read_bytes())
    mid = len(data) // 2
    data[mid:mid + 64] = bytes(64)  # a bad disk block: same size, different bytes
    seg.write_bytes(bytes(data))
    content = site.root
    notes: list[str] = []
    kb = KnowledgeBase(content, index, on_note=notes.append)
    try:
        report = kb.reindex(verify=True)
        assert report.full
        assert any("checksum" in n for n in notes), notes
        answers_correctly({h.path for h in kb.search(revision(0), limit=1000).hits}, site)
    finally:
        kb.close()


def test_empty_index_folder_is_simply_built(site: Site, tmp_path: Path) -> None:
    index = tmp_path / "empty-index"
    index.mkdir()
    res = CliRunner().invoke(cli, ["--content", str(site.root), "--index", str(index), "search", marker(2)])
    assert res.exit_code == 0, res.output
    assert site.rel(2) in res.stdout and "damaged" not in res.stderr


def test_index_path_that_is_a_file_is_a_one_line_error_and_the_file_is_kept(site: Site, tmp_path: Path) -> None:
    index = tmp_path / "notes.txt"
    index.write_text("my notes", encoding="utf-8")
    for args in (["search", marker(1)], ["reindex"]):
        res = CliRunner().invoke(cli, ["--content", str(site.root), "--index", str(index), *args])
        assert res.exit_code == 2, res.output
        assert len(res.stderr.strip().splitlines()) == 1 and "is a file" in res.stderr and "--index" in res.stderr
    assert index.read_text(encoding="utf-8") == "my notes"
    with pytest.raises(IndexUnusable):
        KnowledgeBase(site.root, index).search(marker(1))


def test_damage_found_by_a_long_lived_searcher_is_healed(site: Site, tmp_path: Path) -> None:
    """A searcher opened before the damage happened: its next search notices the generation is bad."""
    index = tmp_path / "index"
    notes: list[str] = []
    kb = KnowledgeBase(site.root, index, on_note=notes.append)
    try:
        assert kb.search(marker(1)).hits
        delete_pointer(index)
        assert [h.path for h in kb.search(marker(4)).hits][:1] == [site.rel(4)]
        assert len(notes) == 1 and "damaged" in notes[0]
    finally:
        kb.close()


def test_damaged_index_while_another_writer_runs_is_one_line_status_3(site: Site, tmp_path: Path) -> None:
    from kb.locking import WriterLock

    index = tmp_path / "index"
    truncate_segment(index)
    with WriterLock(index):  # someone else is writing (and will rebuild it)
        res = CliRunner().invoke(cli, ["--content", str(site.root), "--index", str(index), "search", marker(1)])
    assert res.exit_code == 3, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "damaged" in lines[0] and f"another reindex (pid {os.getpid()})" in lines[0]
