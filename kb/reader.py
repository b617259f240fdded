"""A page as structured blocks for the search page's reader: headings (with kb's anchors), paragraphs, lists,
code, tables, quotes and links, as JSON data, never as HTML.

The reader builds its DOM from this with createElement/textContent only, so no markup from a page can run in the
browser, and the search page's strict Content-Security-Policy holds. Links to other pages of the knowledge base
point at their published URL when it is known, else at kb's own reader; other relative links are dropped.
"""

from __future__ import annotations

import os
import posixpath
import re
from dataclasses import asdict
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

from .discover import inside, read_regular
from .errors import NotFound
from .sources import source_of

if TYPE_CHECKING:
    from .api import KnowledgeBase
    from .records import PageText

Span = dict[str, Any]
Block = dict[str, Any]
MAX_BLOCKS = 5000


def page_document(kb: KnowledgeBase, page: str) -> dict[str, Any]:
    """The page's metadata, its sections (as stored in the index) and its body as blocks: from its file when that
    can be read as the index read it (`_page_file`), else from the index's stored text (headings, paragraphs and
    code, without lists, tables or links), with `stored` true. A replica (`kb serve --read-only`) always uses the
    stored text: whatever file it might find is not the one its imported index was built from."""
    from .markup import ADMONITION_CLOSE, ADMONITION_END, ADMONITION_START, clean_source
    from .parse import Skip, parse_bytes

    text = kb.page(page)
    data = _page_file(kb, text.path) if kb.reads_pages else None
    try:
        raw = parse_bytes(data, text.path) if data is not None else None
    except Skip:  # the file turned binary since it was indexed
        raw = None
    if raw is None:
        return {**asdict(text), "stored": True, "blocks": _stored_blocks(text)[:MAX_BLOCKS]}
    body = clean_source(raw.body)
    body = re.sub(re.escape(ADMONITION_START) + "(.*?)" + re.escape(ADMONITION_CLOSE), r"**\1**", body)
    body = body.replace(ADMONITION_END, "")
    anchors = {s.line: s.anchor for s in text.sections}
    tokens = _markdown(text.path.lower().endswith(".mdx")).parse(body)
    converter = _Converter(kb, text.path, text.url, anchors, raw.body_line)
    blocks = converter.blocks(tokens)
    out = asdict(text)
    out["stored"] = False
    out["blocks"] = blocks[:MAX_BLOCKS]
    return out


def _page_file(kb: KnowledgeBase, path: str) -> bytes | None:
    """The page's file under the rules discovery indexes by, or None: inside its source folder once links are
    followed (a link swapped in to point elsewhere reads nothing), a regular file (never a FIFO waited on) and
    within the size limit."""
    try:
        source, local = source_of(kb.sources, path)
        real = os.path.realpath(source.path / local)
        if not inside(real, os.path.realpath(source.path)):
            return None
    except (OSError, NotFound):  # NotFound: the page belongs to no configured source
        return None
    data = read_regular(real, kb.settings.max_file_bytes + 1)
    return data if data is not None and len(data) <= kb.settings.max_file_bytes else None


def _stored_blocks(text: PageText) -> list[Block]:
    """The page as the index holds it: each section's heading, its paragraphs and its code."""
    blocks: list[Block] = []
    for n, s in enumerate(text.sections):
        if s.anchor or n:
            level = 1 if n == 0 and s.section == text.title else 2
            blocks.append({"t": "h", "level": level, "anchor": s.anchor, "c": [{"t": "text", "v": s.section}]})
        blocks += [{"t": "p", "c": [{"t": "text", "v": p.strip()}]} for p in s.text.split("\n\n") if p.strip()]
        if s.code:
            blocks.append({"t": "code", "lang": "", "v": s.code})
    return blocks


def _markdown(mdx: bool) -> Any:
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
    if mdx:
        md.disable("code")
    return md


class _Converter:
    def __init__(self, kb: KnowledgeBase, path: str, page_url: str | None, anchors: dict[int, str],
                 body_line: int) -> None:
        self.kb = kb
        self.path = path
        self.page_url = page_url
        self.anchors = anchors
        self.body_line = body_line

    def blocks(self, tokens: list[Any]) -> list[Block]:
        out: list[Block] = []
        i = 0
        while i < len(tokens):
            tok = tokens[i]
            kind = tok.type
            if kind == "heading_open":
                line = self.body_line + tok.map[0] if tok.map else 0
                out.append({"t": "h", "level": int(tok.tag[1]), "anchor": self.anchors.get(line, ""),
                            "c": self.inline(tokens[i + 1])})
                i += 3
                continue
            if kind == "paragraph_open":
                spans = self.inline(tokens[i + 1])
                if spans:
                    out.append({"t": "p", "c": spans})
                i += 3
                continue
            if kind in ("fence", "code_block"):
                out.append({"t": "code", "lang": (tok.info or "").split(" ")[0][:40], "v": tok.content.rstrip("\n")})
            elif kind == "hr":
                out.append({"t": "hr"})
            elif kind == "html_block":
                text = _html_text(tok.content)
                if text:
                    out.append({"t": "p", "c": [{"t": "text", "v": text}]})
            elif kind in ("bullet_list_open", "ordered_list_open", "blockquote_open", "table_open"):
                end = _closing(tokens, i)
                inner = tokens[i + 1: end]
                if kind == "blockquote_open":
                    out.append({"t": "quote", "c": self.blocks(inner)})
                elif kind == "table_open":
                    out.append(self.table(inner))
                else:
                    out.append({"t": "ol" if kind == "ordered_list_open" else "ul",
                                "start": int(tok.attrGet("start") or 1), "items": self.items(inner)})
                i = end + 1
                continue
            i += 1
        return out

    def items(self, tokens: list[Any]) -> list[list[Block]]:
        items: list[list[Block]] = []
        i = 0
        while i < len(tokens):
            if tokens[i].type == "list_item_open":
                end = _closing(tokens, i)
                items.append(self.blocks(tokens[i + 1: end]))
                i = end + 1
            else:
                i += 1
        return items

    def table(self, tokens: list[Any]) -> Block:
        head: list[list[Span]] = []
        rows: list[list[list[Span]]] = []
        row: list[list[Span]] | None = None
        in_head = False
        for tok in tokens:
            if tok.type == "thead_open":
                in_head = True
            elif tok.type == "thead_close":
                in_head = False
            elif tok.type == "tr_open":
                row = []
            elif tok.type == "tr_close" and row is not None:
                if in_head:
                    head = row
                else:
                    rows.append(row)
                row = None
            elif tok.type == "inline" and row is not None:
                row.append(self.inline(tok))
        return {"t": "table", "head": head, "rows": rows}

    def inline(self, tok: Any) -> list[Span]:
        children = tok.children or []
        root: list[Span] = []
        stack: list[list[Span]] = [root]
        for child in children:
            kind = child.type
            if kind == "text":
                _text(stack[-1], child.content)
            elif kind in ("softbreak", "hardbreak"):
                _text(stack[-1], " " if kind == "softbreak" else "\n")
            elif kind == "code_inline":
                stack[-1].append({"t": "code", "v": child.content})
            elif kind in ("em_open", "strong_open", "s_open"):
                span: Span = {"t": kind[:-5], "c": []}
                stack[-1].append(span)
                stack.append(span["c"])
            elif kind == "link_open":
                span = {"t": "link", "href": self.href(str(child.attrGet("href") or "")), "c": []}
                stack[-1].append(span)
                stack.append(span["c"])
            elif kind in ("em_close", "strong_close", "s_close", "link_close"):
                if len(stack) > 1:
                    stack.pop()
            elif kind == "image":
                alt = child.content or ""
                if alt:
                    _text(stack[-1], alt)
            elif kind == "html_inline":
                continue
        return root

    def href(self, href: str) -> str:
        """Where a link in the page leads: web URLs as they are, other pages of the knowledge base to their
        published URL (or kb's reader), anything else nowhere ("")."""
        href = href.strip()
        parts = urlsplit(href)
        if parts.scheme in ("http", "https"):
            return href
        if parts.scheme or href.startswith("//") or not href:
            return ""  # mailto:, javascript:, data:, protocol-relative...
        if href.startswith("#"):
            return href
        target = posixpath.normpath(posixpath.join(posixpath.dirname(self.path), parts.path)) \
            if not parts.path.startswith("/") else ""
        if target and not target.startswith(".."):
            found = self._page_at(target)
            if found is not None:
                page, url = found
                if url:
                    return url + (f"#{parts.fragment}" if parts.fragment else "")
                return f"/?page={_q(page)}&anchor={_q(parts.fragment)}"
        if self.page_url:
            return urljoin(self.page_url, href)
        return ""

    def _page_at(self, target: str) -> tuple[str, str | None] | None:
        candidates = [target] + [target + ext for ext in (".md", ".mdx", ".markdown")] + \
            [target.rstrip("/") + "/index.md", target.rstrip("/") + "/README.md"]
        for candidate in candidates:
            docs = self.kb._stored(path=candidate)
            if docs:
                doc = docs[0]
                return str(doc["page"]), self.kb.url_of(str(doc.get("source", "")), doc.get("route"))
        return None


def _q(value: str) -> str:
    from urllib.parse import quote

    return quote(value, safe="")


def _text(spans: list[Span], value: str) -> None:
    if spans and spans[-1]["t"] == "text":
        spans[-1]["v"] += value
    elif value:
        spans.append({"t": "text", "v": value})


def _closing(tokens: list[Any], i: int) -> int:
    """Index of the token that closes tokens[i] (same nesting level)."""
    want = tokens[i].type.replace("_open", "_close")
    depth = 0
    for j in range(i, len(tokens)):
        if tokens[j].type == tokens[i].type:
            depth += 1
        elif tokens[j].type == want:
            depth -= 1
            if depth == 0:
                return j
    return len(tokens) - 1


def _html_text(html: str) -> str:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    for tag in soup(["script", "style"]):
        tag.decompose()
    return " ".join(soup.get_text(" ").split())
