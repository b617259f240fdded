"""Shared fixtures: knowledge bases built in tmp_path from small pages written by the tests themselves."""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from kb import KnowledgeBase

ROOT = Path(__file__).resolve().parent.parent

# Lexical unless a test asks for a model: embedding every page of every test's content would slow the suite for
# nothing. Run a file with KB_MODEL=all-MiniLM-L6-v2 to see it in hybrid mode (.ci/run does, for the ranking tests).
os.environ.setdefault("KB_MODEL", "none")
SEED = ROOT / "content" / "introduction.md"

# Tests press Ctrl-C on the kb processes they start, as a user at a terminal would. A shell that starts pytest in the
# background (.ci/run runs two Pythons side by side) has it ignore SIGINT, and a started process would inherit that
# and never see the Ctrl-C; a Python handler here is reset to the default in every process the tests start.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def write_pages(root: Path, pages: dict[str, str]) -> Path:
    for rel, text in pages.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def private_tempdir(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """Whoosh's in-memory indexes (RamStorage) spill their writer's pool into gettempdir()/MAIN.tmp, one folder
    shared by every test run on the machine and removed by whichever finishes first: a module using them gets a
    temporary folder of its own."""
    import tempfile

    before = tempfile.tempdir
    tempfile.tempdir = str(tmp_path_factory.mktemp("whoosh-temp"))
    yield
    tempfile.tempdir = before


@pytest.fixture
def seed_kb(tmp_path: Path) -> KnowledgeBase:
    """The shipped knowledge base (content/introduction.md), indexed into a temporary folder."""
    content = tmp_path / "content"
    content.mkdir()
    shutil.copy(SEED, content / "introduction.md")
    kb = KnowledgeBase(content, tmp_path / "index")
    kb.reindex()
    yield kb
    kb.close()


@pytest.fixture
def make_kb(tmp_path: Path) -> Callable[[dict[str, str]], KnowledgeBase]:
    made: list[KnowledgeBase] = []

    def make(pages: dict[str, str]) -> KnowledgeBase:
        content = write_pages(tmp_path / "content", pages)
        kb = KnowledgeBase(content, tmp_path / "index")
        made.append(kb)
        return kb

    yield make
    for kb in made:
        kb.close()
