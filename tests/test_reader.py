"""The reader's page document (/api/documents): structured blocks with kb's anchors, and safe links."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kb import KnowledgeBase
from kb.reader import page_document
from tests.conftest import write_pages
from tests.reader_pages import PAGES


def walk(blocks: Any, kind: str) -> list[Any]:
    found = []
    if isinstance(blocks, dict):
        if blocks.get("t") == kind:
            found.append(blocks)
        for v in blocks.values():
            found += walk(v, kind)
    elif isinstance(blocks, list):
        for v in blocks:
            found += walk(v, kind)
    return found


def make(tmp_path: Path, **kw: Any) -> KnowledgeBase:
    return KnowledgeBase(write_pages(tmp_path / "content", PAGES), tmp_path / "index", **kw)


def test_blocks_carry_structure_and_the_index_anchors(tmp_path: Path) -> None:
    kb = make(tmp_path)
    try:
        doc = page_document(kb, "guide")
        kinds = [b["t"] for b in doc["blocks"]]
        assert {"h", "p", "ul", "code", "table"} <= set(kinds)
        headings = [(b["anchor"], b["level"]) for b in doc["blocks"] if b["t"] == "h"]
        assert headings == [("guide", 1), ("setup", 2), ("usage", 2), ("troubleshooting", 2)]
        assert [s["anchor"] for s in doc["sections"]] == [a for a, _ in headings]
        (table,) = walk(doc["blocks"], "table")
        assert table["head"] == [[{"t": "text", "v": "flag"}], [{"t": "text", "v": "meaning"}]]
        assert table["rows"][0][0] == [{"t": "code", "v": "--fast"}]
        assert [c["v"] for c in walk(doc["blocks"], "code") if "lang" in c] == ["quokka --init"]
        links = {"".join(s["v"] for s in link["c"] if s["t"] == "text"): link["href"]
                 for link in walk(doc["blocks"], "link")}
        assert links == {"the reference": "/?page=reference&anchor=options",  # no base URL: kb's reader
                         "an external page": "https://example.org/x"}  # markdown-it refuses javascript: links
    finally:
        kb.close()


def test_links_go_to_the_published_site_when_known(tmp_path: Path) -> None:
    kb = make(tmp_path, base_url="https://docs.example.com/")
    try:
        doc = page_document(kb, "guide")
        hrefs = [link["href"] for link in walk(doc["blocks"], "link")]
        assert hrefs == ["https://docs.example.com/reference#options", "https://example.org/x"]
        assert doc["url"] == "https://docs.example.com/guide"
    finally:
        kb.close()
