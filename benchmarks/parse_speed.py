"""Parsing speed alone: read and parse every page of a folder the way a reindex does (no analysis, no index), best
of N passes, in CPU seconds so that a loaded machine changes the figure less than wall time would.

    python benchmarks/parse_speed.py DIR [--repeats 2] [--kb-path CHECKOUT]

`--kb-path` parses with another checkout's kb (for example the main branch) to compare two parsers on one site;
a site to parse comes from `python benchmarks/gensite.py OUT --pages 1000`.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--kb-path", type=Path, help="import kb from this checkout instead")
    args = parser.parse_args(argv)
    if args.kb_path:
        sys.path.insert(0, str(args.kb_path.resolve()))
    from kb.parse import parse_bytes
    from kb.sections import build_page

    files = sorted(p for p in args.folder.rglob("*") if p.suffix.lower() in (".md", ".mdx", ".markdown"))
    data = [(f.read_bytes(), f.relative_to(args.folder).as_posix()) for f in files]
    best = float("inf")
    sections = 0
    for _ in range(max(args.repeats, 1)):
        start = time.process_time()
        sections = sum(len(build_page(parse_bytes(raw, rel)).sections) for raw, rel in data)
        best = min(best, time.process_time() - start)
    import kb.sections

    print(f"{len(data)} pages, {sections} sections: {best:.2f} CPU-s, {best / max(len(data), 1) * 1000:.2f} ms/page, "
          f"{sections / best:.0f} sections/CPU-s (kb from {Path(kb.sections.__file__).parent.parent})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
