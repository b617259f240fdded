"""MkDocs' own renderer against kb's emulation, on an MkDocs Material site (default: ../shared/corpus/fastapi-docs).

    python -m benchmarks.mkdocs_renderer [DIR]

Python-Markdown with the Material/pymdownx extensions such a site lists in `mkdocs.yml` (the corpus ships without
one, so the usual FastAPI set is used) renders each page; its toc extension assigns the ids the site has. kb's
MkDocs dialect parses the same page with markdown-it. For each page: are the heading anchors the same (in order),
how much markup survives in the text (the `kb check` patterns), and pages per CPU-second of each. Needs
`pip install markdown pymdown-extensions` (not a kb dependency).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from bs4 import BeautifulSoup

from kb.check import find_leftovers
from kb.parse import parse_bytes
from kb.sections import build_page

CORPUS = Path(__file__).resolve().parent.parent.parent / "shared" / "corpus" / "fastapi-docs"
EXTENSIONS = ["toc", "attr_list", "md_in_html", "tables", "abbr", "footnotes", "def_list", "admonition",
              "pymdownx.details", "pymdownx.superfences", "pymdownx.tabbed", "pymdownx.highlight",
              "pymdownx.inlinehilite", "pymdownx.snippets", "pymdownx.emoji", "pymdownx.tasklist", "pymdownx.mark",
              "pymdownx.keys", "pymdownx.blocks.admonition", "pymdownx.blocks.details", "pymdownx.blocks.tab"]
CONFIG = {"pymdownx.tabbed": {"alternate_style": True}, "pymdownx.snippets": {"check_paths": False},
          "pymdownx.highlight": {"use_pygments": False}}


def python_markdown(body: str) -> tuple[list[str], str]:
    """(heading ids, visible text) as MkDocs would render the page body."""
    import markdown

    md = markdown.Markdown(extensions=EXTENSIONS, extension_configs=CONFIG)
    soup = BeautifulSoup(md.convert(body), "html.parser")
    ids = [str(h.get("id", "")) for h in soup.find_all(["h1", "h2", "h3", "h4", "h5", "h6"])]
    for code in soup.find_all(["pre", "code"]):
        code.decompose()
    return ids, soup.get_text("\n")


def main(argv: list[str] | None = None) -> int:
    root = Path(argv[0] if argv else sys.argv[1] if len(sys.argv) > 1 else CORPUS)
    pages = sorted(root.rglob("*.md"))
    same = differ = 0
    left = {"python-markdown": 0, "kb": 0}
    spent = {"python-markdown": 0.0, "kb": 0.0}
    for path in pages:
        raw = parse_bytes(path.read_bytes(), path.relative_to(root).as_posix())
        start = time.process_time()
        ids, text = python_markdown(raw.body)
        spent["python-markdown"] += time.process_time() - start
        start = time.process_time()
        page = build_page(raw, dialect="mkdocs")
        spent["kb"] += time.process_time() - start
        ours = [s.anchor for s in page.sections if s.anchor]
        same, differ = (same + 1, differ) if ours == ids else (same, differ + 1)
        left["python-markdown"] += len(find_leftovers(text))
        left["kb"] += sum(len(find_leftovers(p.text)) for p in page.passages)
    n = len(pages)
    print(f"{root.name}: {n} pages")
    print(f"pages whose heading anchors are the same in order: {same} of {n} ({differ} differ)")
    print(f"markup pattern hits in the text (no code): python-markdown {left['python-markdown']}, kb {left['kb']}")
    print("pages per CPU-second: " + ", ".join(f"{k} {n / v:.0f}" for k, v in spent.items() if v))
    return 0


if __name__ == "__main__":
    sys.exit(main())
