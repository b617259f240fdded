"""Shared by the Whoosh-layer tests: the quality fixture site indexed as two segments with deletions."""

from __future__ import annotations

import shutil
from pathlib import Path

from kb import KnowledgeBase

SITE = Path(__file__).parent / "fixtures" / "quality" / "docs"
QUERIES = ["install", "configure the server", "token refresh", '"access token"', "config*", "api -deprecated",
           "title:guide", "errors OR warnings", "webhook retries", "sesion", "search index", "tag:api"]


def two_segment_index(root: Path) -> Path:
    """Index a copy of SITE under `root`, then delete a page and edit another (adding an "access token" section):
    a second segment, and deletions in the first. Returns the index folder."""
    content = root / "content"
    shutil.copytree(SITE, content)
    with KnowledgeBase(content, root / "index") as kb:
        kb.reindex()
        pages = sorted(content.rglob("*.md"))
        assert len(pages) >= 4
        pages[0].unlink()
        pages[1].write_text(pages[1].read_text(encoding="utf-8") + "\n\n## Later\n\nAn access token section.\n",
                            encoding="utf-8")
        report = kb.reindex()
        assert not report.full and report.removed == 1
    return root / "index"
