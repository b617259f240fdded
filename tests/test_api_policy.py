"""Policy the library owns for every interface: refresh before answering, status, limits, error wording."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from kb import KnowledgeBase
from kb.errors import FIXES, ContentError, IndexLocked, KbError
from kb.locking import WriterLock

PACKAGE = Path(__file__).resolve().parent.parent / "kb"
INTERFACES = {"cli.py", "fastcli.py", "server.py", "mcp_server.py"}
ERRORS = {name for name, obj in vars(__import__("kb.errors", fromlist=["x"])).items()
          if isinstance(obj, type) and issubclass(obj, KbError)}


def make(tmp_path: Path) -> tuple[Path, list[str], KnowledgeBase]:
    content = tmp_path / "content"
    content.mkdir()
    (content / "a.md").write_text("# Alpha\n\nThe gateway routes messages.\n", encoding="utf-8")
    notes: list[str] = []
    return content, notes, KnowledgeBase(content, tmp_path / "index", on_note=notes.append)


def test_status_before_and_after_the_index_exists(tmp_path: Path) -> None:
    _content, _notes, kb = make(tmp_path)
    with kb:
        before = kb.status()
        assert not before.ready and before.pages == 0 and before.problem and "no index" in before.problem
        kb.reindex()
        after = kb.status()
        assert after.ready and after.pages == 1 and after.sections == 1 and after.problem is None


def test_refresh_notes_what_it_did_and_nothing_when_fresh(tmp_path: Path) -> None:
    content, notes, kb = make(tmp_path)
    with kb:
        assert kb.refresh() is not None and notes == ["index built: 1 pages, 1 sections"]
        notes.clear()
        assert kb.refresh() is None and notes == []
        (content / "b.md").write_text("# Beta\n\nMore.\n", encoding="utf-8")
        assert kb.refresh() is not None and notes == ["index updated: 1 added, 0 updated, 0 removed"]


def test_refresh_while_another_writer_runs_answers_from_the_index_as_it_is(tmp_path: Path) -> None:
    content, notes, kb = make(tmp_path)
    with kb:
        kb.reindex()
        (content / "b.md").write_text("# Beta\n\nMore.\n", encoding="utf-8")
        with WriterLock(kb.index_dir):
            assert kb.refresh() is None and kb.refresh_pending
            assert len(notes) == 1 and "answering from the index as it is" in notes[0]
            assert kb.search("gateway").hits
        assert kb.refresh() is not None and not kb.refresh_pending


def test_refresh_without_any_index_while_another_writer_builds_it_raises(tmp_path: Path) -> None:
    _content, _notes, kb = make(tmp_path)
    kb.index_dir.mkdir()
    with kb, WriterLock(kb.index_dir), pytest.raises(IndexLocked, match="no index yet"):
        kb.refresh()


def test_context_manager_closes_searchers(tmp_path: Path) -> None:
    _content, _notes, kb = make(tmp_path)
    with kb as same:
        assert same is kb
        kb.search("gateway")
        readers = list(kb._readers)
        assert readers
    assert all(r.closed for r in readers)


def test_library_errors_carry_a_fix_and_name_no_interface(tmp_path: Path) -> None:
    with pytest.raises(ContentError) as info:
        KnowledgeBase(tmp_path / "missing", tmp_path / "index").search("x")
    assert info.value.fix == "content" and "--" not in str(info.value)


def _raised_messages(path: Path) -> list[str]:
    """The string parts of every kb error a module raises (page warnings, `Problem`s, are report data instead)."""
    out: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if (isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) and isinstance(node.exc.func, ast.Name)
                and node.exc.func.id in ERRORS):
            out.extend(c.value for c in ast.walk(node.exc) if isinstance(c, ast.Constant) and isinstance(c.value, str))
    return out


def test_no_library_message_names_a_cli_flag_or_command() -> None:
    offenders = [(p.name, m) for p in PACKAGE.rglob("*.py") if p.name not in INTERFACES
                 for m in _raised_messages(p) if " --" in f" {m}" or "`kb " in m]
    assert offenders == []


def test_every_fix_key_used_by_the_library_is_known() -> None:
    used = set()
    for p in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
            if isinstance(node, ast.keyword) and node.arg == "fix" and isinstance(node.value, ast.Constant):
                used.add(node.value.value)
    assert used and used <= set(FIXES)
    from kb.cli import FIXES as CLI_FIXES

    assert used <= set(CLI_FIXES) | {"max_file_size", "include_drafts"}


def test_every_exception_lives_in_kb_errors() -> None:
    for p in PACKAGE.rglob("*.py"):
        if p.name == "errors.py":
            continue
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                bases = {b.id for b in node.bases if isinstance(b, ast.Name)}
                assert not bases & ERRORS, (p.name, node.name)
    assert issubclass(__import__("kb.errors", fromlist=["ServeError"]).ServeError, KbError)
