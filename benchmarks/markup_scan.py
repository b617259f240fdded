"""Markup scan: parse every page of each real corpus the way `kb reindex` would and count the sections whose text,
heading or breadcrumb still shows syntax a reader never sees (the same patterns as `kb check`).

    python -m benchmarks.markup_scan                      # every corpus under ../shared/corpus
    python -m benchmarks.markup_scan DIR [DIR ...]        # given content folders
    python -m benchmarks.markup_scan --write docs/dialects.md

Each corpus is read in its detected dialect and, for comparison, as Docusaurus (kb's only reading before dialects):
the second figure is what a user of that site got before. Prints a Markdown table; `--write` replaces the
`<!-- scan:start -->`...`<!-- scan:end -->` block of a Markdown file.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

from kb.check import markup_sections, page_leftovers
from kb.dialects import detect_dialect
from kb.discover import discover
from kb.index import process_file
from kb.manifest import Settings
from kb.model import Page

ROOT = Path(__file__).resolve().parent.parent
CORPORA = ROOT.parent / "shared" / "corpus"


def read_corpus(root: Path, dialect: str) -> tuple[list[tuple[Page, str]], int, float]:
    """(page, source) pairs, skipped file count, and CPU seconds spent parsing."""
    settings = Settings(dialect=dialect)
    pages: list[tuple[Page, str]] = []
    skipped = 0
    spent = 0.0
    for f in discover(root).files:
        start = time.process_time()
        proc = process_file(f, settings)
        spent += time.process_time() - start
        if proc.page is None:
            skipped += 1
            continue
        source = Path(f.path).read_bytes().decode("utf-8-sig", errors="replace").replace("\r\n", "\n")
        pages.append((proc.page, source))
    return pages, skipped, spent


def scan(root: Path) -> dict[str, object]:
    dialect = detect_dialect(root)
    pages, skipped, spent = read_corpus(root, dialect)
    flagged, total = markup_sections(pages)
    leftovers = sum(len(page_leftovers(p, s)) for p, s in pages)
    row: dict[str, object] = {"corpus": root.name, "dialect": dialect, "pages": len(pages), "skipped": skipped,
                              "sections": total, "flagged": flagged, "leftovers": leftovers,
                              "pages_per_cpu_s": len(pages) / spent if spent else 0.0}
    if dialect != "docusaurus":
        before, _, _ = read_corpus(root, "docusaurus")
        row["flagged_as_docusaurus"], row["sections_as_docusaurus"] = markup_sections(before)
    return row


def table(rows: list[dict[str, object]]) -> str:
    out = ["| corpus | dialect (detected) | pages (skipped) | sections | sections with markup | leftovers "
           "(`kb check`) | read as Docusaurus | pages per CPU-second |",
           "|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        pct = 100 * int(r["flagged"]) / max(int(r["sections"]), 1)  # type: ignore[call-overload]
        if "flagged_as_docusaurus" in r:
            old, of = int(r["flagged_as_docusaurus"]), int(r["sections_as_docusaurus"])  # type: ignore[call-overload]
            before = f"{old} of {of} ({100 * old / max(of, 1):.1f}%)"
        else:
            before = "(same)"
        out.append(f"| {r['corpus']} | {r['dialect']} | {r['pages']} ({r['skipped']}) | {r['sections']} | "
                   f"{r['flagged']} ({pct:.2f}%) | {r['leftovers']} | {before} | {float(r['pages_per_cpu_s']):.0f} |")  # type: ignore[arg-type]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="*", type=Path)
    parser.add_argument("--write", type=Path, help="Markdown file whose scan block is replaced with the table")
    args = parser.parse_args(argv)
    folders = args.folders or sorted(p for p in CORPORA.iterdir() if p.is_dir())
    rows = []
    for folder in folders:
        rows.append(scan(folder))
        print(f"scanned {folder.name}", file=sys.stderr)
    text = table(rows)
    print(text)
    if args.write:
        doc = args.write.read_text(encoding="utf-8")
        block = f"<!-- scan:start -->\n{text}\n<!-- scan:end -->"
        new, n = re.subn(r"<!-- scan:start -->.*?<!-- scan:end -->", lambda _m: block, doc, flags=re.S)
        if n == 0:
            print(f"{args.write} has no <!-- scan:start --> block", file=sys.stderr)
            return 1
        args.write.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
