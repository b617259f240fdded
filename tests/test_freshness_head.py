"""The manifest head (kb/manifest.py): a search of a fresh index compares one stat-signature string instead of
loading the whole manifest, and still sees every edited, added, removed or relabelled page."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kb import KnowledgeBase
from kb.discover import SourceFile
from kb.manifest import HEAD_NAME, Entry, Manifest, ManifestHead, signature_of
from kb.sources import discover_all
from tests.conftest import write_pages

PAGES = {
    "a.md": "# Alpha\n\nApples grow on trees.\n",
    "sub/b.md": "# Bravo\n\nBananas are yellow.\n",
    "sub/_category_.json": '{"label": "Fruit"}',
    "ünïcode/c.md": "# Charlie\n\nCherries are red.\n",
}


@pytest.fixture
def built(make_kb: Callable[[dict[str, str]], KnowledgeBase]) -> KnowledgeBase:
    kb = make_kb(PAGES)
    kb.reindex()
    return kb


def _no_manifest_load(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    loads: list[Path] = []
    real = Manifest.load.__func__  # type: ignore[attr-defined]

    def spy(cls: type[Manifest], path: Path) -> Manifest:
        loads.append(path)
        return real(cls, path)  # type: ignore[no-any-return]

    monkeypatch.setattr(Manifest, "load", classmethod(spy))
    return loads


def test_a_fresh_index_is_checked_and_searched_without_loading_its_manifest(built: KnowledgeBase,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    gen = built.store.live()
    assert gen is not None and (gen / HEAD_NAME).is_file()
    fresh = KnowledgeBase(built.content_dir, built.index_dir)  # a new process's view: nothing cached
    loads = _no_manifest_load(monkeypatch)
    assert fresh.refresh() is None
    assert fresh.search("cherries").hits[0].path == "ünïcode/c.md"
    assert loads == []
    fresh.close()
    # the head holds exactly the manifest's signatures, and the spy sees a load when one happens
    head = ManifestHead.read(gen / "manifest.json")
    assert head is not None
    assert head.signature_bytes == signature_of(discover_all(built.sources).files)
    assert len(head.files) == 3 and loads == [gen / "manifest.json"]  # read on demand only


def test_a_search_without_refresh_reads_the_head_not_the_manifest(built: KnowledgeBase,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    gen = built.store.live()
    assert gen is not None
    loads = _no_manifest_load(monkeypatch)
    fresh = KnowledgeBase(built.content_dir, built.index_dir)
    assert fresh.search("cherries").hits[0].path == "ünïcode/c.md"  # no refresh first
    assert loads == []
    fresh.close()
    (gen / HEAD_NAME).unlink()  # no head: the manifest itself, as before
    fresh = KnowledgeBase(built.content_dir, built.index_dir)
    assert fresh.search("cherries").hits[0].path == "ünïcode/c.md"
    assert loads == [gen / "manifest.json"]
    fresh.close()


def _edit(content: Path) -> None:
    (content / "a.md").write_text("# Alpha\n\nApricots grow on trees.\n", encoding="utf-8")  # same size


def _touch_later(content: Path) -> None:
    path = content / "a.md"
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1))


def _grow(content: Path) -> None:
    with open(content / "ünïcode/c.md", "a", encoding="utf-8") as fh:
        fh.write("More.\n")


def _shrink_same_time(content: Path) -> None:
    path = content / "a.md"
    mtime = path.stat().st_mtime_ns
    path.write_text("# A\n", encoding="utf-8")
    os.utime(path, ns=(mtime, mtime))


def _add(content: Path) -> None:
    write_pages(content, {"new/d.md": "# Delta\n\nDates are sweet.\n"})


def _remove(content: Path) -> None:
    (content / "sub/b.md").unlink()


def _rename(content: Path) -> None:
    os.rename(content / "a.md", content / "a2.md")


def _relabel(content: Path) -> None:
    path = content / "sub/_category_.json"
    path.write_text('{"label": "Fruits"}', encoding="utf-8")
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))


@pytest.mark.parametrize("change", [_edit, _touch_later, _grow, _shrink_same_time, _add, _remove, _rename,
                                    _relabel])
def test_every_change_is_still_seen(built: KnowledgeBase, tmp_path: Path, change: Callable[[Path], None]) -> None:
    change(tmp_path / "content")
    fresh = KnowledgeBase(built.content_dir, built.index_dir)
    assert fresh.store.manifest_head(fresh.store.live()) is not None  # type: ignore[arg-type]
    plan = fresh._check()
    assert plan is not None and plan.stale
    report = fresh.refresh()
    assert report is not None and (report.changed or change is _touch_later)  # touched only: hashed, unchanged
    assert fresh.refresh() is None  # and the new generation has a head of its own that matches
    fresh.close()


def test_a_head_not_written_with_its_manifest_is_ignored(built: KnowledgeBase,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    gen = built.store.live()
    assert gen is not None
    manifest = gen / "manifest.json"
    os.utime(manifest, ns=(manifest.stat().st_atime_ns, manifest.stat().st_mtime_ns + 1))
    assert built.store.manifest_head(gen) is None
    loads = _no_manifest_load(monkeypatch)
    fresh = KnowledgeBase(built.content_dir, built.index_dir)
    assert fresh.refresh() is None and loads  # the manifest itself decided
    _add(built.content_dir)
    assert fresh.refresh() is not None
    fresh.close()


@pytest.mark.parametrize("garbage", [b"", b"{", b"[1]\n", b'{"stamp": 1}\n', b"\xff\xfe\n\x00"])
def test_a_damaged_or_missing_head_falls_back_to_the_manifest(built: KnowledgeBase, garbage: bytes) -> None:
    gen = built.store.live()
    assert gen is not None
    (gen / HEAD_NAME).write_bytes(garbage)
    assert built.store.manifest_head(gen) is None
    fresh = KnowledgeBase(built.content_dir, built.index_dir)
    assert fresh.refresh() is None
    (gen / HEAD_NAME).unlink()
    _remove(built.content_dir)
    report = fresh.refresh()
    assert report is not None and report.removed == 1
    fresh.close()


def test_a_stale_head_stamp_means_a_rebuild_as_before(built: KnowledgeBase) -> None:
    other = KnowledgeBase(built.content_dir, built.index_dir, include_drafts=True)  # another stamp
    assert other._check() is None
    other.close()


names = st.text(st.characters(blacklist_characters="\0", blacklist_categories=("Cs",)), min_size=1, max_size=6)
signatures = st.lists(st.tuples(names, st.integers(0, 10**6), st.integers(-10**3, 10**19)), max_size=5,
                      unique_by=lambda t: t[0]).map(sorted)


@given(signatures, signatures)
def test_signatures_are_equal_exactly_when_the_files_are(a: list[tuple[str, int, int]],
                                                         b: list[tuple[str, int, int]]) -> None:
    def files(sig: list[tuple[str, int, int]]) -> list[SourceFile]:
        return [SourceFile(rel, rel, size, mtime) for rel, size, mtime in sig]

    manifest = Manifest("s", "c", {rel: Entry(size, mtime, "") for rel, size, mtime in a})
    assert (signature_of(files(a)) == signature_of(files(b))) == (a == b)
    assert manifest.signature().encode("utf-8") == signature_of(files(a))


def test_the_walk_makes_the_same_source_files_as_the_dataclass(built: KnowledgeBase) -> None:
    from dataclasses import asdict, replace

    files = discover_all(built.sources).files
    assert [f.rel for f in files] == ["a.md", "sub/b.md", "ünïcode/c.md"]
    for f in files:
        same = SourceFile(f.path, f.rel, f.size, f.mtime_ns, f.categories)
        assert f == same and hash(f) == hash(same) and repr(f) == repr(same) and asdict(f) == asdict(same)
        assert replace(f, rel="x") == replace(same, rel="x")
        with pytest.raises(AttributeError):
            f.rel = "changed"  # type: ignore[misc]
    assert files[1].categories and files[1].mtime_ns >= (built.content_dir / "sub/_category_.json").stat().st_mtime_ns


def test_a_manifest_with_a_short_index_entry_is_unreadable_not_a_traceback(built: KnowledgeBase) -> None:
    """store.manifest and store.manifest_head share one reading of damage: an index entry cut short (IndexError)
    makes the manifest unusable (diagnosed and rebuilt), as it already did for the head."""
    import json

    gen = built.store.live()
    assert gen is not None
    path = gen / "manifest.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    data["index"][next(iter(data["index"]))] = []
    path.write_text(json.dumps(data), encoding="utf-8")
    assert built.store.manifest(gen) is None
    assert built.store.manifest_head(gen) is None  # written with the manifest as it was


def test_the_signature_walk_lists_what_discover_lists(tmp_path: Path) -> None:
    """kb.discover.discover_signature (a search's freshness check) walks as discover() does: the signature of the
    same pages, order, sizes and times (a `_category_` file's newer time included), or None when discover() has
    more to say."""
    from kb.discover import discover, discover_signature
    from kb.manifest import signature_of

    root = write_pages(tmp_path / "content", {**PAGES, "z/deep/d.md": "# D\n", "node_modules/x.md": "# X\n",
                                              ".hidden.md": "# H\n", "notes.txt": "no page"})
    os.symlink(root / "a.md", root / "link.md")
    os.utime(root / "sub" / "_category_.json", ns=(2_000_000_000_000_000_000, 2_000_000_000_000_000_000))
    expected = [(f.rel, f.size, f.mtime_ns) for f in discover(root).files]
    assert discover_signature(root) == signature_of(discover(root).files)
    assert ("sub/b.md", len(PAGES["sub/b.md"]), 2_000_000_000_000_000_000) in expected
    os.symlink(tmp_path / "nowhere.md", root / "broken.md")  # a problem discover() reports: the caller walks again
    assert discover(root).problems and discover_signature(root) is None
    assert discover_signature(tmp_path / "missing") is None


def test_a_fresh_search_builds_no_source_file(built: KnowledgeBase, monkeypatch: pytest.MonkeyPatch) -> None:
    import kb.discover

    made: list[str] = []
    real = kb.discover._source_file
    monkeypatch.setattr(kb.discover, "_source_file", lambda *a: made.append(a[1]) or real(*a))
    assert built.refresh() is None and built.search("apples").hits and made == []
    (built.content_dir / "a.md").write_text("# Alpha\n\nApples grow on tall trees.\n", encoding="utf-8")
    assert built.refresh() is not None and "a.md" in made  # stale: the full discovery and the update ran
    assert built.search("tall").hits


def test_the_walk_through_folder_descriptors_finds_what_the_walk_by_path_finds(tmp_path: Path,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """kb.discover.BY_FD (chosen once per platform) lists each folder through a descriptor: the same files, paths,
    sizes, times, categories and problems as listing by path, links of every kind included, and no descriptor
    left open."""
    import kb.discover
    from kb.discover import discover, discover_signature

    root = write_pages(tmp_path / "content", {**PAGES, "z/deep/d.md": "# D\n", "node_modules/x.md": "# X\n",
                                              ".hidden.md": "# H\n", "notes.txt": "no page"})
    outside = write_pages(tmp_path / "outside", {"o.md": "# O\n"})
    os.symlink(root / "a.md", root / "link.md")
    os.symlink(root / "z", root / "sub" / "zlink")  # a folder link inside
    os.symlink(root, root / "z" / "loop")  # a loop
    os.symlink(outside / "o.md", root / "out.md")  # a link leaving the root
    os.symlink(tmp_path / "nowhere.md", root / "broken.md")
    walks = {}
    for by_fd in (False, True):
        monkeypatch.setattr(kb.discover, "BY_FD", by_fd)
        before = len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else 0
        found = discover(root)
        walks[by_fd] = (found.files, found.problems, discover_signature(root))
        after = len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else 0
        assert after == before
    assert walks[True] == walks[False]
    files, problems, _signature = walks[True]
    assert {f.rel for f in files} >= {"a.md", "link.md", "sub/b.md", "sub/zlink/deep/d.md"}
    assert {p.path for p in problems} >= {"out.md", "broken.md"}
    assert all(f.path == os.path.join(root, f.rel) for f in files)
    os.unlink(root / "out.md")
    os.unlink(root / "broken.md")
    os.unlink(root / "z" / "loop")
    os.unlink(root / "sub" / "zlink")
    for by_fd in (False, True):  # no problem left: the signature walk answers
        monkeypatch.setattr(kb.discover, "BY_FD", by_fd)
        assert discover_signature(root) == signature_of(discover(root).files) is not None
