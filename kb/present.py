"""Human-readable output for the CLI: ranked hits with breadcrumbs, addresses and highlighted snippets."""

from __future__ import annotations

import os
import shlex

import click

from .model import Hit, ReindexReport, SearchResult

CRUMB = " › "
MORE_SHOWN = 2  # a section's other matching passages shown under its hit


def use_color(stream_isatty: bool) -> bool:
    return stream_isatty and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


def emphasise(snippet: str, highlights: tuple[tuple[int, int], ...], *, color: bool) -> str:
    if not color or not highlights:
        return snippet
    out, pos = [], 0
    for start, end in highlights:
        out.append(snippet[pos:start])
        out.append(click.style(snippet[start:end], bold=True, fg="yellow"))
        pos = end
    out.append(snippet[pos:])
    return "".join(out)


def address(hit: Hit) -> str:
    anchor = f"#{hit.anchor}" if hit.anchor else ""
    return f"{hit.path}:{hit.line}{anchor}"


def format_hit(hit: Hit, *, color: bool, indent: str = "") -> list[str]:
    crumbs = CRUMB.join(hit.breadcrumb)
    head = f"{indent}{hit.rank}. {click.style(crumbs, bold=True) if color else crumbs}"
    lines = [head, f"{indent}   {click.style(address(hit), fg='cyan') if color else address(hit)}"]
    if hit.snippet:
        lines.append(f"{indent}   {emphasise(hit.snippet, hit.highlights, color=color)}")
    for more in hit.passages[:MORE_SHOWN]:
        where = f" (line {more.line})" if more.line != hit.line else ""
        lines.append(f"{indent}   also{where}: {emphasise(more.snippet, more.highlights, color=color)}")
    if len(hit.passages) > MORE_SHOWN:
        lines.append(f"{indent}   ... {len(hit.passages) - MORE_SHOWN} more passages; --passages lists each")
    for other in hit.others:
        crumbs = CRUMB.join(other.breadcrumb[1:] or other.breadcrumb)
        lines.append(f"{indent}   also: {crumbs} ({address(other)})")
    return lines


def format_result(result: SearchResult, *, color: bool) -> str:
    blocks = ["\n".join(format_hit(h, color=color)) for h in result.hits]
    return "\n\n".join(blocks)


def format_header(result: SearchResult) -> str | None:
    """The one line said before results when kb searched something other than what was typed."""
    if result.suggestion:
        return f"Did you mean: {result.suggestion}"
    if result.fallback == "or":
        return "No section has all the words; showing sections with some of them."
    return None


def format_report(report: ReindexReport) -> str:
    return report.summary()


def format_tips(result: SearchResult) -> str:
    """What to try after "No results": looser queries that were tried and do find something, else general advice."""
    if result.tips:
        return "Try: " + " or ".join(f"kb search {shlex.quote(t if len(t) <= 50 else t[:47] + '...')}"
                                     for t in result.tips)
    return ("Try fewer or more general words, another spelling, or a prefix such as conf*; "
            "`kb search --help` shows the query syntax.")
