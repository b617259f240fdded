"""Soak: minutes of concurrent reindexes (some SIGKILLed), edits, deletes and bad files, with searches and HTTP
clients on loopback; at the end the index equals a clean rebuild, no request got a 5xx, and the server's descriptors
and memory are flat.

Deselected by default (pytest's addopts has `-m "not soak"`); run it with `python -m pytest -m slow` or
`python -m pytest -m soak`. KB_SOAK_SECONDS sets the duration (default 300); KB_SOAK_REPORT names a file to which
the figures are written as JSON (docs/reliability.md records a run).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from kb import KnowledgeBase

pytestmark = [pytest.mark.slow, pytest.mark.soak]

SECONDS = float(os.environ.get("KB_SOAK_SECONDS", "300"))
WORDS = ("zebrafish quokka wombat numbat bilby okapi quoll dingo kiwi emu gecko tapir lemur ibis heron marten "
         "otter badger stoat vole shrew").split()

BAD_FILES: dict[str, bytes] = {
    "binary.md": b"\x00\x01\x02 not text" * 50,
    "badyaml.md": b"---\ntitle: [unclosed\n---\n# Bad yaml\n\nbody of the bad yaml page\n",
    "bomb.md": (b"---\na: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
                b"c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
                b"e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e]\n"
                b"tags: *f\n---\n# Bomb\n\nthe bomb page body\n"),
    "latin1.md": "# Caf\xe9\n\nna\xefve text\n".encode("latin-1"),
    "dup-a.md": b"---\nid: twin\n---\n# Twin A\n\nfirst twin\n",
    "dup-b.md": b"---\nid: twin\n---\n# Twin B\n\nsecond twin\n",
}
BAD_NAME = os.fsdecode(b"bad\xffname.md")


def page_text(rng: random.Random, n: int) -> str:
    sections = "\n\n".join(f"## {rng.choice(WORDS).title()} {k}\n\n" + " ".join(rng.choices(WORDS, k=40))
                           for k in range(rng.randint(1, 5)))
    return f"---\ntitle: Page {n}\n---\nIntro {rng.choice(WORDS)} text.\n\n{sections}\n"


def kb_cmd(content: Path, index: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "kb", "--content", str(content), "--index", str(index), *args]


def all_docs(content: Path, index: Path) -> list[tuple[Any, ...]]:
    kb = KnowledgeBase(content, index)
    try:
        docs = kb._with_reader(lambda r: [tuple(sorted(d.items())) for d in r.searcher.documents()])
    finally:
        kb.close()
    return sorted(docs)


def fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")
def test_soak(tmp_path: Path) -> None:
    pytest.importorskip("fastapi")
    from tests.serve_support import get, start_server

    rng = random.Random(12)
    content = tmp_path / "docs"
    content.mkdir()
    index = tmp_path / "index"
    for n in range(220):
        (content / f"p{n:03d}.md").write_text(page_text(rng, n), encoding="utf-8")
    assert subprocess.run(kb_cmd(content, index, "reindex"), capture_output=True).returncode == 0
    server = start_server(content, index)
    stop = threading.Event()
    figures: Counter[str] = Counter()
    statuses: Counter[int] = Counter()
    failures: list[str] = []
    lock = threading.Lock()

    def editor() -> None:
        local = random.Random(1)
        counter = 1000
        while not stop.is_set():
            action = local.random()
            pages = sorted(p for p in os.listdir(content) if p.startswith("p"))
            if action < 0.45 and pages:
                name = local.choice(pages)
                (content / name).write_text(page_text(local, counter), encoding="utf-8")
                figures["edits"] += 1
            elif action < 0.6 and len(pages) > 150:
                (content / local.choice(pages)).unlink(missing_ok=True)
                figures["deletes"] += 1
            elif action < 0.8:
                counter += 1
                (content / f"p{counter}.md").write_text(page_text(local, counter), encoding="utf-8")
                figures["adds"] += 1
            else:
                name, data = local.choice(list(BAD_FILES.items()) + [(BAD_NAME, b"# Bad name\n\nx\n")])
                path = content / name
                if path.exists() and local.random() < 0.5:
                    path.unlink()
                else:
                    path.write_bytes(data)
                figures["bad files"] += 1
            stop.wait(local.uniform(0.05, 0.4))

    def reindexer() -> None:
        local = random.Random(2)
        while not stop.is_set():
            proc = subprocess.Popen(kb_cmd(content, index, "reindex"), stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE, text=True)
            if local.random() < 0.4:
                time.sleep(local.uniform(0.05, 1.5))
                if proc.poll() is None:
                    proc.send_signal(signal.SIGKILL)
                    figures["kills"] += 1
            _out, err = proc.communicate(timeout=300)
            figures["reindexes"] += 1
            if proc.returncode not in (0, 3, -signal.SIGKILL) or "Traceback" in err:
                with lock:
                    failures.append(f"reindex exit {proc.returncode}: {err[-500:]}")

    def cli_searcher() -> None:
        local = random.Random(3)
        while not stop.is_set():
            res = subprocess.run(kb_cmd(content, index, "search", local.choice(WORDS)), capture_output=True,
                                 text=True, timeout=300)
            figures["cli searches"] += 1
            if res.returncode not in (0, 1) or "Traceback" in res.stderr:
                with lock:
                    failures.append(f"search exit {res.returncode}: {res.stderr[-500:]}")
            stop.wait(0.2)

    def http_client(seed: int) -> None:
        local = random.Random(seed)
        while not stop.is_set():
            word = local.choice(WORDS)
            try:
                status, _h, body = get(server.url(f"/api/search?q={word}&limit=5"), timeout=60)
                if status == 200 and local.random() < 0.5:
                    hits = json.loads(body)["hits"]
                    if hits:
                        hit = local.choice(hits)
                        status, _h, body = get(server.url(f"/api/pages/{hit['page']}/sections/{hit['anchor']}"),
                                               timeout=60)
            except OSError as exc:
                with lock:
                    failures.append(f"HTTP request failed: {exc}")
                continue
            with lock:
                statuses[status] += 1
                if status >= 500:
                    failures.append(f"HTTP {status}: {body[:300]!r}")

    def settled_fds() -> int:
        """Descriptors once a few requests have run on the live generation (old generations are let go)."""
        for word in WORDS[:8]:
            get(server.url(f"/api/search?q={word}"), timeout=60)
        return fds(server.process.pid)

    baseline_fds = fds(server.process.pid)  # no searcher open yet
    threads = [threading.Thread(target=editor), threading.Thread(target=reindexer),
               threading.Thread(target=cli_searcher)] + [threading.Thread(target=http_client, args=(10 + i,))
                                                        for i in range(4)]
    started = time.monotonic()
    for t in threads:
        t.start()
    samples: list[tuple[float, int, float]] = []
    try:
        while time.monotonic() - started < SECONDS and server.process.poll() is None:
            time.sleep(min(5.0, SECONDS / 20))
            samples.append((round(time.monotonic() - started, 1), fds(server.process.pid),
                            round(rss_mb(server.process.pid), 1)))
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=300)
        time.sleep(11)  # the server's pool retires threads idle for 10 s; their searchers must go with them
        final_fds, final_rss = settled_fds(), rss_mb(server.process.pid)
        server.stop()
    res = subprocess.run(kb_cmd(content, index, "reindex"), capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    clean = tmp_path / "clean"
    assert subprocess.run(kb_cmd(content, clean, "reindex"), capture_output=True).returncode == 0
    equal = all_docs(content, index) == all_docs(content, clean)
    before = fds(os.getpid())
    probe = KnowledgeBase(content, index)
    probe.search("zebrafish")
    per_searcher = fds(os.getpid()) - before  # what one searcher on the final generation holds
    probe.close()
    warm = samples[len(samples) // 4] if samples else (0.0, final_fds, final_rss)
    report = {
        "seconds": round(time.monotonic() - started, 1), **figures,
        "http requests": sum(statuses.values()), "http statuses": dict(statuses),
        "http 5xx": sum(v for k, v in statuses.items() if k >= 500), "failures": len(failures),
        "server fds (start, end after 11 s idle)": [baseline_fds, final_fds], "fds per searcher": per_searcher,
        "server RSS MB (warm, end)": [warm[2], round(final_rss, 1)],
        "fd samples": [s[1] for s in samples], "rss samples": [s[2] for s in samples],
        "index equals clean rebuild": equal,
    }
    print("\nsoak:", json.dumps(report))
    if os.environ.get("KB_SOAK_REPORT"):
        Path(os.environ["KB_SOAK_REPORT"]).write_text(json.dumps(report, indent=1), encoding="utf-8")
    assert not failures, failures[:10]
    assert equal, "the soaked index differs from a clean rebuild"
    assert figures["kills"] > 0 and sum(statuses.values()) > 0
    assert final_fds <= baseline_fds + 2 * per_searcher + 8, f"server descriptors grew: {baseline_fds} -> " \
        f"{final_fds} ({per_searcher} per searcher)"
    assert final_rss <= warm[2] * 1.3 + 30, f"server memory grew: {report['rss samples']} -> {final_rss:.1f} MB"
