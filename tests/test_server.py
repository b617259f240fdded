"""`kb serve` over real HTTP: a real server process on a free loopback port, every endpoint, limits and errors."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="kb serve needs the server extra: pip install 'kb-docs-search[server]'")
pytest.importorskip("uvicorn", reason="kb serve needs the server extra: pip install 'kb-docs-search[server]'")

from click.testing import CliRunner  # noqa: E402

from kb.cli import cli  # noqa: E402
from tests.serve_support import Server, get, get_json, kb_command, start_server, wait_until, write_pages  # noqa: E402


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("kbserve")
    return write_pages(root / "content"), root / "index"


@pytest.fixture(scope="module")
def server(folders: tuple[Path, Path]) -> Iterator[Server]:
    srv = start_server(*folders)
    yield srv
    srv.stop()


def q(text: str, **params: object) -> str:
    return "/api/search?" + urllib.parse.urlencode({"q": text, **params})


# -- search --------------------------------------------------------------------------------------------------

def test_search_returns_the_same_json_as_the_cli(server: Server, folders: tuple[Path, Path]) -> None:
    status, body = get_json(server.url(q("webhook retried", limit=5)))
    assert status == 200
    content, index = folders
    cli_out = CliRunner().invoke(cli, ["--content", str(content), "--index", str(index), "search", "webhook",
                                       "retried", "--limit", "5", "--json", "--no-refresh"])
    assert cli_out.exit_code == 0, cli_out.output
    assert body == json.loads(cli_out.stdout)
    hit = body["hits"][0]
    assert (hit["path"], hit["anchor"]) == ("getting-started.md", "configure-webhooks")
    assert hit["breadcrumb"] == ["Getting started", "Configure webhooks"]
    assert all(hit["snippet"][s:e].lower().startswith(("webhook", "retri")) for s, e in hit["highlights"])


def test_search_respects_limit_and_reports_no_match_as_empty(server: Server) -> None:
    status, body = get_json(server.url(q("zebrafish", limit=1)))
    assert status == 200 and len(body["hits"]) == 1 and body["total"] == 2
    status, body = get_json(server.url(q("xylophonequartz")))
    assert status == 200 and body["hits"] == [] and body["total"] == 0


def test_group_by_page_matches_the_cli(server: Server, folders: tuple[Path, Path]) -> None:
    status, body = get_json(server.url(q("zebrafish message", group="page")))
    assert status == 200
    content, index = folders
    cli_out = CliRunner().invoke(cli, ["--content", str(content), "--index", str(index), "search", "zebrafish",
                                       "message", "--group", "page", "--json", "--no-refresh"])
    assert body == json.loads(cli_out.stdout)
    status, err = get_json(server.url(q("sms", group="site")))
    assert status == 422 and err["error"].startswith("group:")


@pytest.mark.parametrize("limit", ["0", "101", "-3", "ten", "1.5"])
def test_limit_outside_1_to_100_is_a_422_json_error(server: Server, limit: str) -> None:
    status, headers, body = get(server.url(f"/api/search?q=sms&limit={urllib.parse.quote(limit)}"))
    assert status == 422
    assert headers["content-type"].startswith("application/json")
    assert json.loads(body)["error"] == "limit: must be a whole number between 1 and 100"


def test_limit_bounds_themselves_are_accepted(server: Server) -> None:
    assert get(server.url(q("sms", limit=1)))[0] == 200
    assert get(server.url(q("sms", limit=100)))[0] == 200


def test_query_length_limit(server: Server) -> None:
    assert get(server.url(q("sms " * 125)))[0] == 200  # exactly 500 characters
    status, body = get_json(server.url(q("s" * 501)))
    assert status == 422 and body["error"] == "q: must be at most 500 characters"
    status, body = get_json(server.url("/api/search"))
    assert status == 422 and body["error"] == "q: is required"
    status, body = get_json(server.url("/api/search?q="))
    assert status == 422 and body["error"] == "q: must not be empty"


def test_odd_queries_never_crash(server: Server) -> None:
    for text in ['"', "-", "OR", "tag:", "((", "\x00", "é" * 40, "*", "page:../../etc/passwd", "🚀"]:
        status, _h, body = get(server.url(q(text)))
        assert status in (200, 422), (text, status)
        assert "Traceback" not in body.decode()
        assert "hits" in json.loads(body) or "error" in json.loads(body)


# -- pages and sections --------------------------------------------------------------------------------------

def test_page_by_id_and_by_path(server: Server) -> None:
    status, page = get_json(server.url("/api/pages/getting-started"))
    assert status == 200
    assert page["path"] == "getting-started.md" and page["title"] == "Getting started"
    assert [s["anchor"] for s in page["sections"]] == ["", "install-the-client", "configure-webhooks"]
    assert get_json(server.url("/api/pages/getting-started.md"))[1] == page
    status, nested = get_json(server.url("/api/pages/guide/sms"))
    assert status == 200 and nested["path"] == "guide/sms.md"


def test_section_text_and_metadata(server: Server) -> None:
    status, section = get_json(server.url("/api/pages/guide/sms/sections/delivery-reports"))
    assert status == 200
    assert section["breadcrumb"] == ["Sending SMS", "Delivery reports"]
    assert section["text"] == "Delivery reports tell you whether the handset received the message."
    assert section["path"] == "guide/sms.md" and section["line"] > 1
    status, intro = get_json(server.url("/api/pages/getting-started/sections/"))
    assert status == 200 and intro["text"].startswith("Welcome to the Example docs.")
    status, encoded = get_json(server.url("/api/pages/guide%2Fsms/sections/delivery-reports"))
    assert status == 200 and encoded == section


def test_unicode_survives_the_round_trip(server: Server) -> None:
    status, body = get_json(server.url(q("rocket")))
    assert status == 200
    hit = body["hits"][0]
    assert "🚀" in hit["snippet"]
    (s, e), = hit["highlights"]
    assert hit["snippet"][s:e] == "rocket"


@pytest.mark.parametrize("path", [
    "/api/pages/nope",
    "/api/pages/nope/sections/intro",
    "/api/pages/guide/sms/sections/no-such-anchor",
    "/api/pages/..%2F..%2F..%2Fetc%2Fpasswd",
    "/api/pages/%2Fetc%2Fpasswd",
    "/api/pages/../../pyproject.toml",
    "/static/..%2F..%2Fpyproject.toml",
    "/static/app.py",
    "/no/such/route",
])
def test_unknown_pages_and_paths_are_json_404s(server: Server, path: str) -> None:
    status, headers, body = get(server.url(path))
    assert status == 404, path
    assert headers["content-type"].startswith("application/json")
    text = body.decode()
    assert "error" in json.loads(text)
    assert "root:" not in text and "Traceback" not in text and "[build-system]" not in text


def test_index_files_are_not_served(server: Server, folders: tuple[Path, Path]) -> None:
    _content, index = folders
    for name in os.listdir(index):
        assert get(server.url("/" + name))[0] == 404
        assert get(server.url("/static/" + name))[0] == 404


# -- health, OpenAPI, the page -------------------------------------------------------------------------------

def test_health(server: Server) -> None:
    status, body = get_json(server.url("/api/health"))
    assert status == 200
    assert body["status"] == "ok" and body["pages"] == 4 and body["sections"] >= 8


def test_openapi_describes_every_endpoint(server: Server) -> None:
    status, spec = get_json(server.url("/openapi.json"))
    assert status == 200
    assert {"/api/search", "/api/pages/{page}", "/api/pages/{page}/sections/{anchor}",
            "/api/health"} <= set(spec["paths"])
    params = {p["name"]: p for p in spec["paths"]["/api/search"]["get"]["parameters"]}
    assert params["limit"]["schema"]["maximum"] == 100 and params["q"]["schema"]["maxLength"] == 500


def test_search_page_and_assets_are_self_contained(server: Server) -> None:
    status, headers, body = get(server.url("/"))
    assert status == 200 and headers["content-type"].startswith("text/html")
    html = body.decode()
    assert "http://" not in html and "https://" not in html  # no external assets: works offline
    assert "default-src 'none'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    for asset in ("/static/app.js", "/static/app.css"):
        status, _h, body = get(server.url(asset))
        assert status == 200 and b"http" not in body
    assert b"innerHTML" not in get(server.url("/static/app.js"))[2]


# -- safety by default ---------------------------------------------------------------------------------------

def test_no_cors_unless_asked(server: Server) -> None:
    _s, headers, _b = get(server.url(q("sms")), headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in headers


def test_cors_origin_allows_only_that_origin(folders: tuple[Path, Path]) -> None:
    srv = start_server(*folders, "--cors-origin", "https://docs.example.com")
    try:
        _s, headers, _b = get(srv.url(q("sms")), headers={"Origin": "https://docs.example.com"})
        assert headers["access-control-allow-origin"] == "https://docs.example.com"
        _s, headers, _b = get(srv.url(q("sms")), headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in headers
    finally:
        srv.stop()


def test_loopback_server_rejects_foreign_host_headers(server: Server) -> None:
    """A DNS-rebinding page cannot read the knowledge base through the user's browser."""
    status, body = get_json(server.url("/api/health"), headers={"Host": "attacker.example:8000"})
    assert status == 421 and "host" in body["error"]
    port = server.base.rsplit(":", 1)[1]
    assert get(server.url("/api/health"), headers={"Host": f"localhost:{port}"})[0] == 200


def test_binds_loopback_by_default(server: Server) -> None:
    assert server.base.startswith("http://127.0.0.1:")


def test_busy_port_is_a_one_line_error(folders: tuple[Path, Path]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        done = subprocess.run(kb_command(*folders, "serve", "--port", str(port)), capture_output=True, text=True,
                              timeout=60)
    assert done.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr and "--port" in done.stderr
    assert "Traceback" not in done.stderr


def test_missing_content_folder_is_a_one_line_error(tmp_path: Path) -> None:
    done = subprocess.run(kb_command(tmp_path / "missing", tmp_path / "index", "serve", "--port", "0"),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "does not exist" in done.stderr and "Traceback" not in done.stderr


# -- concurrency and freshness -------------------------------------------------------------------------------

@pytest.mark.slow
def test_concurrent_requests_across_a_reindex(tmp_path: Path) -> None:
    """Many clients at once while a full reindex publishes a new generation: no errors, new text is served."""
    content = write_pages(tmp_path / "content")
    index = tmp_path / "index"
    srv = start_server(content, index)
    errors: list[str] = []
    stop = threading.Event()

    def client() -> None:
        while not stop.is_set():
            status, _h, body = get(srv.url(q("webhook")))
            if status != 200 or not json.loads(body)["hits"]:
                errors.append(f"{status} {body[:200]!r}")

    threads = [threading.Thread(target=client) for _ in range(8)]
    try:
        for t in threads:
            t.start()
        (content / "new.md").write_text("# Quasar page\n\nQuasar webhook notes.\n", encoding="utf-8")
        for _ in range(2):
            done = subprocess.run(kb_command(content, index, "reindex", "--full"), capture_output=True, text=True,
                                  timeout=120)
            assert done.returncode == 0, done.stderr
        assert wait_until(lambda: get_json(srv.url(q("quasar")))[1]["total"] == 1, timeout=10)
    finally:
        stop.set()
        for t in threads:
            t.join()
        srv.stop()
    assert errors == []


def test_watch_reindexes_as_pages_are_saved(tmp_path: Path) -> None:
    content = write_pages(tmp_path / "content")
    srv = start_server(content, tmp_path / "index", "--watch")
    try:
        (content / "guide" / "fresh.md").write_text("# Nebula\n\nThe nebula section is brand new.\n",
                                                     encoding="utf-8")
        assert wait_until(lambda: get_json(srv.url(q("nebula")))[1]["total"] == 1, timeout=20), "".join(srv.log)
        (content / "guide" / "fresh.md").unlink()
        assert wait_until(lambda: get_json(srv.url(q("nebula")))[1]["total"] == 0, timeout=20), "".join(srv.log)
    finally:
        srv.stop()
    assert "index updated: 1 added" in "".join(srv.log)


def test_kb_search_does_not_import_the_server_or_mcp(folders: tuple[Path, Path]) -> None:
    code = ("import atexit, sys\n"
            "atexit.register(lambda: print('LOADED', sorted(m for m in ('fastapi', 'starlette', 'uvicorn', 'mcp',"
            " 'watchfiles', 'pydantic') if m in sys.modules), file=sys.stderr))\n"
            "from kb.cli import main\n"
            f"sys.argv = ['kb', '--content', {str(folders[0])!r}, '--index', {str(folders[1])!r}, 'search', 'sms']\n"
            "main()\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "LOADED []" in done.stderr


def test_an_unexpected_failure_is_a_json_500_without_a_traceback(folders: tuple[Path, Path]) -> None:
    """Driven in-process through the ASGI interface, with a knowledge base that breaks in an unplanned way."""
    import anyio

    from kb.api import KnowledgeBase
    from kb.server import create_app

    class Broken(KnowledgeBase):
        def search(self, query: str, **_options: object):  # type: ignore[override]
            raise RuntimeError("secret internal detail /etc/kb")

    app = create_app(Broken(*folders))
    sent: list[dict[str, object]] = []

    async def call() -> None:
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
                 "scheme": "http", "path": "/api/search", "raw_path": b"/api/search", "query_string": b"q=sms",
                 "root_path": "", "headers": [(b"host", b"127.0.0.1")], "client": ("127.0.0.1", 1),
                 "server": ("127.0.0.1", 80)}

        async def receive() -> dict[str, object]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, object]) -> None:
            sent.append(message)

        try:
            await app(scope, receive, send)
        except RuntimeError:
            pass  # Starlette re-raises after answering, for the server's log

    anyio.run(call)
    assert sent[0]["status"] == 500
    body = b"".join(m.get("body", b"") for m in sent[1:])  # type: ignore[misc]
    assert json.loads(body) == {"error": "internal error; the server log has the details", "status": 500}


def test_search_passages_and_mode_parameters(server: Server) -> None:
    status, per_passage = get_json(server.url(q("webhook", passages="true")))
    assert status == 200 and all(not h["passages"] for h in per_passage["hits"])
    status, lexical = get_json(server.url(q("webhook", mode="lexical")))
    assert status == 200 and lexical["mode"] == "lexical"
    status, body = get_json(server.url(q("webhook", mode="semantic")))  # the test server runs with KB_MODEL=none
    assert status == 422 and "model" in body["error"]
