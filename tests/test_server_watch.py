"""File watching (kb/watch.py) at library level: a burst of saves is one reindex, and searches see it at once."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("watchfiles", reason="--watch needs watchfiles: pip install 'kb-docs-search[watch]'")

from kb.api import KnowledgeBase  # noqa: E402
from kb.model import ReindexReport  # noqa: E402
from kb.watch import watch_in_thread  # noqa: E402
from tests.serve_support import wait_until, write_pages  # noqa: E402


def test_a_burst_of_saves_is_one_reindex(tmp_path: Path) -> None:
    content = write_pages(tmp_path / "content")
    kb = KnowledgeBase(content, tmp_path / "index")
    kb.reindex()
    reports: list[ReindexReport] = []
    notes: list[str] = []
    stop = threading.Event()
    thread = watch_in_thread(kb, stop=stop, note=notes.append, on_report=reports.append)
    try:
        time.sleep(1.5)  # let the watcher start and make its first check
        assert reports == []  # nothing changed: no reindex
        for i in range(6):
            (content / f"burst-{i}.md").write_text(f"# Burst {i}\n\nComet number {i}.\n", encoding="utf-8")
        assert wait_until(lambda: bool(reports), timeout=15), notes
        time.sleep(1.0)
    finally:
        stop.set()
        thread.join(timeout=10)
    assert not thread.is_alive()
    assert [(r.added, r.updated, r.removed) for r in reports] == [(6, 0, 0)]
    assert kb.search("comet", limit=20).total == 6


def test_saves_in_the_index_folder_or_hidden_files_do_not_reindex(tmp_path: Path) -> None:
    content = write_pages(tmp_path / "content")
    kb = KnowledgeBase(content, content / ".kb-index")
    kb.reindex()
    reports: list[ReindexReport] = []
    stop = threading.Event()
    thread = watch_in_thread(kb, stop=stop, note=lambda _m: None, on_report=reports.append)
    try:
        time.sleep(1.5)
        (content / ".notes.md").write_text("# Hidden\n", encoding="utf-8")
        kb.reindex(full=True)  # writes inside the index folder under content/
        time.sleep(1.5)
        assert reports == []
        (content / "seen.md").write_text("# Seen\n\nVisible page.\n", encoding="utf-8")
        assert wait_until(lambda: bool(reports), timeout=15)
    finally:
        stop.set()
        thread.join(timeout=10)
    assert [(r.added, r.removed) for r in reports] == [(1, 0)]


def test_searches_see_incremental_deletes_and_edits(tmp_path: Path) -> None:
    """The server keeps one KnowledgeBase for its life: its searchers must follow every kind of update."""
    content = write_pages(tmp_path / "content")
    kb = KnowledgeBase(content, tmp_path / "index")
    kb.reindex()
    assert kb.search("zebrafish").total == 2
    (content / "unicode.md").unlink()
    kb.refresh()
    assert kb.search("zebrafish").total == 1
    (content / "guide" / "xss.md").write_text("# Escaping\n\nNo fish here any more.\n", encoding="utf-8")
    kb.refresh()
    assert kb.search("zebrafish").total == 0
    assert kb.search("fish").total == 1


@pytest.mark.slow
def test_reindex_watch_command_follows_saves_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    import json
    import signal
    import subprocess

    from tests.serve_support import kb_command

    content = write_pages(tmp_path / "content")
    index = tmp_path / "index"
    proc = subprocess.Popen(kb_command(content, index, "reindex", "--watch"), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)

    def found(word: str) -> int:
        done = subprocess.run(kb_command(content, index, "search", word, "--json", "--no-refresh"),
                              capture_output=True, text=True, timeout=60)
        return int(json.loads(done.stdout)["total"]) if done.stdout else 0

    try:
        assert wait_until(lambda: index.exists() and found("zebrafish") == 2, timeout=30)
        time.sleep(1.5)
        (content / "later.md").write_text("# Pulsar\n\nA pulsar page saved while watching.\n", encoding="utf-8")
        assert wait_until(lambda: found("pulsar") == 1, timeout=20)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            out, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            pytest.fail(f"kb reindex --watch did not stop within 60 s of Ctrl-C; stderr: {err[-2000:]}")
    assert proc.returncode == 0, err
    assert "watching" in err and "index updated: 1 added" in err and "Traceback" not in err
