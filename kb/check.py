"""Parse a folder the way `kb reindex` would and look for markup that survived into what users read.

A snippet or breadcrumb showing `:::tip`, `<Tabs>` or `](https://...)` means the parser let syntax through; this
module makes that visible over any folder (`kb check DIR` or `python -m kb check DIR`) without building an index,
so a new documentation site can be vetted before it is indexed.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .discover import Discovery, discover
from .index import process_file
from .manifest import Settings
from .model import Page, Problem

# What a reader never sees on a rendered page. Each pattern names the construct it catches.
LEFTOVER_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("admonition fence", re.compile(r":::")),
    ("component or HTML tag", re.compile(r"</?[A-Za-z][\w.-]*(?:\s[^<>]*)?/?>|<[A-Z][\w.]*\b")),
    ("heading id", re.compile(r"\{#[^}\s]*\}?")),
    ("link syntax", re.compile(r"\]\(|\]\[[^\]]*\]")),
    ("image syntax", re.compile(r"!\[")),
    ("bold marker", re.compile(r"\*\*|__(?=\w)(?<!\w__)")),
    ("HTML entity", re.compile(r"&(?:[a-zA-Z]{2,8}|#\d{1,6}|#x[0-9a-fA-F]{1,6});")),
    ("comment", re.compile(r"<!--|-->|\{/\*|\*/\}")),
    ("MDX import/export", re.compile(r"^(?:import\s.+\sfrom\s['\"]|export\s+(?:default|const|function))", re.M)),
    ("internal marker", re.compile("[\ue000-\ue002]")),
    ("heading marker", re.compile(r"^#{1,6}[ \t]+[A-Za-z]", re.M)),
)


@dataclass(frozen=True)
class Leftover:
    """One piece of markup found in text a user reads."""

    path: str
    line: int
    anchor: str
    where: str  # "heading", "breadcrumb", "text"
    kind: str
    excerpt: str

    def __str__(self) -> str:
        anchor = f"#{self.anchor}" if self.anchor else ""
        return f"{self.path}:{self.line}{anchor}: {self.kind} in {self.where}: {self.excerpt}"


@dataclass(frozen=True)
class CheckReport:
    pages: tuple[Page, ...]
    skipped: tuple[str, ...]
    problems: tuple[Problem, ...]
    leftovers: tuple[Leftover, ...] = field(default_factory=tuple)


_CODE_SPAN = re.compile(r"(`+)(.+?)\1", re.S)
_ESCAPED = re.compile(r"&(?:lt|amp|#60|#x3[cC]);\S[^\n]{0,80}")
_FENCED = re.compile(r"^\s*(`{3,}|~{3,}).*?^\s*\1", re.S | re.M)


def quoted_code(source: str) -> str:
    """The code spans and blocks of a page's source: markup quoted there is text the reader really sees."""
    parts = [m.group(0) for m in _FENCED.finditer(source)]
    parts += [m.group(2) for m in _CODE_SPAN.finditer(_FENCED.sub("", source))]
    parts += [html.unescape(m.group(0)) for m in _ESCAPED.finditer(source)]
    return "\n".join(parts)


def find_leftovers(text: str, quoted: str = "") -> list[tuple[str, str]]:
    """(kind, excerpt) for each markup pattern found in `text`, unless the page quotes it as code."""
    found = []
    for kind, pattern in LEFTOVER_PATTERNS:
        for m in pattern.finditer(text):
            if quoted and m.group(0).strip() and m.group(0) in quoted:
                continue
            start = max(0, m.start() - 30)
            excerpt = " ".join(text[start: m.end() + 30].split())
            found.append((kind, excerpt))
    return found


def page_leftovers(page: Page, source: str = "") -> list[Leftover]:
    quoted = quoted_code(source) if source else ""
    out: list[Leftover] = []
    seen: set[tuple[str, str, str]] = set()

    def add(line: int, anchor: str, where: str, text: str) -> None:
        for kind, excerpt in find_leftovers(text, quoted):
            key = (anchor, kind, excerpt)
            if key not in seen:
                seen.add(key)
                out.append(Leftover(page.path, line, anchor, where, kind, excerpt))

    add(1, "", "title", page.title)
    for s in page.sections:
        add(s.line, s.anchor, "heading", s.heading)
        for crumb in s.breadcrumb:
            add(s.line, s.anchor, "breadcrumb", crumb)
    for p in page.passages:
        add(p.line, p.anchor, "text", p.text)
        for crumb in p.breadcrumb:
            add(p.line, p.anchor, "breadcrumb", crumb)
    return out


def check_folder(root: Path, *, include_drafts: bool = False, max_file_bytes: int = 5 * 1024 * 1024,
                 discover_pages: Callable[[], Discovery] | None = None) -> CheckReport:
    """Discover and parse every page under `root` (or those `discover_pages` finds: every source of a knowledge
    base); raises ContentError like reindex for a missing/empty folder."""
    found = discover_pages() if discover_pages is not None else discover(Path(root))
    settings = Settings(include_drafts=include_drafts, max_file_bytes=max_file_bytes)
    pages: list[Page] = []
    skipped: list[str] = []
    problems: list[Problem] = list(found.problems)
    leftovers: list[Leftover] = []
    for f in found.files:
        proc = process_file(f, settings)
        problems.extend(proc.problems)
        if proc.page is None:
            skipped.append(f.rel)
            continue
        pages.append(proc.page)
        try:
            source = Path(f.path).read_bytes().decode("utf-8", errors="replace")
        except OSError:
            source = ""
        leftovers.extend(page_leftovers(proc.page, source))
    return CheckReport(tuple(pages), tuple(skipped), tuple(dict.fromkeys(problems)), tuple(leftovers))


def format_report(report: CheckReport, *, verbose: bool = True) -> list[str]:
    lines: list[str] = []
    if verbose:
        for page in report.pages:
            lines.append(f"{page.path}  {page.title!r}  ({len(page.sections)} sections, {len(page.passages)} passages)")
            for s in page.sections:
                indent = "  " * max(s.level, 1)
                lines.append(f"{indent}{s.anchor or '(top)'}  {' › '.join(s.breadcrumb)}  [line {s.line}]")
    sections = sum(len(p.sections) for p in report.pages)
    lines.append(f"{len(report.pages)} pages, {sections} sections, {len(report.skipped)} skipped, "
                 f"{len(report.problems)} warnings, {len(report.leftovers)} markup leftovers")
    return lines
