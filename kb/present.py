"""Human-readable output for the CLI: ranked hits with breadcrumbs, addresses and highlighted snippets."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from .model import Hit, SearchResult

CRUMB = " › "
MORE_SHOWN = 2  # a section's other matching passages shown under its hit


_COLORS = {"yellow": 33, "cyan": 36}
BOLD, RESET = "\033[1m", "\033[0m"


def style(text: str, *, fg: str | None = None, bold: bool = False) -> str:
    """click.style for the few styles kb prints (the same escapes: tests/test_fastcli.py), without importing click
    for a search printed to a terminal."""
    color = f"\033[{_COLORS[fg]}m" if fg else ""
    return f"{color}{BOLD if bold else ''}{text}{RESET}"


_BIDI = frozenset("\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def term_safe(text: str, *, keep_newlines: bool = False) -> str:
    """Text as a terminal shows it harmlessly: control characters (escape sequences, carriage returns, and
    newlines unless `keep_newlines`), bidirectional overrides and unpaired surrogates become visible escapes
    such as \\x1b. Only human output goes through this; JSON carries the exact text."""
    if text.isprintable():
        return text
    out = []
    for ch in text:
        if ch.isprintable() or (keep_newlines and ch in "\n\t") or (ch == " "):
            out.append(ch)
        elif ch in _BIDI or ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F or 0xD800 <= ord(ch) <= 0xDFFF:
            out.append(ascii(ch)[1:-1])
        elif ch in "\u2028\u2029":
            out.append(ascii(ch)[1:-1])
        else:
            out.append(ch)  # other non-printables (format characters such as joiners) are harmless
    return "".join(out)


def use_color(stream_isatty: bool) -> bool:
    return stream_isatty and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


def emphasise(snippet: str, highlights: tuple[tuple[int, int], ...], *, color: bool) -> str:
    if not color or not highlights:
        return term_safe(snippet)
    out, pos = [], 0
    for start, end in highlights:
        out.append(term_safe(snippet[pos:start]))
        out.append(style(term_safe(snippet[start:end]), bold=True, fg="yellow"))
        pos = end
    out.append(term_safe(snippet[pos:]))
    return "".join(out)


def address(hit: Hit) -> str:
    """The one-line address path:line#anchor (escaped: a newline in a file name must not split it)."""
    anchor = f"#{hit.anchor}" if hit.anchor else ""
    return term_safe(f"{hit.path}:{hit.line}{anchor}")


def format_hit(hit: Hit, *, color: bool, indent: str = "") -> list[str]:
    crumbs = term_safe(CRUMB.join(hit.breadcrumb))
    head = f"{indent}{hit.rank}. {style(crumbs, bold=True) if color else crumbs}"
    where = style(address(hit), fg='cyan') if color else address(hit)
    if hit.url:
        where += f"  {hyperlink(hit.url) if color else hit.url}"
    lines = [head, f"{indent}   {where}"]
    if hit.snippet:
        lines.append(f"{indent}   {emphasise(hit.snippet, hit.highlights, color=color)}")
    for more in hit.passages[:MORE_SHOWN]:
        where = f" (line {more.line})" if more.line != hit.line else ""
        lines.append(f"{indent}   also{where}: {emphasise(more.snippet, more.highlights, color=color)}")
    if len(hit.passages) > MORE_SHOWN:
        lines.append(f"{indent}   ... {len(hit.passages) - MORE_SHOWN} more passages; --passages lists each")
    for other in hit.others:
        crumbs = term_safe(CRUMB.join(other.breadcrumb[1:] or other.breadcrumb))
        lines.append(f"{indent}   also: {crumbs} ({address(other)})")
    return lines


def format_result(result: SearchResult, *, color: bool) -> str:
    blocks = ["\n".join(format_hit(h, color=color)) for h in result.hits]
    return "\n\n".join(blocks)


def format_header(result: SearchResult) -> str | None:
    """The one line said before results when kb searched something other than what was typed."""
    if result.suggestion:
        return f"Did you mean: {term_safe(result.suggestion)}"
    if result.fallback == "or":
        return "No section has all the words; showing sections with some of them."
    return None


def hyperlink(url: str) -> str:
    """The URL as an OSC 8 terminal hyperlink (clickable where the terminal supports it, plain text elsewhere)."""
    return f"\x1b]8;;{url}\x1b\\{url}\x1b]8;;\x1b\\"


def format_vimgrep(result: SearchResult, file_path: Callable[[str], Path]) -> list[str]:
    """`file:line:col: breadcrumb: snippet` per hit (vim's errorformat, ripgrep's --vimgrep), the file relative to
    the working folder when it is inside it; `kb show` accepts the `file:line:col` part back. Terminal-safe as all
    human output is (a page's escape sequences, BEL or bidirectional overrides shown as escapes, never sent raw):
    a quickfix list is printed, and often read on a terminal first."""
    out = []
    for hit in result.hits:
        path = file_path(hit.path)
        try:
            shown = path.resolve().relative_to(Path.cwd().resolve()).as_posix()
        except ValueError:
            shown = str(path.resolve())
        text = " ".join(f"{CRUMB.join(hit.breadcrumb)}: {hit.snippet}".split())
        out.append(term_safe(f"{shown}:{hit.line}:1: {text}"))
    return out
def format_tips(result: SearchResult) -> str:
    """What to try after "No results": looser queries that were tried and do find something, else general advice."""
    import shlex  # only a search with no hit prints tips

    if result.tips:
        return "Try: " + " or ".join(f"kb search {shlex.quote(t if len(t) <= 50 else t[:47] + '...')}"
                                     for t in result.tips)
    return ("Try fewer or more general words, another spelling, or a prefix such as conf*; "
            "`kb search --help` shows the query syntax.")
