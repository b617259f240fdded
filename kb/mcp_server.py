"""`kb mcp`: an MCP server on stdin/stdout for AI assistants, with the tools `search` and `read_section`.

Built on the official MCP Python SDK (`MCPServer` in mcp 2.x, `FastMCP` in 1.x: same decorator API). Tools are
plain functions over one KnowledgeBase; a kb error (unknown page, empty query) becomes a tool error whose text is
kb's one-line message, which tells the assistant what to do instead. Stdout carries only the protocol: kb's
notes go to stderr.
"""

from __future__ import annotations

import io
import json
import re
import sys
from typing import Annotated, Any

from pydantic import BaseModel, Field

from .api import KnowledgeBase
from .errors import ContentError, IndexLocked, IndexUnusable, KbError, ResourceExhausted
from .limits import MAX_LIMIT_MCP, MAX_QUERY_CHARS

MAX_LIMIT = MAX_LIMIT_MCP
MAX_PAGE_CHARS = 1000
MAX_ANCHOR_CHARS = 500

INSTRUCTIONS = (
    "Search and read a documentation knowledge base. Call `search` with a few keywords to find the sections "
    "that answer a question, then `read_section` with a hit's `page` and `anchor` to read the whole section "
    "before answering. Cite sections as path#anchor."
)

SEARCH_DESCRIPTION = (
    "Full-text search over the knowledge base's documentation, section by section. Use it first, whenever a "
    "question may be answered by the docs: pass a few distinctive keywords (not a whole sentence). Supports "
    '"quoted phrases", OR, -word to exclude, word* prefixes, and tag:/page:/title:/path:/source: filters. '
    "Returns ranked hits, each with its breadcrumb (page title > headings), file path, anchor, a short snippet "
    "and, when known, the `url` of the section on the published site (link the user to it). Snippets are "
    "fragments: call read_section on the best hits before relying on them."
)

READ_DESCRIPTION = (
    "Read one section of a page in full: the text under one heading (down to the next heading), plus its code "
    "blocks. Use it after `search`, passing a hit's `page` and `anchor` (an empty anchor is the text before the "
    "page's first heading). Returns the breadcrumb, the address path#anchor and the section's text."
)


class SearchHit(BaseModel):
    rank: int
    breadcrumb: list[str]
    page: str = Field(description="Page id: pass it to read_section.")
    path: str = Field(description="Source file of the page, relative to the content folder.")
    anchor: str = Field(description="Section anchor: pass it to read_section.")
    line: int
    snippet: str
    score: float
    source: str = Field(default="", description="The source (content folder) the page is in.")
    url: str | None = Field(default=None, description="The section on the published site, when known: "
                                                      "link the reader to it.")
    more: list[str] = Field(default_factory=list,
                            description="Other matching passages of the same section, as 'line N: snippet'.")


class SearchResults(BaseModel):
    query: str
    total: int = Field(description="How many sections matched in all; past a few hundred, how many passages "
                                   "matched (an upper bound).")
    suggestion: str | None = Field(description="A corrected query when words looked misspelt.")
    hits: list[SearchHit]
    ignored: list[str] = Field(default_factory=list, description="Parts of the query that were not searched, "
                                                                 "and why (too many words, too short a prefix).")


# How to fix a library error (KbError.fix), in the assistant's terms.
FIXES = {"search": "call search to find pages by words", "show": "pass an anchor from a search hit"}


def _message(exc: KbError) -> str:
    return str(exc) + (f"; {FIXES[exc.fix]}" if exc.fix in FIXES else "")


def _sdk() -> tuple[Any, type[Exception]]:
    """The server class and the exception whose message the SDK passes on to the assistant as a tool error."""
    try:
        from mcp.server.mcpserver import MCPServer
        from mcp.server.mcpserver.exceptions import ToolError

        return MCPServer, ToolError
    except ImportError:  # mcp 1.x
        from mcp.server.fastmcp import FastMCP  # type: ignore[attr-defined,unused-ignore]
        from mcp.server.fastmcp.exceptions import ToolError as V1ToolError

        return FastMCP, V1ToolError


def build(kb: KnowledgeBase) -> Any:
    server_class, ToolFailure = _sdk()
    server = server_class("kb", instructions=INSTRUCTIONS)

    @server.tool(name="search", description=SEARCH_DESCRIPTION)
    def search(
        query: Annotated[str, Field(min_length=1, max_length=MAX_QUERY_CHARS,
                                    description="Keywords to look for, e.g. 'webhook retry policy'.")],
        limit: Annotated[int, Field(ge=1, le=MAX_LIMIT, description="How many hits to return.")] = 8,
    ) -> SearchResults:
        try:
            _refresh(kb)
            result = kb.search(_utf8(query), limit=limit)
        except KbError as exc:
            raise ToolFailure(_message(exc)) from None
        hits = [SearchHit(rank=h.rank, breadcrumb=list(h.breadcrumb), page=h.page, path=h.path, anchor=h.anchor,
                          line=h.line, snippet=h.snippet, score=h.score, source=h.source, url=h.url,
                          more=[f"line {p.line}: {p.snippet}" for p in h.passages])
                for h in result.hits]
        return SearchResults(query=result.query, total=result.total, suggestion=result.suggestion, hits=hits,
                             ignored=list(result.ignored))

    @server.tool(name="read_section", description=READ_DESCRIPTION)
    def read_section(
        page: Annotated[str, Field(min_length=1, max_length=MAX_PAGE_CHARS,
                                   description="The page id (or path) from a search hit.")],
        anchor: Annotated[str, Field(max_length=MAX_ANCHOR_CHARS,
                                     description="The section anchor from a search hit; '' (the default) for the "
                                                 "page's first section.")]
        = "",
    ) -> str:
        try:
            s = kb.section(_utf8(page), _utf8(anchor))
        except KbError as exc:
            raise ToolFailure(_message(exc)) from None
        address = s.path + (f"#{s.anchor}" if s.anchor else "")
        parts = [" > ".join(s.breadcrumb), f"({address}, line {s.line})", *([s.url] if s.url else []), "", s.text]
        if s.code:
            parts += ["", s.code]
        return "\n".join(parts).rstrip() + "\n"

    return server


def _utf8(text: str) -> str:
    """Text that can be sent back as UTF-8 (a lone surrogate that slipped through becomes U+FFFD)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    return text


def _refresh(kb: KnowledgeBase) -> None:
    """Pick up pages edited during a long assistant session with `kb.refresh()`, as every interface does.

    The refresh itself answers from an intact index when it cannot update it (another writer, a read-only or full
    disk); what is left is having no index at all, which the search then reports itself, and the content folder
    being gone for a moment (a deploy by rename, `rsync --delete`): the index as it is answers meanwhile.
    """
    try:
        kb.refresh()
    except (IndexLocked, IndexUnusable, ResourceExhausted, ContentError):
        pass


# A JSON string escape of a UTF-16 surrogate that is not part of a pair. Decoded, it is a Python string that
# cannot be encoded as UTF-8, so the SDK could never send the response: the client would wait forever.
_LONE_SURROGATE = re.compile(r"(?<!\\)((?:\\\\)*)\\u(?:([dD][89abAB][0-9a-fA-F]{2})(?!\\u[dD][c-fC-F][0-9a-fA-F]{2})"
                             r"|(?<![dD][89abAB][0-9a-fA-F]{2}\\u)([dD][c-fC-F][0-9a-fA-F]{2}))")


def clean_line(line: str) -> str:
    """A request line with each lone-surrogate escape replaced by U+FFFD, so that every request gets an answer."""
    if "\\u" not in line:
        return line
    return _LONE_SURROGATE.sub(lambda m: m.group(1) + "\\ufffd", line)


_ID = re.compile(r'"id"\s*:\s*(-?\d{1,18}(?![\d.eE])|"(?:[^"\\]|\\.){0,200}")')


def readable_line(line: str) -> str:
    """The line, or, when it is a request Python's JSON parser cannot read (a number of more than 4,300 digits,
    nesting deeper than its stack) but its id can be found, a request for no method under that id: the SDK drops
    an unreadable line without a word, and its client waited for the answer forever; now it gets "Method not
    found", with why in the error's data."""
    if "\"id\"" not in line:
        return line
    try:
        json.loads(line)
        return line
    except RecursionError:
        why = "it is nested too deeply"
    except ValueError as exc:
        why = "a number in it is too long" if "digits" in str(exc) else "it is not valid JSON"
    m = _ID.search(line)
    if m is None:
        return line
    return json.dumps({"jsonrpc": "2.0", "id": json.loads(m.group(1)), "params": {},
                       "method": f"kb: the request could not be read ({why})"}) + "\n"


class _CleanStdin(io.TextIOWrapper):
    def readline(self, size: int = -1) -> str:  # type: ignore[override]
        return readable_line(clean_line(super().readline(size)))


def run(kb: KnowledgeBase) -> None:
    import anyio

    anyio.run(_serve_stdio, build(kb))


async def _serve_stdio(server: Any) -> None:
    import anyio
    from mcp.server.stdio import stdio_server

    lowlevel = getattr(server, "_lowlevel_server", None) or server._mcp_server  # SDK 2.x or 1.x
    stdin = anyio.wrap_file(_CleanStdin(sys.stdin.buffer, encoding="utf-8", errors="replace"))
    async with stdio_server(stdin=stdin) as (read_stream, write_stream):
        await lowlevel.run(read_stream, write_stream, lowlevel.create_initialization_options())
