"""`kb mcp` as a subprocess, driven by the MCP SDK's own stdio client: list tools, search, read a section."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("mcp", reason="kb mcp needs the mcp extra: pip install 'kb-docs-search[mcp]'")

import anyio  # noqa: E402
from mcp import ClientSession, StdioServerParameters  # noqa: E402
from mcp.client.stdio import stdio_client  # noqa: E402

from tests.serve_support import write_pages  # noqa: E402


def _text(result: Any) -> str:
    return "".join(getattr(block, "text", "") for block in result.content)


def _is_error(result: Any) -> bool:
    return bool(getattr(result, "is_error", None) or getattr(result, "isError", None))


async def _session_run(content: Path, index: Path) -> dict[str, Any]:
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "kb", "--content", str(content), "--index", str(index), "mcp"],
        env={**os.environ, "NO_COLOR": "1"},
    )
    out: dict[str, Any] = {}
    with open(index.parent / "mcp-stderr.log", "w") as errlog:
        async with stdio_client(params, errlog=errlog) as streams:
            read, write = streams[0], streams[1]
            async with ClientSession(read, write) as session:
                await session.initialize()
                out["tools"] = (await session.list_tools()).tools
                out["search"] = await session.call_tool("search", {"query": "webhook signature", "limit": 3})
                out["read"] = await session.call_tool("read_section", {"page": "getting-started",
                                                                       "anchor": "configure-webhooks"})
                out["intro"] = await session.call_tool("read_section", {"page": "guide/xss.md", "anchor": ""})
                out["missing"] = await session.call_tool("read_section", {"page": "nope", "anchor": "x"})
                out["bad_limit"] = await session.call_tool("search", {"query": "sms", "limit": 0})
                out["none"] = await session.call_tool("search", {"query": "xylophonequartz"})
                (content / "added-later.md").write_text("# Pulsar\n\nA page saved during the session.\n",
                                                        encoding="utf-8")
                out["later"] = await session.call_tool("search", {"query": "pulsar"})
    return out


@pytest.fixture(scope="module")
def answers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("kbmcp")
    content = write_pages(root / "content")
    return anyio.run(_session_run, content, root / "index")


def test_lists_both_tools_with_guidance(answers: dict[str, Any]) -> None:
    tools = {t.name: t for t in answers["tools"]}
    assert set(tools) == {"search", "read_section"}
    assert "keywords" in tools["search"].description and "read_section" in tools["search"].description
    assert "after `search`" in tools["read_section"].description
    schema = tools["search"].inputSchema if hasattr(tools["search"], "inputSchema") else tools["search"].input_schema
    assert schema["required"] == ["query"]
    assert schema["properties"]["limit"]["maximum"] == 50


def test_search_returns_hits_with_address_and_snippet(answers: dict[str, Any]) -> None:
    result = answers["search"]
    assert not _is_error(result)
    data = json.loads(_text(result))
    top = data["hits"][0]
    assert (top["page"], top["path"], top["anchor"]) == ("getting-started", "getting-started.md",
                                                         "configure-webhooks")
    assert top["breadcrumb"] == ["Getting started", "Configure webhooks"]
    assert "signature" in top["snippet"]
    assert len(data["hits"]) <= 3


def test_read_section_returns_the_whole_section(answers: dict[str, Any]) -> None:
    result = answers["read"]
    assert not _is_error(result)
    text = _text(result)
    assert text.startswith("Getting started > Configure webhooks\n(getting-started.md#configure-webhooks, line ")
    assert "retried with exponential backoff" in text and "Verify each webhook signature" in text
    assert "Install the client" not in text  # only this section
    intro = _text(answers["intro"])
    assert "Text before any heading about escaping." in intro and "Dangerous markup" not in intro


def test_errors_come_back_as_tool_errors_with_kbs_message(answers: dict[str, Any]) -> None:
    assert _is_error(answers["missing"])
    assert "no page 'nope' in the index" in _text(answers["missing"])
    assert _is_error(answers["bad_limit"])
    assert "limit" in _text(answers["bad_limit"])
    none = answers["none"]
    assert not _is_error(none) and json.loads(_text(none))["hits"] == []


def test_pages_saved_during_the_session_are_found(answers: dict[str, Any]) -> None:
    hits = json.loads(_text(answers["later"]))["hits"]
    assert [h["path"] for h in hits] == ["added-later.md"]
