"""Golden-file helper: a fixture page in, the sections a reader would expect out.

`python -m tests.golden` (from the repository root) rewrites every tests/fixtures/pages/*.json from the current
parser. Review each diff by eye before committing: the JSON must be what a reader sees, not merely what the code does.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from kb.model import Page
from kb.parse import parse_bytes
from kb.sections import build_page

PAGES = Path(__file__).parent / "fixtures" / "pages"
DIALECT_PAGES = Path(__file__).parent / "fixtures" / "dialects"  # one folder per dialect, named after it
SUFFIXES = (".md", ".mdx", ".markdown")


def fixture_pages() -> list[Path]:
    return sorted(p for p in PAGES.iterdir() if p.suffix.lower() in SUFFIXES)


def dialect_pages() -> list[tuple[str, Path]]:
    """(dialect, page) for every page under fixtures/dialects/<dialect>/."""
    return sorted((folder.name, p) for folder in DIALECT_PAGES.iterdir() if folder.is_dir()
                  for p in folder.rglob("*") if p.suffix.lower() in SUFFIXES)


def page_rel(path: Path, dialect: str) -> str:
    """The page's path as kb sees it: relative to its dialect folder (a Hugo `_index.md` keeps its folder)."""
    return path.relative_to(DIALECT_PAGES / dialect).as_posix() if dialect != "docusaurus" else path.name


def build(path: Path, dialect: str = "docusaurus") -> Page:
    return build_page(parse_bytes(path.read_bytes(), page_rel(path, dialect)), dialect=dialect)


def page_record(path: Path, dialect: str = "docusaurus") -> dict[str, Any]:
    """The parts of a parsed page that a reader can check: metadata, sections, and each section's code."""
    page = build(path, dialect)
    code: dict[str, list[str]] = {}
    labels: dict[str, list[str]] = {}
    for p in page.passages:
        if p.code:
            code.setdefault(p.anchor, []).append(p.code)
        section_crumbs = next(s.breadcrumb for s in page.sections if s.anchor == p.anchor)
        for crumb in p.breadcrumb[len(section_crumbs):]:  # admonition titles heading a passage of a long section
            labels.setdefault(p.anchor, []).append(crumb)
    record: dict[str, Any] = {"id": page.id, "title": page.title}
    for key in ("tags", "keywords", "description", "sidebar_label", "draft"):
        value = getattr(page, key)
        if value:
            record[key] = list(value) if isinstance(value, tuple) else value
    record["sections"] = [
        {
            "heading": s.heading,
            "anchor": s.anchor,
            "level": s.level,
            "line": s.line,
            "breadcrumb": list(s.breadcrumb),
            "text": s.text,
            **({"code": "\n".join(code[s.anchor])} if s.anchor in code else {}),
            **({"passage_labels": labels[s.anchor]} if s.anchor in labels else {}),
        }
        for s in page.sections
    ]
    return record


def expected_path(page: Path) -> Path:
    return page.with_suffix(".json")


def main() -> int:
    for page in fixture_pages():
        text = json.dumps(page_record(page), ensure_ascii=False, indent=2) + "\n"
        expected_path(page).write_text(text, encoding="utf-8")
        print(f"wrote {expected_path(page).name}")
    for dialect, page in dialect_pages():
        text = json.dumps(page_record(page, dialect), ensure_ascii=False, indent=2) + "\n"
        expected_path(page).write_text(text, encoding="utf-8")
        print(f"wrote {dialect}/{expected_path(page).relative_to(DIALECT_PAGES / dialect)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
