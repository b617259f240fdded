"""`kb mcp`: an MCP server on stdin/stdout for AI assistants, with the tools `search` and `read_section`.

Built on the official MCP Python SDK (`MCPServer` in mcp 2.x, `FastMCP` in 1.x: same decorator API). Tools are
plain functions over one KnowledgeBase; a kb error (unknown page, empty query) becomes a tool error whose text is
kb's one-line message, which tells the assistant what to do instead. Stdout carries only the protocol: kb's
notes go to stderr.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field

from .api import KnowledgeBase
from .errors import IndexLocked, IndexReadOnly, KbError

MAX_QUERY_CHARS = 500
MAX_LIMIT = 50

INSTRUCTIONS = (
    "Search and read a documentation knowledge base. Call `search` with a few keywords to find the sections "
    "that answer a question, then `read_section` with a hit's `page` and `anchor` to read the whole section "
    "before answering. Cite sections as path#anchor."
)

SEARCH_DESCRIPTION = (
    "Full-text search over the knowledge base's documentation, section by section. Use it first, whenever a "
    "question may be answered by the docs: pass a few distinctive keywords (not a whole sentence). Supports "
    '"quoted phrases", OR, -word to exclude, word* prefixes, and tag:/page:/title: filters. Returns ranked hits, '
    "each with its breadcrumb (page title > headings), file path, anchor and a short snippet. Snippets are "
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
    more: list[str] = Field(default_factory=list,
                            description="Other matching passages of the same section, as 'line N: snippet'.")


class SearchResults(BaseModel):
    query: str
    total: int = Field(description="How many sections matched in all.")
    suggestion: str | None = Field(description="A corrected query when words looked misspelt.")
    hits: list[SearchHit]


def _sdk() -> tuple[Any, type[Exception]]:
    """The server class and the exception whose message the SDK passes on to the assistant as a tool error."""
    try:
        from mcp.server.mcpserver import MCPServer
        from mcp.server.mcpserver.exceptions import ToolError

        return MCPServer, ToolError
    except ImportError:  # mcp 1.x
        from mcp.server.fastmcp import FastMCP
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
            result = kb.search(query, limit=limit)
        except KbError as exc:
            raise ToolFailure(str(exc)) from None
        hits = [SearchHit(rank=h.rank, breadcrumb=list(h.breadcrumb), page=h.page, path=h.path, anchor=h.anchor,
                          line=h.line, snippet=h.snippet, score=h.score,
                          more=[f"line {p.line}: {p.snippet}" for p in h.passages]) for h in result.hits]
        return SearchResults(query=result.query, total=result.total, suggestion=result.suggestion, hits=hits)

    @server.tool(name="read_section", description=READ_DESCRIPTION)
    def read_section(
        page: Annotated[str, Field(min_length=1, description="The page id (or path) from a search hit.")],
        anchor: Annotated[str, Field(description="The section anchor from a search hit; '' for the page intro.")]
        = "",
    ) -> str:
        try:
            s = kb.section(page, anchor)
        except KbError as exc:
            raise ToolFailure(str(exc)) from None
        address = s.path + (f"#{s.anchor}" if s.anchor else "")
        parts = [" > ".join(s.breadcrumb), f"({address}, line {s.line})", "", s.text]
        if s.code:
            parts += ["", s.code]
        return "\n".join(parts).rstrip() + "\n"

    return server


def _refresh(kb: KnowledgeBase) -> None:
    """Pick up pages edited during a long assistant session, as `kb search` does (a stat check when fresh)."""
    try:
        kb.refresh()
    except (IndexLocked, IndexReadOnly):
        pass  # another reindex is writing, or the folder is read-only: answer from the index as it is


def run(kb: KnowledgeBase) -> None:
    build(kb).run("stdio")
