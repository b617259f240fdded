"""Golden files: each fixture page in tests/fixtures/pages parses to exactly the sections in its JSON twin.

Regenerate with `python -m tests.golden` and review the diff by eye: the JSON states what a reader sees.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kb.check import page_leftovers
from kb.parse import parse_bytes
from kb.sections import build_page

from .golden import expected_path, fixture_pages, page_record

PAGES = fixture_pages()


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_page_matches_golden_sections(page: Path) -> None:
    expected = json.loads(expected_path(page).read_text(encoding="utf-8"))
    assert page_record(page) == expected


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_no_markup_reaches_text_or_breadcrumbs(page: Path) -> None:
    source = page.read_bytes()
    built = build_page(parse_bytes(source, page.name))
    assert page_leftovers(built, source.decode("utf-8-sig")) == []


def test_every_golden_file_has_its_page() -> None:
    stems = {p.stem for p in PAGES}
    orphans = [j.name for j in (Path(__file__).parent / "fixtures" / "pages").glob("*.json") if j.stem not in stems]
    assert orphans == []
