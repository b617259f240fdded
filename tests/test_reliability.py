"""Locks, interrupts, upgrades and read-only folders: every failure leaves a working search behind."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

import kb.manifest as manifest_module
from kb import KnowledgeBase
from kb.cli import cli
from kb.errors import IndexLocked
from kb.locking import WriterLock
from kb.store import CURRENT, MANIFEST, IndexStore
from tests.sitegen import Site, make_site, marker, revision

KB = [sys.executable, "-m", "kb"]


def run_kb(site: Site, index: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*KB, "--content", str(site.root), "--index", str(index), *args],
                          capture_output=True, text=True, timeout=timeout)


def found(kb: KnowledgeBase, rev: int) -> set[str]:
    return {h.path for h in kb.search(revision(rev), limit=1000).hits}


@pytest.fixture
def site(tmp_path: Path) -> Site:
    site = make_site(tmp_path / "content", pages=6)
    kb = KnowledgeBase(site.root, tmp_path / "index")
    kb.reindex()
    kb.close()
    return site


HOLD_LOCK = textwrap.dedent("""
    import sys, time
    from kb.locking import WriterLock
    lock = WriterLock(sys.argv[1])
    lock.acquire()
    print("locked", flush=True)
    time.sleep(float(sys.argv[2]))
    lock.release()
""")


def hold_lock(index: Path, seconds: float) -> subprocess.Popen[str]:
    """Another process that holds the writer lock, as a long reindex would."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(index), str(seconds)], stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    return proc


# -- one writer at a time ----------------------------------------------------------------------------------


def test_second_reindex_waits_then_exits_3_naming_the_holder(site: Site, tmp_path: Path) -> None:
    index = tmp_path / "index"
    holder = hold_lock(index, 30)
    try:
        res = run_kb(site, index, "--lock-timeout", "0.5", "reindex")
    finally:
        holder.kill()
        holder.wait()
    assert res.returncode == 3, res
    lines = res.stderr.strip().splitlines()
    assert lines[0] == f"kb: waiting up to 0.5s for another reindex (pid {holder.pid}) to finish..."
    assert f"another reindex is running (pid {holder.pid})" in lines[1] and len(lines) == 2
    assert "Traceback" not in res.stderr


def test_second_reindex_proceeds_when_the_first_finishes(site: Site, tmp_path: Path) -> None:
    index = tmp_path / "index"
    site.write(2, 1)
    holder = hold_lock(index, 4.0)  # long enough for the second process to start on a loaded machine
    res = run_kb(site, index, "--lock-timeout", "30", "reindex")
    holder.wait()
    assert res.returncode == 0, res
    assert "waiting" in res.stderr and "1 updated" in res.stdout


def test_lock_of_a_killed_process_does_not_outlive_it(site: Site, tmp_path: Path) -> None:
    index = tmp_path / "index"
    holder = hold_lock(index, 60)
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    site.write(1, 1)
    res = run_kb(site, index, "--lock-timeout", "0", "reindex")
    assert res.returncode == 0, res
    assert "waiting" not in res.stderr


def test_search_never_waits_for_a_writer(site: Site, tmp_path: Path) -> None:
    index = tmp_path / "index"
    site.write(3, 1)  # stale: the search would like to refresh, but a writer holds the lock
    holder = hold_lock(index, 60)
    try:
        started = time.monotonic()
        res = run_kb(site, index, "--lock-timeout", "60", "search", marker(3))
        elapsed = time.monotonic() - started
    finally:
        holder.kill()
        holder.wait()
    assert res.returncode == 0, res
    assert site.rel(3) in res.stdout
    assert res.stderr.strip() == f"kb: another reindex is running (pid {holder.pid}); answering from the index as it is"
    assert elapsed < 30  # it would take 60 if it waited for the lock


def test_search_with_no_index_while_first_build_runs_says_so(site: Site, tmp_path: Path) -> None:
    index = tmp_path / "fresh-index"
    index.mkdir()
    holder = hold_lock(index, 60)
    try:
        res = CliRunner().invoke(cli, ["--content", str(site.root), "--index", str(index), "search", "x"])
    finally:
        holder.kill()
        holder.wait()
    assert res.exit_code == 3
    assert res.stderr.strip() == (f"Error: no index yet: another reindex (pid {holder.pid}) is building it; "
                                  "try again when it finishes")


def test_two_reindexes_at_once_both_succeed_and_agree_with_a_clean_build(site: Site, tmp_path: Path) -> None:
    index = tmp_path / "index"
    for i in range(3):
        site.write(i, 1)
    site.add(1)
    site.delete(4)
    procs = [subprocess.Popen([*KB, "--content", str(site.root), "--index", str(index), "reindex", "--json"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    reports = [json.loads(out) for out, _ in outs]
    assert sorted(r["updated"] for r in reports) == [0, 3]  # one did the work, the other found nothing left
    kb = KnowledgeBase(site.root, index)
    try:
        assert found(kb, 1) == site.expected(1) and found(kb, 0) == site.expected(0)
    finally:
        kb.close()


def test_in_process_lock_timeout_raises_index_locked(site: Site, tmp_path: Path) -> None:
    index = tmp_path / "index"
    with WriterLock(index):
        kb = KnowledgeBase(site.root, index, lock_timeout=0.1)
        with pytest.raises(IndexLocked) as err:
            kb.reindex()
        assert err.value.pid == os.getpid()


# -- Ctrl-C ------------------------------------------------------------------------------------------------


def test_ctrl_c_during_reindex_exits_130_and_keeps_the_previous_index(tmp_path: Path) -> None:
    pages = 240  # enough that the build is still running when the signal lands, with parse workers in play
    site = make_site(tmp_path / "content", pages=pages)
    index = tmp_path / "index"
    kb = KnowledgeBase(site.root, index)
    kb.reindex()
    kb.close()
    before = (index / CURRENT).read_text()
    evens = {site.rel(i) for i in range(0, pages, 2)}
    odds = {site.rel(i) for i in range(1, pages, 2)}
    previous = 0  # the revision the even pages have in the live index
    for _attempt in range(3):  # the signal must land while the build runs; if the build wins, go again
        for i in range(0, pages, 2):
            site.write(i, previous + 1)
        proc = subprocess.Popen([*KB, "--content", str(site.root), "--index", str(index), "reindex", "--full"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30
        while len(list(index.glob("gen-*"))) < 2 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)  # wait until the new generation is being built
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
        if proc.returncode == 130:
            break
        before = (index / CURRENT).read_text()  # it finished first: that build is now the previous state
        previous += 1
    assert proc.returncode == 130, (out, err)
    assert err.strip() == "kb: interrupted; the index still answers searches as before"
    assert (index / CURRENT).read_text() == before
    assert [p.name for p in index.glob("gen-*")] == [before]  # the half-built generation is gone
    kb = KnowledgeBase(site.root, index)
    try:
        assert evens <= found(kb, previous) and odds <= found(kb, 0)  # the previous state, whole
        assert not found(kb, previous + 1)
    finally:
        kb.close()
    done = run_kb(site, index, "reindex")
    assert done.returncode == 0 and f"{pages // 2} updated" in done.stdout


# -- upgrades ----------------------------------------------------------------------------------------------


def test_index_from_another_kb_version_is_rebuilt_with_one_note(site: Site, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    index = tmp_path / "index"
    monkeypatch.setattr(manifest_module, "__version__", "99.0.0")
    res = CliRunner().invoke(cli, ["--content", str(site.root), "--index", str(index), "search", marker(1)])
    assert res.exit_code == 0, res.output
    assert site.rel(1) in res.stdout
    notes = res.stderr.strip().splitlines()
    assert notes[0] == "kb: index was built by another kb version or with other settings; rebuilding it"
    assert "kb=99.0.0" in (IndexStore(index).live() / MANIFEST).read_text()  # type: ignore[operator]
    again = CliRunner().invoke(cli, ["--content", str(site.root), "--index", str(index), "search", marker(1)])
    assert again.exit_code == 0 and again.stderr == ""


def test_old_manifest_format_is_rebuilt_by_the_api_search(site: Site, tmp_path: Path) -> None:
    index = tmp_path / "index"
    manifest = IndexStore(index).live() / MANIFEST  # type: ignore[operator]
    data = json.loads(manifest.read_text())
    manifest.write_text(json.dumps({"stamp": "kb=0.9.0;schema=1", "content": data["content"],
                                    "files": data["files"]}))
    notes: list[str] = []
    kb = KnowledgeBase(site.root, index, on_note=notes.append)
    try:
        assert found(kb, 0) == site.expected(0)
    finally:
        kb.close()
    assert notes == ["index was built by another kb version or with other settings; rebuilding it"]


def test_changed_settings_rebuild_with_a_note(site: Site, tmp_path: Path) -> None:
    notes: list[str] = []
    kb = KnowledgeBase(site.root, tmp_path / "index", include_drafts=True, on_note=notes.append)
    try:
        report = kb.reindex()
    finally:
        kb.close()
    assert report.full and len(notes) == 1 and "other settings" in notes[0]


# -- readers and old generations ---------------------------------------------------------------------------


def test_old_generation_stays_while_a_searcher_reads_it(site: Site, tmp_path: Path) -> None:
    index = tmp_path / "index"
    reader_kb = KnowledgeBase(site.root, index)
    assert found(reader_kb, 0) == site.expected(0)
    held = IndexStore(index).live()
    searcher = reader_kb._reader().searcher
    writer_kb = KnowledgeBase(site.root, index)
    for rev in (1, 2):
        site.write(0, rev)
        writer_kb.reindex()
    assert held is not None and held.is_dir() and IndexStore(index).live() != held
    # the old searcher still reads every stored document of its generation
    assert {d["path"] for d in searcher.documents()} == {site.rel(i) for i in range(6)}
    assert found(reader_kb, 2) == {site.rel(0)}  # and the next search moves to the new one
    reader_kb.close()
    site.write(0, 3)
    writer_kb.reindex()
    writer_kb.close()
    assert not held.exists()
    assert len(list(index.glob("gen-*"))) == 1


def test_a_writer_never_changes_a_published_generation(site: Site, tmp_path: Path) -> None:
    index = tmp_path / "index"
    gen = IndexStore(index).live()
    assert gen is not None
    before = {p.name: p.read_bytes() for p in gen.iterdir() if p.is_file()}
    kb = KnowledgeBase(site.root, index)
    _ = kb._reader()  # hold it so it is not deleted
    site.write(1, 1)
    site.add(1)
    site.delete(2)
    kb2 = KnowledgeBase(site.root, index)
    kb2.reindex()
    kb2.close()
    assert {p.name: p.read_bytes() for p in gen.iterdir() if p.is_file()} == before
    kb.close()


# -- read-only index folder --------------------------------------------------------------------------------


def _read_only_runner(index: Path) -> list[str] | None:
    """A command prefix that runs kb with `index` read-only, or None when this machine cannot arrange it."""
    if os.geteuid() != 0:
        for path in [index, *index.glob("gen-*")]:
            path.chmod(0o555)
        return []
    if shutil.which("unshare") is None:
        return None
    probe = subprocess.run(["unshare", "-m", "sh", "-c", f"mount --bind '{index}' '{index}' && "
                            f"mount -o remount,bind,ro '{index}' '{index}'"], capture_output=True)
    if probe.returncode != 0:
        return None
    return ["unshare", "-m", "sh", "-c",
            f"mount --bind '{index}' '{index}' && mount -o remount,bind,ro '{index}' '{index}' && exec \"$@\"", "sh"]


def test_read_only_index_answers_and_says_it_may_be_stale(site: Site, tmp_path: Path) -> None:
    index = tmp_path / "index"
    prefix = _read_only_runner(index)
    if prefix is None:
        pytest.skip("cannot make a folder read-only here (root without mount namespaces)")
    site.write(2, 1)  # the content moved on; the index cannot follow
    try:
        res = subprocess.run([*prefix, *KB, "--content", str(site.root), "--index", str(index), "search", "-n",
                              "100", "--json", revision(0)], capture_output=True, text=True, timeout=60)
        reindex = subprocess.run([*prefix, *KB, "--content", str(site.root), "--index", str(index), "reindex"],
                                 capture_output=True, text=True, timeout=60)
    finally:
        for path in [index, *index.glob("gen-*")]:
            path.chmod(0o755)
    assert res.returncode == 0, res
    assert {h["path"] for h in json.loads(res.stdout)["hits"]} == site.expected(0) | {site.rel(2)}  # old state
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot be written" in lines[0] and "may be stale" in lines[0], res.stderr
    assert reindex.returncode == 2 and len(reindex.stderr.strip().splitlines()) == 1, reindex
    assert "cannot be written" in reindex.stderr and "Traceback" not in reindex.stderr


READER = textwrap.dedent("""
    import sys
    from kb import KnowledgeBase
    kb = KnowledgeBase(sys.argv[1], sys.argv[2])
    reader = kb._reader()
    print(reader.gen.name, flush=True)
    sys.stdin.readline()  # meanwhile another process reindexes
    print(len(list(reader.searcher.documents())), len(kb.search(sys.argv[3], limit=1000).hits), flush=True)
    kb.close()
""")


def test_another_process_reading_an_old_generation_keeps_it(site: Site, tmp_path: Path) -> None:
    index = tmp_path / "index"
    probe = KnowledgeBase(site.root, index)
    docs = len(list(probe._reader().searcher.documents()))
    probe.close()
    proc = subprocess.Popen([sys.executable, "-c", READER, str(site.root), str(index), revision(1)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdin is not None and proc.stdout is not None
    held = index / proc.stdout.readline().strip()
    writer = KnowledgeBase(site.root, index)
    for rev in (1, 2):
        site.write(4, rev)
        writer.reindex()
    site.write(5, 1)
    writer.reindex()
    assert held.is_dir() and IndexStore(index).live() != held
    proc.stdin.write("go\n")
    proc.stdin.flush()
    old_docs, new_hits = map(int, proc.stdout.readline().split())
    assert proc.wait(timeout=30) == 0
    assert old_docs == docs  # the old searcher read its whole generation
    assert new_hits >= 1  # and a new search in that process moved to the newest one (page 5 at revision 1)
    site.write(4, 3)
    writer.reindex()
    writer.close()
    assert not held.exists() and len(list(index.glob("gen-*"))) == 1


def test_idle_searchers_of_other_threads_do_not_keep_old_generations(site: Site, tmp_path: Path) -> None:
    import threading

    index = tmp_path / "index"
    kb = KnowledgeBase(site.root, index)
    threads = [threading.Thread(target=kb.search, args=(marker(1),)) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    first = IndexStore(index).live()
    writer = KnowledgeBase(site.root, index)
    site.write(1, 1)
    writer.reindex()
    assert first is not None and first.is_dir()  # still held by the worker threads' searchers
    assert found(kb, 1) == {site.rel(1)}  # this thread moves on, and lets the idle ones go
    site.write(1, 2)
    writer.reindex()
    writer.close()
    assert not first.exists()
    kb.close()
