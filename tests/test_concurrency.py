"""Searches in a loop while another process edits, adds, deletes and reindexes: no search fails, and every answer
is the whole of one committed state of the content, never going back to an older one."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

from click.testing import CliRunner

from kb import KnowledgeBase
from kb.cli import cli
from tests.sitegen import make_site, revision

ROUNDS = 12
PAGES = 10
TESTS = Path(__file__).resolve().parent

WRITER = textwrap.dedent("""
    import json, random, sys
    from pathlib import Path
    from tests.sitegen import Site
    from kb import KnowledgeBase

    content, index, log = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    rounds, pages = int(sys.argv[4]), int(sys.argv[5])
    site = Site(content, revisions={i: 0 for i in range(pages)}, next_page=pages)
    rng = random.Random(7)
    kb = KnowledgeBase(content, index, lock_timeout=60)
    with open(log, "a") as out:
        for rnd in range(1, rounds + 1):
            site.mutate(rng, rnd, edits=rng.randint(1, 4))
            kb.reindex(full=rnd % 4 == 0)
            out.write(json.dumps({site.rel(i): r for i, r in site.revisions.items()}) + "\\n")
            out.flush()
    kb.close()
""")


def test_searches_during_repeated_reindexing_see_whole_states(tmp_path: Path) -> None:
    site = make_site(tmp_path / "content", pages=PAGES)
    index = tmp_path / "index"
    KnowledgeBase(site.root, index).reindex()
    log = tmp_path / "states.jsonl"
    log.write_text(json.dumps({site.rel(i): r for i, r in site.revisions.items()}) + "\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(TESTS.parent), os.environ.get("PYTHONPATH", "")]))
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(site.root), str(index), str(log), str(ROUNDS),
                               str(PAGES)], env=env, stderr=subprocess.PIPE, text=True)

    observations: list[tuple[str, int, set[str]]] = []  # (who, revision asked, paths answered), in order per who
    errors: list[str] = []
    finals: dict[str, set[str]] = {}

    def api_loop(name: str) -> None:
        """A long-lived embedder: one KnowledgeBase, cached searchers, reopened as generations change."""
        rng = random.Random(name)
        kb = KnowledgeBase(site.root, index)
        try:
            while writer.poll() is None:
                rev = rng.randint(0, ROUNDS)
                try:
                    paths = {h.path for h in kb.search(revision(rev), limit=1000).hits}
                except Exception as exc:  # noqa: BLE001 - any error is the failure this test looks for
                    errors.append(f"{name}: {type(exc).__name__}: {exc}")
                    return
                observations.append((name, rev, paths))
            # once the writer is done, the same long-lived object must see its last state (no stale cache)
            finals[name] = {h.path for h in kb.search(revision(ROUNDS), limit=1000).hits}
        finally:
            kb.close()

    threads = [threading.Thread(target=api_loop, args=(f"api-{n}",)) for n in range(2)]
    for t in threads:
        t.start()
    rng = random.Random(3)
    cli_runs = 0
    while writer.poll() is None:  # and `kb search` itself, each time a fresh process-like invocation
        rev = rng.randint(0, ROUNDS)
        res = CliRunner().invoke(cli, ["--content", str(site.root), "--index", str(index), "search", "--no-refresh",
                                       "--json", "-n", "1000", revision(rev)])
        if res.exit_code not in (0, 1) or res.stderr:
            errors.append(f"cli: exit {res.exit_code}: {res.output}")
            break
        observations.append(("cli", rev, {h["path"] for h in json.loads(res.stdout)["hits"]}))
        cli_runs += 1
    for t in threads:
        t.join(timeout=60)
    _, werr = writer.communicate(timeout=120)
    assert writer.returncode == 0, werr
    assert not errors, errors[:3]

    states = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(states) == ROUNDS + 1

    position: dict[str, int] = {}
    seen_states: set[int] = set()
    for who, rev, paths in observations:
        fits = [k for k, state in enumerate(states)
                if {p for p, r in state.items() if r == rev} == paths and k >= position.get(who, 0)]
        assert fits, f"{who}: search for revision {rev} answered {sorted(paths)}, which is no (newer) committed state"
        position[who] = fits[0]
        seen_states.add(fits[0])
    last = {p for p, r in states[-1].items() if r == ROUNDS}
    assert finals == {"api-0": last, "api-1": last}
    assert cli_runs >= 5 and len(observations) >= 30
    assert len(seen_states) >= 3  # the searches really did run while the index changed
