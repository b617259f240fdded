"""Published URLs through the HTTP API and the MCP server (global options given after the command, as people type)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.reader_pages import PAGES
from tests.serve_support import get_json, start_server, write_pages

SITE = "https://docs.example.com/"


def test_http_search_and_pages_carry_source_and_url(tmp_path: Path) -> None:
    pytest.importorskip("fastapi", reason="kb serve needs the server extra: pip install 'kb[server]'")
    srv = start_server(write_pages(tmp_path / "content", PAGES), tmp_path / "index", "--base-url", SITE)
    try:
        _s, data = get_json(srv.url("/api/search?q=quokka+setup&limit=3"))
        top = data["hits"][0]
        assert (top["source"], top["url"]) == ("content", SITE + "guide#setup")
        _s, section = get_json(srv.url("/api/pages/guide/sections/setup"))
        assert section["url"] == SITE + "guide#setup"
        status, doc = get_json(srv.url("/api/documents/guide"))
        assert status == 200 and doc["url"] == SITE + "guide" and doc["blocks"][0]["t"] == "h"
        status, missing = get_json(srv.url("/api/documents/nope"))
        assert status == 404 and "no page" in missing["error"]
    finally:
        srv.stop()


def test_mcp_search_hits_carry_url(tmp_path: Path) -> None:
    pytest.importorskip("mcp", reason="kb mcp needs the mcp extra: pip install 'kb[mcp]'")
    import anyio
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    content = write_pages(tmp_path / "content", PAGES)

    async def run() -> dict[str, Any]:
        params = StdioServerParameters(command=sys.executable, args=[
            "-m", "kb", "mcp", "--content", str(content), "--index", str(tmp_path / "index"), "--base-url", SITE],
            env={**os.environ, "NO_COLOR": "1"})
        with open(tmp_path / "mcp-stderr.log", "w") as errlog:
            async with stdio_client(params, errlog=errlog) as streams:
                async with ClientSession(streams[0], streams[1]) as session:
                    await session.initialize()
                    found = await session.call_tool("search", {"query": "quokka setup", "limit": 2})
                    read = await session.call_tool("read_section", {"page": "guide", "anchor": "setup"})
                    text = "".join(getattr(b, "text", "") for b in found.content)
                    return {"search": json.loads(text), "read": "".join(getattr(b, "text", "") for b in read.content)}

    out = anyio.run(run)
    top = out["search"]["hits"][0]
    assert (top["source"], top["url"]) == ("content", SITE + "guide#setup")
    assert SITE + "guide#setup" in out["read"]
