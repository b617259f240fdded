"""kb/parse_workers.py: forked workers return every result in order, pass failures on, and never hang or linger."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest

from kb.errors import ResourceExhausted
from kb.parse_workers import run_forked

pytestmark = pytest.mark.skipif(not hasattr(os, "fork") or not Path("/proc/self").is_dir(),
                                reason="forked workers (Linux)")


def _alive(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "zombie" not in status.read_text()


def _children() -> list[int]:
    me = os.getpid()
    try:
        return [int(c) for c in Path(f"/proc/{me}/task/{me}/children").read_text().split()]
    except OSError:
        return []


def _nothing() -> None:
    pass


def test_results_come_back_in_order_from_every_worker() -> None:
    def job(i: int) -> tuple[int, int, bytes]:
        return i, os.getpid(), b"x" * (i * 7919 % 300_000)  # some larger than a default pipe

    out = list(run_forked(200, job, workers=3, init=_nothing, name=str))
    assert [r[0] for r in out] == list(range(200))
    assert [len(r[2]) for r in out] == [i * 7919 % 300_000 for i in range(200)]
    pids = {r[1] for r in out}
    assert len(pids) == 3 and os.getpid() not in pids
    assert all(out[i][1] == out[i % 3][1] for i in range(200))  # worker k takes items k, k + 3, ...
    assert not [p for p in pids if _alive(p)]


def test_a_failing_item_raises_its_exception_in_the_caller() -> None:
    def job(i: int) -> int:
        if i == 17:
            raise ValueError(f"bad item {i}")
        return i

    got = []
    with pytest.raises(ValueError, match="bad item 17"):
        for r in run_forked(50, job, workers=2, init=_nothing, name=str):
            got.append(r)
    assert got == list(range(17))
    time.sleep(0.1)
    assert not [p for p in _children() if _alive(p)]


def test_an_unpicklable_failure_still_arrives_as_an_error() -> None:
    class Odd(Exception):
        def __reduce__(self):  # type: ignore[no-untyped-def]
            raise TypeError("cannot pickle")

    def job(i: int) -> int:
        if i == 3:
            raise Odd("odd")
        return i

    with pytest.raises(RuntimeError, match="Odd: odd"):
        list(run_forked(10, job, workers=2, init=_nothing, name=str))


def test_a_worker_killed_midway_is_an_error_naming_the_item_not_a_hang() -> None:
    def job(i: int) -> int:
        if i == 9:
            os.kill(os.getpid(), signal.SIGKILL)
        return i

    with pytest.raises(ResourceExhausted, match=r"while reading page-9 \(killed by SIGKILL"):
        list(run_forked(40, job, workers=2, init=_nothing, name=lambda i: f"page-{i}"))
    time.sleep(0.1)
    assert not [p for p in _children() if _alive(p)]


def test_stopping_early_ends_and_reaps_the_workers() -> None:
    def job(i: int) -> bytes:
        return b"y" * 200_000

    it = run_forked(10_000, job, workers=2, init=_nothing, name=str)
    next(it)
    next(it)
    workers = _children()
    assert len(workers) == 2
    it.close()  # what a `for` loop broken by an exception does
    assert not [p for p in workers if _alive(p)]
    assert not [p for p in workers if Path(f"/proc/{p}").exists()]  # reaped, not zombies


def test_workers_do_not_run_the_callers_exit_handlers(tmp_path: Path) -> None:
    import subprocess

    marker = tmp_path / "exits"
    code = (
        "import atexit, sys\n"
        f"atexit.register(lambda: open({str(marker)!r}, 'a').write('exit\\n'))\n"
        "from kb.parse_workers import run_forked\n"
        "print(sum(run_forked(20, lambda i: i, workers=2, init=lambda: None, name=str)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == str(sum(range(20))), out.stderr
    assert marker.read_text() == "exit\n"  # the caller's handler ran once; no worker ran it or flushed stdout


def test_pages_from_workers_carry_what_the_writer_records(tmp_path: Path) -> None:
    """A worker sends a page without its sections and passages (they travel analysed); the manifest entries and
    section counts the writer records are those of pages parsed in the writing process."""
    from kb.discover import discover
    from kb.identity import unique
    from kb.index import _entry, process_all
    from kb.manifest import Settings

    for i in range(210):
        extra = "".join(f"\n\n## Part {j}\n\nText {j} of page {i}." for j in range(i % 4))
        ident = "id: shared\n" if i % 50 == 7 else ""  # contested ids: later pages are renamed by the writer
        (tmp_path / f"p{i:03}.md").write_text(f"---\ntitle: Page {i}\n{ident}---\n# Page {i}\n\nIntro {i}.{extra}\n")
    files = list(discover(tmp_path).files)
    taken: dict[str, str] = {}
    here = [unique(p, taken) for p in process_all(files, Settings(), workers=1)]
    taken = {}
    forked = [unique(p, taken) for p in process_all(files, Settings(), workers=2)]
    assert sum("is already the id of" in str(p.problems) for p in forked) == 4
    assert [_entry(p) for p in forked] == [_entry(p) for p in here]
    assert [(p.sections, p.passages) for p in forked] == [(p.sections, p.passages) for p in here]
    assert sum(p.sections for p in forked) == sum(1 + i % 4 for i in range(210))
    assert all(p.page is not None and not p.page.passages for p in forked)  # not sent twice
    assert [p.analysed.docs for p in forked] == [p.analysed.docs for p in here]  # type: ignore[union-attr]


def _segment_files(index: Path) -> dict[str, bytes]:
    """The live generation's segment files by their name without the random segment id (the TOC, which names
    the segment, and the manifest, which names the files, aside)."""
    import json

    gen = next(p for p in index.iterdir() if p.name.startswith("gen-"))
    files = {p.name.split(".", 1)[1]: p.read_bytes() for p in gen.iterdir()
             if p.name.startswith("MAIN_") and "." in p.name}
    files["manifest entries"] = json.dumps(json.loads((gen / "manifest.json").read_text())["files"]).encode()
    return files


def test_pages_analysed_in_batches_make_the_index_pages_analysed_one_by_one_make(tmp_path: Path,
                                                                              monkeypatch) -> None:
    """A full build's workers analyse 8 consecutive pages together (`kb.index.Batch`); the index is byte for byte
    the one that analysing each page apart gives, including pages renamed by the writer across batches and
    pages that are skipped inside a batch."""
    import kb.index as index_module
    from kb import KnowledgeBase

    content = tmp_path / "content"
    content.mkdir()
    for i in range(230):
        extra = "".join(f"\n\n## Part {j}\n\nText {j} of page {i}, shared words." for j in range(i % 5))
        ident = "id: shared\n" if i % 23 == 7 else ""  # contested ids: later pages are renamed by the writer
        draft = "draft: true\n" if i % 37 == 3 else ""  # skipped pages inside a batch
        (content / f"p{i:03}.md").write_text(f"---\ntitle: Page {i} words\n{ident}{draft}---\n# Page {i}\n\n"
                                             f"Intro {i} shared words.{extra}\n")
    built = {}
    for size in (1, 8):
        monkeypatch.setattr(index_module, "PAGES_PER_BATCH", size)
        kb = KnowledgeBase(content, tmp_path / f"index-{size}")
        report = kb.reindex(full=True)
        assert sum("is already the id of" in w.problem for w in report.warnings) == 9
        assert kb.page("p030").path == "p030.md" and kb.page("shared").path == "p007.md"
        kb.close()
        built[size] = _segment_files(tmp_path / f"index-{size}")
    assert built[8].keys() == built[1].keys() and {"pst", "trm", "kbi", "_stored.col"} < built[8].keys()
    assert [name for name in built[8] if built[8][name] != built[1][name]] == []
