"""SIGKILL a real `kb reindex` at random moments: search always answers from a whole state, and the next reindex
always ends where a clean full build would."""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from kb import KnowledgeBase
from kb.cli import cli
from kb.locking import LOCK_NAME
from kb.store import IndexStore
from tests.sitegen import Site, make_site, revision

ROUNDS = 30
PAGES = 16
KB = [sys.executable, "-m", "kb"]
_REVISION = re.compile(r"\bvx([a-z]{9})\b")


def stored(index: Path) -> list[dict[str, object]]:
    """Every stored document of the live index, in a stable order: what a clean build must reproduce.

    Opened without the self-healing of KnowledgeBase: a kill must leave nothing that needs healing.
    """
    reader = IndexStore(index).open_reader()
    try:
        docs = [dict(d) for d in reader.searcher.documents()]
    finally:
        reader.close()
    return sorted(docs, key=lambda d: str(d["key"]))


def index_state(docs: list[dict[str, object]]) -> dict[str, str]:
    """Which revision word each indexed page carries (read back from the index itself)."""
    state: dict[str, str] = {}
    for d in docs:
        m = _REVISION.search(str(d.get("body", "")))
        if m:
            state[str(d["path"])] = m.group(0)
    return state


def content_state(site: Site, revisions: dict[int, int]) -> dict[str, str]:
    return {site.rel(i): revision(r) for i, r in revisions.items()}


def cli_search(site: Site, index: Path, word: str) -> set[str]:
    res = CliRunner().invoke(cli, ["--content", str(site.root), "--index", str(index), "search", "--no-refresh",
                                   "--json", "-n", "1000", word])
    assert res.exit_code in (0, 1), res.output
    assert res.stderr == "", res.stderr  # no warning: nothing was damaged, nothing rebuilt
    return {h["path"] for h in json.loads(res.stdout)["hits"]}


def reindex_seconds(site: Site, index: Path) -> tuple[float, float]:
    """(whole `kb reindex --full` process, its work once it holds the lock), to aim the kills."""
    started = time.monotonic()
    subprocess.run([*KB, "--content", str(site.root), "--index", str(index), "reindex", "--full"], check=True,
                   capture_output=True, timeout=120)
    whole = time.monotonic() - started
    kb = KnowledgeBase(site.root, index)
    started = time.monotonic()
    kb.reindex(full=True)
    kb.close()
    return whole, time.monotonic() - started


def wait_until_locked(index: Path, proc: subprocess.Popen[bytes]) -> None:
    """Until `proc` holds the writer lock (start-up done, real work begun) or has exited."""
    lock = index / LOCK_NAME
    deadline = time.monotonic() + 30
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            if lock.read_text().strip() == str(proc.pid):
                return
        except OSError:
            pass
        time.sleep(0.002)


@pytest.mark.slow
def test_sigkill_during_reindex_never_breaks_search(tmp_path: Path) -> None:
    rng = random.Random(6)
    site = make_site(tmp_path / "content", pages=PAGES)
    index = tmp_path / "index"
    whole, work = reindex_seconds(site, index)
    committed = site.snapshot()
    outcomes = {"old": 0, "new": 0}
    for rnd in range(1, ROUNDS + 1):
        site.mutate(rng, rnd, edits=rng.randint(1, 4))
        current = site.snapshot()
        args = ["reindex", "--full"] if rng.random() < 0.4 else ["reindex"]
        proc = subprocess.Popen([*KB, "--content", str(site.root), "--index", str(index), *args],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if rng.random() < 0.75:  # most kills aim at the work itself: parsing, committing, publishing, sweeping
            wait_until_locked(index, proc)
            time.sleep(rng.uniform(0, work * 1.1))
        else:  # the rest anywhere, start-up included
            time.sleep(rng.uniform(0, whole * 1.1))
        proc.kill()
        proc.wait()

        # The index holds exactly the previous committed state, or (if the kill came after publishing) the new.
        state = index_state(stored(index))
        old, new = content_state(site, committed), content_state(site, current)
        assert state in (old, new), f"round {rnd}: index holds a mix of states"
        which = "old" if state == old else "new"
        outcomes[which] += 1
        revs = committed if which == "old" else current
        for word in {revision(rnd), revision(0)}:
            assert cli_search(site, index, word) == {site.rel(i) for i, r in revs.items()
                                                     if revision(r) == word}, f"round {rnd}: {word}"

        # The next reindex completes and ends exactly where a clean full build does.
        res = CliRunner().invoke(cli, ["--content", str(site.root), "--index", str(index), "reindex"])
        assert res.exit_code == 0, f"round {rnd}: {res.output}"
        clean = tmp_path / f"clean-{rnd}"
        kb = KnowledgeBase(site.root, clean)
        kb.reindex(full=True)
        kb.close()
        assert stored(index) == stored(clean), f"round {rnd}: differs from a clean build"
        assert index_state(stored(index)) == content_state(site, current)
        names = sorted(p.name for p in index.iterdir())
        assert len([n for n in names if n.startswith("gen-")]) == 1, names
        assert IndexStore(index).live() is not None
        committed = current
    print(f"kills that left the old state: {outcomes['old']}, after publishing: {outcomes['new']}")
