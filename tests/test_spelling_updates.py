"""Typo suggestions are words as written in the pages, also after incremental updates and deletes.

Whoosh's multi-segment reader draws `terms_within` from the stemmed field rather than the word list, and keeps the
words of deleted documents in its term dictionary until a merge: both showed as wrong suggestions after an update.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kb import KnowledgeBase

FILLER = " ".join(f"word{n}" for n in range(40))


def write(root: Path, name: str, text: str) -> None:
    (root / name).write_text(f"# {name[:-3].title()}\n\n{text} {FILLER}\n", encoding="utf-8")


def make(tmp_path: Path, pages: int = 12) -> tuple[Path, KnowledgeBase]:
    content = tmp_path / "content"
    content.mkdir()
    for i in range(pages):
        write(content, f"page{i}.md", f"Page {i} talks about routing and delivery.")
    write(content, "mw.md", "The middleware chain runs before every handler; middleware order matters.")
    write(content, "frob.md", "Zanzibar holds the archive.")
    kb = KnowledgeBase(content, tmp_path / "index")
    kb.reindex()
    return content, kb


def segments(kb: KnowledgeBase) -> int:
    reader = kb._checkout()
    try:
        return len(list(reader.searcher.reader().leaf_readers()))
    finally:
        reader.busy -= 1


def test_suggestion_is_the_word_as_written_after_an_incremental_update(tmp_path: Path) -> None:
    content, kb = make(tmp_path)
    with kb:
        assert kb.search("midleware").suggestion == "middleware"
        write(content, "page3.md", "Page 3 now talks about retries.")
        report = kb.reindex()
        assert not report.full and report.updated == 1
        assert segments(kb) > 1  # the case that went wrong: more than one segment
        result = kb.search("midleware")
        assert result.suggestion == "middleware"
        assert result.hits and result.hits[0].path == "mw.md"


def test_no_suggestion_from_a_deleted_page(tmp_path: Path) -> None:
    content, kb = make(tmp_path)
    with kb:
        assert kb.search("zanzibr").suggestion == "zanzibar"
        (content / "frob.md").unlink()
        write(content, "page5.md", "Page 5 was edited.")
        assert kb.reindex().removed == 1
        result = kb.search("zanzibr")
        assert result.suggestion is None and not result.hits
        write(content, "frob2.md", "Zanzibar again, on a new page.")
        kb.reindex()
        assert kb.search("zanzibr").suggestion == "zanzibar"


def test_the_typo_automaton_is_built_once_for_every_segment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each segment's word list is walked as Whoosh's own `terms_within` walks it (same words, same order), with
    the Levenshtein automaton built once per search instead of once per segment."""
    from whoosh.codec.base import Automata

    from kb.whoosh.engine import terms_within

    content, kb = make(tmp_path)
    with kb:
        write(content, "page3.md", "Page 3 now talks about middlewares and retries.")
        write(content, "page4.md", "Page 4 talks about the middle way.")
        kb.reindex()
        write(content, "page6.md", "Page 6 has a middleman.")
        kb.reindex()
        reader = kb._checkout()
        try:
            leaves = [leaf for leaf, _off in reader.searcher.reader().leaf_readers()]
            assert len(leaves) > 2
            built = []
            real = Automata.levenshtein_dfa
            monkeypatch.setattr(Automata, "levenshtein_dfa", staticmethod(
                lambda *a: built.append(a) or real(*a)))
            for word, dist in (("midleware", 1), ("midleware", 2), ("middlemn", 2), ("xyzzy", 1)):
                built.clear()
                got = terms_within(leaves, "body", word, dist, 1)
                assert len(built) == 1
                assert got == [w for leaf in leaves for w in leaf.terms_within("body", word, dist, prefix=1)]
                assert len(built) == 1 + len(leaves)
            assert "middleware" in terms_within(leaves, "body", "midleware", 1, 1)
        finally:
            reader.busy -= 1
