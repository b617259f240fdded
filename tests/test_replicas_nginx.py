"""Replicas behind a load balancer, on loopback: nginx in front of two `kb serve --read-only` processes.

The test writes nginx's configuration in tmp_path, starts nginx itself (bound to 127.0.0.1 only) and stops it.
Under bounded load through nginx it imports a new index artifact into one replica, then the other, and checks:
no request fails, every response comes wholly from one generation (the header names it and the body is that
generation's text), everything after the roll-out comes from the new one, and the old generation is deleted.
Set KB_SCALING_REPORT=FILE to write the figures (docs/scaling.md quotes them).
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import threading
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="kb serve needs the server extra: pip install 'kb[server]'")
pytest.importorskip("uvicorn", reason="kb serve needs the server extra: pip install 'kb[server]'")

from kb import KnowledgeBase  # noqa: E402
from kb.artifact import export_generation  # noqa: E402
from kb.store import IndexStore  # noqa: E402
from tests.serve_support import PAGES, Server, get_json, kb_command, start_server, wait_until, write_pages  # noqa: E402

pytestmark = pytest.mark.slow

NGINX = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx", "/sbin/nginx") if os.path.exists(p)), None)
HEADER = "x-kb-generation"
CLIENTS = 6
BEFORE_S = 4.0
BETWEEN_S = 2.0
AFTER_S = 4.0


def _release(word: str) -> dict[str, str]:
    return {**PAGES, "release.md": f"# Release notes\n\nThis build of the docs carries the marker {word}.\n"}


def _artifact(root: Path, name: str, word: str) -> tuple[Path, str]:
    kb = KnowledgeBase(write_pages(root / f"{name}-content", _release(word)), root / f"{name}-index")
    kb.reindex()
    kb.close()
    report = export_generation(IndexStore(root / f"{name}-index"), root / f"{name}.tar.gz")
    return root / f"{name}.tar.gz", report.generation


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _nginx_conf(tmp: Path, port: int, upstreams: list[str]) -> Path:
    servers = "\n".join(f"    server {u.removeprefix('http://')};" for u in upstreams)
    user = "user root root;\n" if os.geteuid() == 0 else ""  # as root, workers would otherwise run as nobody
    conf = tmp / "nginx.conf"
    conf.write_text(f"""{user}worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 512; }}
http {{
  access_log off;
  client_body_temp_path {tmp}/client_body;
  proxy_temp_path {tmp}/proxy;
  fastcgi_temp_path {tmp}/fastcgi;
  uwsgi_temp_path {tmp}/uwsgi;
  scgi_temp_path {tmp}/scgi;
  upstream kb {{
{servers}
    keepalive 16;
  }}
  server {{
    listen 127.0.0.1:{port};
    location / {{
      proxy_pass http://kb;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;   # the replicas answer only to loopback host names
      proxy_next_upstream off;       # no retry hides a failed request from this test
    }}
  }}
}}
""", encoding="utf-8")
    return conf


@dataclass(frozen=True)
class Answer:
    at: float
    status: int
    generation: str
    consistent: bool
    ms: float


def _client(port: int, stop: threading.Event, out: list[Answer], errors: list[str], markers: dict[str, str],
            seed: int) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    queries = ["release marker", "webhook retried", "sms delivery", "zebrafish"]
    n = seed
    while not stop.is_set():
        n += 1
        query = queries[n % len(queries)] if n % 2 else "release marker"
        path = "/api/search?" + urllib.parse.urlencode({"q": query})
        started = time.perf_counter()
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException) as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            continue
        ms = (time.perf_counter() - started) * 1000
        gen = response.getheader(HEADER) or ""
        consistent = gen in markers
        if response.status != 200:
            errors.append(f"{response.status} {body[:200]!r}")
        elif query == "release marker" and consistent:
            hits = json.loads(body)["hits"]
            text = " ".join(h["snippet"] for h in hits if h["path"] == "release.md")
            consistent = markers[gen] in text and not any(m in text for g, m in markers.items() if g != gen)
        out.append(Answer(time.monotonic(), response.status, gen, consistent, ms))
    conn.close()


def _import(artifact: Path, index: Path, tmp: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(kb_command(tmp / "no-content", index, "index", "import", str(artifact)),
                          capture_output=True, text=True, timeout=60)


def _pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))] if values else float("nan")


@pytest.mark.skipif(NGINX is None, reason="nginx is not installed (Debian: apt-get install nginx; .ci/run does)")
def test_rolling_import_behind_nginx_fails_no_request(tmp_path: Path) -> None:
    assert NGINX is not None
    old, old_gen = _artifact(tmp_path, "old", "alphaversion")
    new, new_gen = _artifact(tmp_path, "new", "bravoversion")
    markers = {old_gen: "alphaversion", new_gen: "bravoversion"}
    replicas = [tmp_path / "replica1", tmp_path / "replica2"]
    for index in replicas:
        assert _import(old, index, tmp_path).returncode == 0
    servers: list[Server] = []
    nginx: subprocess.Popen[bytes] | None = None
    stop = threading.Event()
    answers: list[Answer] = []
    errors: list[str] = []
    threads: list[threading.Thread] = []
    try:
        servers = [start_server(tmp_path / "no-content", index, "--read-only") for index in replicas]
        port = _free_port()
        conf = _nginx_conf(tmp_path, port, [s.base for s in servers])
        nginx = subprocess.Popen([NGINX, "-p", str(tmp_path), "-c", str(conf), "-e", str(tmp_path / "error.log")],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        assert wait_until(lambda: nginx.poll() is not None or _up(port), 20), "nginx did not start"
        assert nginx.poll() is None, (nginx.stderr.read() if nginx.stderr else b"").decode()

        threads = [threading.Thread(target=_client, args=(port, stop, answers, errors, markers, i))
                   for i in range(CLIENTS)]
        for t in threads:
            t.start()
        time.sleep(BEFORE_S)
        swap_start = time.monotonic()
        imports = [_import(new, replicas[0], tmp_path)]
        time.sleep(BETWEEN_S)
        imports.append(_import(new, replicas[1], tmp_path))
        swap_end = time.monotonic()
        time.sleep(AFTER_S)
        stop.set()
        for t in threads:
            t.join(timeout=20)
        for done in imports:
            assert done.returncode == 0, done.stderr
            assert "still open" not in done.stderr, done.stderr  # the replicas let go of the old generation

        before = [a for a in answers if a.at < swap_start]
        during = [a for a in answers if swap_start <= a.at < swap_end]
        after = [a for a in answers if a.at >= swap_end + 0.5]
        assert not errors, errors[:5]
        assert all(a.status == 200 and a.consistent for a in answers)
        assert before and during and after
        assert {a.generation for a in before} == {old_gen}
        assert {a.generation for a in after} == {new_gen}
        for server in servers:
            status, health = get_json(server.url("/api/health"))
            assert status == 200 and health["generation"] == new_gen
        for index in replicas:
            assert sorted(p.name for p in index.iterdir() if p.name.startswith("gen-")) == [new_gen]
        _report(tmp_path, {"before": before, "during": during, "after": after})
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=20)
        if nginx is not None and nginx.poll() is None:
            nginx.send_signal(signal.SIGQUIT)  # graceful stop
            try:
                nginx.wait(timeout=10)
            except subprocess.TimeoutExpired:
                nginx.kill()
                nginx.wait()
        for server in servers:
            server.stop()


def _up(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def _report(tmp: Path, phases: dict[str, list[Answer]]) -> None:
    lines = []
    for name, answers in phases.items():
        ms = [a.ms for a in answers]
        seconds = (max(a.at for a in answers) - min(a.at for a in answers)) or 1.0
        lines.append({"phase": name, "requests": len(answers), "errors": sum(a.status != 200 for a in answers),
                      "req_per_s": round(len(answers) / seconds, 1), "p50_ms": round(_pct(ms, 50), 1),
                      "p99_ms": round(_pct(ms, 99), 1), "mean_ms": round(statistics.fmean(ms), 1),
                      "generations": sorted({a.generation for a in answers})})
    print("\n".join(json.dumps(line) for line in lines))
    target = os.environ.get("KB_SCALING_REPORT")
    if target:
        Path(target).write_text("\n".join(json.dumps(line) for line in lines) + "\n", encoding="utf-8")
