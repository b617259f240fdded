"""Parse a folder the way `kb reindex` would and look for markup that survived into what users read.

A snippet or breadcrumb showing `:::tip`, `<Tabs>` or `](https://...)` means the parser let syntax through; this
module makes that visible over any folder (`kb check DIR` or `python -m kb check DIR`) without building an index,
so a new documentation site can be vetted before it is indexed.
"""

from __future__ import annotations

import html
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .discover import Discovery, discover
from .index import process_file
from .manifest import Settings
from .model import Page, Problem

# What a reader never sees on a rendered page, in any dialect kb reads. Each pattern names the construct it catches;
# unknown `{{ }}`, `{% %}`, `:::`, `[[` and `[!x]` constructs are caught by the generic ones.
LEFTOVER_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("admonition fence", re.compile(r":::")),
    ("component or HTML tag", re.compile(r"</?[A-Za-z][\w.-]*(?:\s[^<>]*)?/?>|<[A-Z][\w.]*\b")),
    ("heading id", re.compile(r"\{#[^}\s]*\}?")),
    ("link syntax", re.compile(r"\]\(|\]\[[^\]]*\]")),
    ("image syntax", re.compile(r"!\[")),
    ("bold marker", re.compile(r"\*\*|__(?=\w)(?<!\w__)")),
    ("HTML entity", re.compile(r"&(?:[a-zA-Z]{2,8}|#\d{1,6}|#x[0-9a-fA-F]{1,6});")),
    ("comment", re.compile(r"<!--|\{/\*|\*/\}")),
    ("MDX import/export", re.compile(r"^(?:import\s.+\sfrom\s['\"]|export\s+(?:default|const|function))", re.M)),
    ("internal marker", re.compile("[\ue000-\ue002]")),
    ("heading marker", re.compile(r"^#{1,6}[ \t]+[A-Za-z]", re.M)),
    ("MkDocs admonition", re.compile(r"(?:^|\s)(?:!!!|\?\?\?\+?)[ \t]+\w", re.M)),
    ("MkDocs block or tab", re.compile(r"^/{3,}(?:[ \t]+\w|$)|(?:^|\s)===\+?[ \t]+\"", re.M)),
    ("attribute list", re.compile(r"\{:?[ \t]*(?:\.[\w-]+|#[\w-]+[ \t]+[.#\w])[^{}\n]*\}|\{:[^{}\n]*\}")),
    ("snippet or include", re.compile(r"--8<--|\{\*[^{}\n]*\*\}")),
    ("icon or emoji shortcode", re.compile(r"(?<![\w:/]):[a-z0-9+_][a-z0-9+_-]*:(?![\w:/])")),
    ("template shortcode or tag", re.compile(r"\{\{|\}\}|\{%|%\}")),
    ("wikilink", re.compile(r"\[\[|\]\]")),
    ("alert or callout marker", re.compile(r"\[![A-Za-z][\w-]*\]")),
    ("Obsidian comment", re.compile(r"(?<![\d%])%%(?!\d)")),
    ("footnote", re.compile(r"\[\^[^\]\s]+\]")),
    ("abbreviation", re.compile(r"^\*\[[^\]]+\]:", re.M)),
    ("highlight marker", re.compile(r"(?<![=\w])==(?=[^\s=])[^=\n]*?(?<=[^\s=])==(?![=\w])")),
    ("front matter fence", re.compile(r"^(?:\+\+\+|---)$", re.M)),
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
    dialect: str = "docusaurus"
    forced: bool = False


_CODE_SPAN = re.compile(r"(`+)(.+?)\1", re.S)
_ESCAPED = re.compile(r"&(?:lt|amp|#60|#x3[cC]);\S[^\n]{0,80}")
_HTML_CODE = re.compile(r"<code>(.*?)</code>", re.S)
_BACKSLASH = re.compile(r"\\([!-/:-@\[-`{-~])")
_FENCED = re.compile(r"^\s*(`{3,}|~{3,}).*?^\s*\1", re.S | re.M)


def quoted_code(source: str) -> str:
    """The code spans and blocks of a page's source, and what it escapes: markup quoted there (`` `[[x]]` ``,
    `<code>{&#37; raw &#37;}</code>`, `\\[\\[`) is text the reader really sees."""
    parts = [m.group(0) for m in _FENCED.finditer(source)]
    parts += [m.group(2) for m in _CODE_SPAN.finditer(_FENCED.sub("", source))]
    parts += [html.unescape(m.group(0)) for m in _ESCAPED.finditer(source)]
    parts += [html.unescape(m.group(1)) for m in _HTML_CODE.finditer(source)]
    parts += [_BACKSLASH.sub(r"\1", line) for line in source.split("\n") if "\\" in line]
    return "\n".join(parts)


def find_leftovers(text: str, quoted: str = "") -> list[tuple[str, str]]:
    """(kind, excerpt) for each markup pattern found in `text`, unless the page quotes it as code."""
    return [(kind, excerpt) for kind, excerpt, _found in find_leftovers_at(text, quoted)]


def page_leftovers(page: Page, source: str = "") -> list[Leftover]:
    quoted = quoted_code(source) if source else ""
    lines = source.split("\n") if source else []
    out: list[Leftover] = []
    seen: set[tuple[str, str, str]] = set()

    def add(line: int, anchor: str, where: str, text: str) -> None:
        for kind, excerpt, found in find_leftovers_at(text, quoted, source):
            key = (anchor, kind, excerpt)
            if key not in seen:
                seen.add(key)
                out.append(Leftover(page.path, _source_line(lines, found, line), anchor, where, kind, excerpt))

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


def markup_sections(pages: Iterable[tuple[Page, str]]) -> tuple[int, int]:
    """(sections whose text, heading or breadcrumb shows markup, all sections) over (page, its source) pairs: the
    figure benchmarks/markup_scan.py prints per corpus."""
    flagged = total = 0
    for page, source in pages:
        total += len(page.sections)
        flagged += len({x.anchor for x in page_leftovers(page, source)})
    return flagged, total


def find_leftovers_at(text: str, quoted: str = "", source: str = "") -> list[tuple[str, str, str]]:
    """(kind, excerpt, matched text) for each markup pattern found in `text`, unless the page quotes it as code."""
    found = []
    shown: dict[str, bool] = {}  # matched text -> whether the page shows it as text (quoted, or not in the source)
    for kind, pattern in LEFTOVER_PATTERNS:
        for m in pattern.finditer(text):
            got = m.group(0)
            if got not in shown:
                shown[got] = bool(quoted and got.strip() and got in quoted) or bool(
                    source and got.strip() not in source)
            if shown[got] and kind != "internal marker":
                continue  # quoted as code, or not written in the page (text and code joined up)
            start = max(0, m.start() - 30)
            excerpt = " ".join(text[start: m.end() + 30].split())
            found.append((kind, excerpt, m.group(0).strip()))
    return found


def _source_line(lines: list[str], found: str, line: int) -> int:
    """The file line where the leftover is written: the first one at or after its section's line holding it."""
    if found:
        for n in range(max(line - 1, 0), len(lines)):
            if found in lines[n]:
                return n + 1
    return line


def check_folder(root: Path, *, include_drafts: bool = False, max_file_bytes: int = 5 * 1024 * 1024,
                 dialect: str = "", discover_pages: Callable[[], Discovery] | None = None,
                 settings: Settings | None = None) -> CheckReport:
    """Discover and parse every page under `root` in its dialect (detected unless given), or those `discover_pages`
    finds with `settings` (every source of a knowledge base, each in its dialect); raises ContentError like reindex
    for a missing/empty folder."""
    from .dialects import resolve_dialect

    found = discover_pages() if discover_pages is not None else discover(Path(root))
    if settings is None:
        name = resolve_dialect(Path(root), dialect)
        settings = Settings(include_drafts=include_drafts, max_file_bytes=max_file_bytes, dialect=name)
    else:
        name = ", ".join(dict.fromkeys(d for _p, d in settings.parse_dialects)) or settings.dialect
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
            source = Path(f.path).read_bytes().decode("utf-8-sig", errors="replace").replace("\r\n", "\n")
        except OSError:
            source = ""
        leftovers.extend(page_leftovers(proc.page, source))
    return CheckReport(tuple(pages), tuple(skipped), tuple(dict.fromkeys(problems)), tuple(leftovers), name,
                       bool(dialect and dialect != "auto"))


def format_report(report: CheckReport, *, verbose: bool = True) -> list[str]:
    lines: list[str] = []
    if verbose:
        for page in report.pages:
            lines.append(f"{page.path}  {page.title!r}  ({len(page.sections)} sections, {len(page.passages)} passages)")
            for s in page.sections:
                indent = "  " * max(s.level, 1)
                lines.append(f"{indent}{s.anchor or '(top)'}  {' › '.join(s.breadcrumb)}  [line {s.line}]")
    if report.leftovers:
        kinds = Counter(x.kind for x in report.leftovers)
        lines.append("leftovers by kind: " + ", ".join(f"{k} {n}" for k, n in kinds.most_common()))
        by_file: dict[str, list[int]] = {}
        for x in report.leftovers:
            by_file.setdefault(x.path, []).append(x.line)
        lines.append("leftovers by file:")
        for path, at in sorted(by_file.items(), key=lambda kv: (-len(kv[1]), kv[0])):
            lines.append(f"  {path}: {len(at)} (lines {', '.join(str(n) for n in sorted(set(at)))})")
    sections = sum(len(p.sections) for p in report.pages)
    how = "forced" if report.forced else "detected"
    lines.append(f"{len(report.pages)} pages, {sections} sections, {len(report.skipped)} skipped, "
                 f"{len(report.problems)} warnings, {len(report.leftovers)} markup leftovers "
                 f"(dialect: {report.dialect}, {how})")
    return lines
