"""Incremental reindexing: edits, additions and deletions are picked up, and nothing else is re-parsed."""

from __future__ import annotations

import os
from pathlib import Path

import kb.index as index_module
from kb import KnowledgeBase
from tests.conftest import write_pages

PAGES = {
    "a.md": "# Alpha\n\nApples grow on trees.\n",
    "b.md": "---\ntitle: Bravo\ntags: [fruit, yellow]\n---\n## Bananas\n\nBananas are yellow.\n",
    "sub/c.mdx": "# Charlie\n\nCherries are red.\n",
}


def test_first_reindex_builds_everything(make_kb) -> None:
    kb = make_kb(PAGES)
    report = kb.reindex()
    assert (report.added, report.updated, report.removed, report.unchanged) == (3, 0, 0, 0)
    assert report.pages == 3 and report.sections == 3
    assert kb.search("cherries").hits[0].path == "sub/c.mdx"


def test_second_reindex_changes_nothing_and_parses_nothing(make_kb, monkeypatch) -> None:
    kb = make_kb(PAGES)
    kb.reindex()
    calls: list[str] = []
    real = index_module.process_file
    monkeypatch.setattr(index_module, "process_file", lambda f, *rest: calls.append(f.rel) or real(f, *rest))
    report = kb.reindex()
    assert (report.added, report.updated, report.removed, report.unchanged) == (0, 0, 0, 3)
    assert calls == []
    # The spy does see a parse: edit one page.
    page = kb.content_dir / "a.md"
    page.write_text(page.read_text(encoding="utf-8") + "\nMore apricots.\n", encoding="utf-8")
    assert kb.reindex().updated == 1 and calls == ["a.md"]


def test_edit_add_delete_are_reported_exactly(make_kb, tmp_path: Path) -> None:
    kb = make_kb(PAGES)
    kb.reindex()
    content = tmp_path / "content"
    write_pages(content, {"a.md": "# Alpha\n\nApricots are orange.\n", "d.md": "# Delta\n\nDates are sweet.\n"})
    (content / "sub/c.mdx").unlink()
    report = kb.reindex()
    assert (report.added, report.updated, report.removed, report.unchanged) == (1, 1, 1, 1)
    assert kb.search("apricots").hits
    assert not kb.search("apples").hits
    assert kb.search("dates").hits
    assert not kb.search("cherries").hits


def test_touched_but_unchanged_file_is_not_reindexed(make_kb, tmp_path: Path) -> None:
    kb = make_kb(PAGES)
    kb.reindex()
    path = tmp_path / "content" / "a.md"
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    report = kb.reindex()
    assert report.unchanged == 3 and not report.changed


def test_refresh_brings_a_stale_index_up_to_date(make_kb, tmp_path: Path) -> None:
    kb = make_kb(PAGES)
    assert kb.refresh() is not None  # no index yet: built
    assert kb.refresh() is None  # fresh: nothing to do
    write_pages(tmp_path / "content", {"e.md": "# Echo\n\nElderberries.\n"})
    report = kb.refresh()
    assert report is not None and report.added == 1
    assert kb.search("elderberries").hits


def test_full_rebuild_matches_incremental(make_kb, tmp_path: Path) -> None:
    kb = make_kb(PAGES)
    kb.reindex()
    write_pages(tmp_path / "content", {"a.md": "# Alpha\n\nAvocados.\n"})
    kb.reindex()
    incremental = [(h.path, h.anchor) for h in kb.search("avocados OR bananas OR cherries").hits]
    report = kb.reindex(full=True)
    assert report.full and report.pages == 3
    assert sorted(incremental) == sorted((h.path, h.anchor) for h in kb.search("avocados OR bananas OR cherries").hits)


def test_tags_are_searchable_as_filter(make_kb) -> None:
    kb = make_kb(PAGES)
    kb.reindex()
    assert [h.path for h in kb.search("tag:fruit yellow").hits] == ["b.md"]
    assert not kb.search("tag:vegetable yellow").hits


def test_search_builds_a_missing_index(make_kb) -> None:
    kb = make_kb(PAGES)
    assert kb.search("bananas").hits[0].section == "Bananas"


def test_separate_knowledge_bases_do_not_mix(tmp_path: Path) -> None:
    one = KnowledgeBase(write_pages(tmp_path / "one", {"x.md": "# X\n\nxylophone\n"}), tmp_path / "ix1")
    two = KnowledgeBase(write_pages(tmp_path / "two", {"y.md": "# Y\n\nyodel\n"}), tmp_path / "ix2")
    assert one.search("xylophone").hits and not one.search("yodel").hits
    assert two.search("yodel").hits and not two.search("xylophone").hits


def test_touched_but_unchanged_file_is_hashed_not_parsed(make_kb, tmp_path: Path) -> None:
    import subprocess
    import sys

    kb = make_kb(PAGES)
    kb.reindex()
    kb.close()
    path = tmp_path / "content" / "sub" / "c.mdx"
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    script = ("import sys; from kb import KnowledgeBase; "
              f"r = KnowledgeBase({str(tmp_path / 'content')!r}, {str(tmp_path / 'index')!r}).reindex(); "
              "print(r.unchanged, sorted(m for m in ('markdown_it', 'bs4') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["3", "[]"]


def test_an_update_records_every_small_files_crc32(make_kb) -> None:
    """The CRC-32s an update records (files linked from the live generation keep theirs, new ones are read) are the
    files' own: the open check of every later search compares them."""
    import zlib

    from kb.store import SMALL_FILE

    kb = make_kb(PAGES)
    kb.reindex()
    before = kb.store.manifest(kb.store.live())
    page = kb.content_dir / "a.md"
    page.write_text(page.read_text(encoding="utf-8") + "\nMore apricots.\n", encoding="utf-8")
    assert kb.reindex().updated == 1
    gen = kb.store.live()
    manifest = kb.store.manifest(gen)
    assert before is not None and manifest is not None
    assert manifest.crc32 == {name: zlib.crc32((gen / name).read_bytes())
                              for name, (size, _sha1) in manifest.index.items() if size <= SMALL_FILE}
    assert set(manifest.crc32) & set(before.crc32)  # some were linked unchanged, and kept
