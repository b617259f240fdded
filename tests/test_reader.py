"""The reader's page document (/api/documents): structured blocks with kb's anchors, and safe links."""

from __future__ import annotations

import json
import os
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


def _texts(doc: dict[str, Any]) -> str:
    return " ".join(s["v"] for s in walk(doc["blocks"], "text"))


def test_a_page_whose_file_became_a_link_out_a_fifo_or_binary_is_shown_from_the_index(tmp_path: Path) -> None:
    """The document reads the file the index names, but only as discovery would index it: a link swapped in that
    points out of the content folder would have served any file the server can read; a FIFO hung a worker thread
    forever (enough of them, the whole API); a binary file was a 500. Each is now the page as the index holds it."""
    kb = make(tmp_path)
    try:
        kb.reindex()
        guide = tmp_path / "content" / "guide.md"
        assert page_document(kb, "guide")["stored"] is False
        secret = tmp_path / "secret.txt"
        secret.write_text("api_key=hunter2\n")
        guide.unlink()
        guide.symlink_to(secret)
        doc = page_document(kb, "guide")
        assert doc["stored"] is True and "hunter2" not in json.dumps(doc)
        assert [b["anchor"] for b in doc["blocks"] if b["t"] == "h"] == [s["anchor"] for s in doc["sections"]]
        assert "quokka" in _texts(doc).lower()  # the stored text of the page's sections
        guide.unlink()
        os.mkfifo(guide)
        assert page_document(kb, "guide")["stored"] is True  # returns: the FIFO is not waited on
        guide.unlink()
        guide.write_bytes(b"\x00\x01binary")
        assert page_document(kb, "guide")["stored"] is True
    finally:
        kb.close()


def test_a_read_only_replica_shows_pages_from_its_index(tmp_path: Path) -> None:
    """A replica serves an imported index; a file it finds at the page's path is not the one indexed."""
    from kb.serving import read_only

    kb = make(tmp_path)
    try:
        kb.reindex()
        (tmp_path / "content" / "guide.md").write_text("# Unrelated\n\nSomething else entirely.\n")
        replica = read_only(kb)
        doc = page_document(replica, "guide")
        assert doc["stored"] is True and "Something else" not in _texts(doc)
        replica.close()
    finally:
        kb.close()
