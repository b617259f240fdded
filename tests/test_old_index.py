"""An index written by an earlier kb version still answers (or is rebuilt with the version note), never "damaged".

Whoosh pickles the schema's field classes and the codec into the table of contents by import path, so moving or
renaming those classes would turn every existing index into an unreadable one.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from kb import KnowledgeBase

FIXTURE = Path(__file__).parent / "fixtures" / "index-1.0.0"


def copy(tmp_path: Path) -> tuple[Path, Path]:
    shutil.copytree(FIXTURE / "content", tmp_path / "content")
    shutil.copytree(FIXTURE / "index", tmp_path / "index")
    return tmp_path / "content", tmp_path / "index"


def test_an_index_built_by_kb_1_0_0_answers_without_being_called_damaged(tmp_path: Path) -> None:
    content, index = copy(tmp_path)
    notes: list[str] = []
    with KnowledgeBase(content, index, on_note=notes.append) as kb:
        hits = kb.search("subscriber").hits
        assert [h.path for h in hits][:1] == ["gateway.md"]
        assert kb.search("token").hits[0].path == "tokens.md"
    assert not [n for n in notes if "damaged" in n], notes
    assert all("another kb version" in n for n in notes), notes


def test_an_index_built_by_kb_1_0_0_can_be_updated(tmp_path: Path) -> None:
    content, index = copy(tmp_path)
    (content / "tokens.md").write_text("# Tokens\n\nA session needs a bearer credential.\n", encoding="utf-8")
    notes: list[str] = []
    with KnowledgeBase(content, index, on_note=notes.append) as kb:
        kb.reindex()
        assert kb.search("bearer").hits[0].path == "tokens.md"
        assert kb.search("subscriber").hits[0].path == "gateway.md"
    assert not [n for n in notes if "damaged" in n], notes
