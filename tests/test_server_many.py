"""`kb serve --workers N` and `kb serve --read-only`: real server processes on free loopback ports."""

from __future__ import annotations

import http.client
import os
import subprocess
import threading
import urllib.parse
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="kb serve needs the server extra: pip install 'kb[server]'")
pytest.importorskip("uvicorn", reason="kb serve needs the server extra: pip install 'kb[server]'")

from kb import KnowledgeBase  # noqa: E402
from kb.artifact import export_generation  # noqa: E402
from kb.store import IndexStore  # noqa: E402
from tests.serve_support import get, get_json, kb_command, start_server, wait_until, write_pages  # noqa: E402

HEADER = "x-kb-generation"


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def _search(base: str, text: str) -> tuple[int, dict[str, str], bytes]:
    return get(base + "/api/search?" + urllib.parse.urlencode({"q": text}))


def test_two_workers_share_the_port_and_follow_a_reindex(tmp_path: Path) -> None:
    content = write_pages(tmp_path / "content")
    server = start_server(content, tmp_path / "index", "--workers", "2")
    try:
        workers = _children(server.process.pid)
        assert len(workers) == 2, server.log
        status, headers, _body = _search(server.base, "webhook")
        first = headers[HEADER]
        assert status == 200 and first.startswith("gen-")
        (content / "new.md").write_text("# Quokka care\n\nFeeding the quokka.\n", encoding="utf-8")
        done = subprocess.run(kb_command(content, tmp_path / "index", "reindex"), capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        live = IndexStore(tmp_path / "index").live()
        assert live is not None and live.name != first

        errors: list[str] = []
        seen: set[str] = set()

        def client() -> None:
            for _ in range(15):  # enough requests that both workers answer some
                status, headers, body = _search(server.base, "quokka")
                if status != 200 or b"new.md" not in body:
                    errors.append(f"{status} {body[:100]!r}")
                seen.add(headers.get(HEADER, ""))

        threads = [threading.Thread(target=client) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors and seen == {live.name}
        assert _children(server.process.pid) == workers  # none died
    finally:
        server.stop()
    assert server.process.returncode == 0
    assert all(not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text().lower()
               for pid in workers)


def _established_per_process(pids: list[int], port: int) -> dict[int, int]:
    """How many established connections to `port` each process holds (from /proc, no tools needed)."""
    inodes: dict[str, int] = {}
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes[target[8:-1]] = pid
    counts = dict.fromkeys(pids, 0)
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            cols = line.split()
            if int(cols[1].rsplit(":", 1)[1], 16) == port and cols[3] == "01" and cols[9] in inodes:
                counts[inodes[cols[9]]] += 1
    return counts


def test_connections_are_spread_over_the_workers(tmp_path: Path) -> None:
    """The kernel balances new connections over the workers' sockets; one shared socket gave 19 of 20 to one."""
    server = start_server(write_pages(tmp_path / "content"), tmp_path / "index", "--workers", "2")
    connections = []
    try:
        port = int(server.base.rsplit(":", 1)[1])
        for _ in range(40):  # a burst of connections, as a load balancer or many clients open them
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.connect()
            connections.append(conn)
        for conn in connections:
            conn.request("GET", "/api/search?q=webhook")
            assert conn.getresponse().read()
        counts = _established_per_process(_children(server.process.pid), port)
        assert sum(counts.values()) == 40 and min(counts.values()) >= 8, counts
    finally:
        for conn in connections:
            conn.close()
        server.stop()


def test_workers_with_watch_reindex_once_in_the_parent(tmp_path: Path) -> None:
    content = write_pages(tmp_path / "content")
    server = start_server(content, tmp_path / "index", "--workers", "2", "--watch")
    try:
        (content / "wombat.md").write_text("# Wombat burrows\n\nWombats dig burrows.\n", encoding="utf-8")
        assert wait_until(lambda: b"wombat.md" in _search(server.base, "wombat")[2], 30), "".join(server.log)
        assert sum("index updated" in line for line in server.log) == 1, server.log
    finally:
        server.stop()


def test_a_killed_worker_is_replaced(tmp_path: Path) -> None:
    import signal

    server = start_server(write_pages(tmp_path / "content"), tmp_path / "index", "--workers", "2")
    try:
        workers = _children(server.process.pid)
        os.kill(workers[0], signal.SIGKILL)
        assert wait_until(lambda: len(_children(server.process.pid)) == 2
                          and workers[0] not in _children(server.process.pid), 15)
        assert all(_search(server.base, "webhook")[0] == 200 for _ in range(10))
    finally:
        server.stop()


@pytest.mark.parametrize("value", ["0", "many", "65"])
def test_bad_worker_counts_are_one_line_errors(tmp_path: Path, value: str) -> None:
    result = subprocess.run(kb_command(tmp_path / "c", tmp_path / "i", "serve", "--workers", value),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "--workers" in result.stderr and "Traceback" not in result.stderr


def test_read_only_serves_an_imported_index_without_content(tmp_path: Path) -> None:
    content = write_pages(tmp_path / "built-from")
    kb = KnowledgeBase(content, tmp_path / "built")
    kb.reindex()
    kb.close()
    export_generation(IndexStore(tmp_path / "built"), tmp_path / "a.tar.gz")
    absent = tmp_path / "no-content"
    done = subprocess.run(kb_command(absent, tmp_path / "served", "index", "import", str(tmp_path / "a.tar.gz")),
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    before = sorted(p.name for p in (tmp_path / "served").iterdir())
    server = start_server(absent, tmp_path / "served", "--read-only")
    try:
        status, health = get_json(server.url("/api/health"))
        gen = IndexStore(tmp_path / "built").live()
        assert gen is not None
        assert status == 200 and health["generation"] == gen.name and health["built"].endswith("Z")
        assert health["pages"] == 4
        status, headers, body = get(server.url("/api/pages/getting-started"))
        assert status == 200 and headers[HEADER] == gen.name and b"Install the client" in body
    finally:
        server.stop()
    assert not absent.exists()
    assert sorted(p.name for p in (tmp_path / "served").iterdir()) == before


def test_read_only_without_an_index_answers_503_until_one_is_imported(tmp_path: Path) -> None:
    cmd = kb_command(tmp_path / "none", tmp_path / "empty", "serve", "--read-only", "--port", "0", "--no-access-log")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(2)]
        assert "answering 503" in lines[0], lines
        base = lines[1].split("serving ")[1].split("/ ")[0]
        assert wait_until(lambda: get(base + "/api/search?q=x")[0] == 503, 20)
        status, body = get_json(base + "/api/search?q=webhook")
        assert "index import FILE" in body["error"]
        assert not (tmp_path / "empty" / "CURRENT").exists()
        kb = KnowledgeBase(write_pages(tmp_path / "content"), tmp_path / "built")
        kb.reindex()
        kb.close()
        export_generation(IndexStore(tmp_path / "built"), tmp_path / "a.tar.gz")
        done = subprocess.run(kb_command(tmp_path / "none", tmp_path / "empty", "index", "import",
                                         str(tmp_path / "a.tar.gz")), capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        status, headers, body = get(base + "/api/search?q=webhook")
        assert status == 200 and b"configure-webhooks" in body and headers[HEADER].startswith("gen-")
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def test_read_only_refuses_watch(tmp_path: Path) -> None:
    result = subprocess.run(kb_command(tmp_path / "c", tmp_path / "i", "serve", "--read-only", "--watch"),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "--read-only" in result.stderr


def test_cli_kb_export_writes_every_passage(tmp_path: Path) -> None:
    import json

    content = write_pages(tmp_path / "content")
    out = subprocess.run(kb_command(content, tmp_path / "index", "export", "--format", "ndjson"),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    records = [json.loads(line) for line in out.stdout.splitlines()]
    manifest = IndexStore(tmp_path / "index").manifest()
    assert manifest is not None and len(records) == manifest.docs
    webhooks = next(r for r in records if r["anchor"] == "configure-webhooks")
    assert webhooks["breadcrumb"] == ["Getting started", "Configure webhooks"]
    assert webhooks["tags"] == ["setup"] and webhooks["page"] == "getting-started" and webhooks["line"] > 1
    assert "exponential backoff" in webhooks["text"]
    assert set(webhooks) >= {"page", "path", "title", "breadcrumb", "anchor", "line", "text", "tags"}


def test_cli_kb_export_carries_source_and_published_url(tmp_path: Path) -> None:
    import json

    content = write_pages(tmp_path / "content")
    out = subprocess.run(kb_command(content, tmp_path / "index", "export", "--base-url", "https://docs.example/"),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    webhooks = next(json.loads(line) for line in out.stdout.splitlines() if '"configure-webhooks"' in line)
    assert webhooks["url"] == "https://docs.example/getting-started#configure-webhooks"
    assert webhooks["source"]
