"""Limits and defaults that the library and every interface share, written once.

The interfaces refuse what is over a limit (HTTP 422, an MCP tool error, a CLI usage error); the library itself
cuts a query down to MAX_QUERY_CHARS instead, since any string must be searchable.

Bounds on the work one page may cost are enforced while parsing, so that one hostile file cannot hang a reindex.

The file-size limit does not bound the work: a 2 KB YAML "billion laughs" front matter expands to gigabytes, and
a 1.7 MB page of 100,000 headings takes minutes because sectioning grows faster than linearly with headings. So
the work is counted: front matter is bounded in size and in the values its aliases expand to; a page's body is
cut after MAX_HEADINGS headings and its passages after MAX_PASSAGES; and parsing one page is stopped after
MAX_PARSE_SECONDS where the OS lets us interrupt it (the main thread of a process, which is where `kb reindex`
and the parse workers run). Each cut is a warning naming the file; the rest of the site is indexed as usual.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

from .model import Problem

TYPE_CHECKING = False  # rather than typing's: a cold search does not import typing (kb/__init__.py)
if TYPE_CHECKING:
    from typing import Any

if TYPE_CHECKING:
    from .parse import RawPage
    from .records import Page

MAX_QUERY_CHARS = 500  # longer queries are refused by HTTP and MCP, and cut to this length by the library
MAX_CLAUSES = 32  # query clauses beyond this are dropped (and reported in the result)
MAX_FILE_BYTES = 5 * 1024 * 1024  # page files larger than this are skipped with a warning
LOCK_TIMEOUT = 10.0  # seconds a reindex waits for another one to finish
DEFAULT_LIMIT = 10  # hits per search unless asked otherwise
MAX_LIMIT_CLI = 1000  # `kb search --limit`
MAX_LIMIT_HTTP = 100  # `/api/search?limit=`
MAX_LIMIT_MCP = 50  # the MCP `search` tool's `limit` (an assistant's context is small)

MAX_FRONTMATTER_CHARS = 256 * 1024
MAX_FRONTMATTER_VALUES = 10_000  # scalars, lists and mappings after YAML aliases are expanded
MAX_HEADINGS = 2_000
MAX_PASSAGES = 10_000
MAX_PARSE_SECONDS = 30.0

_HEADING = re.compile(r" {0,3}(?:#{1,6}(?:[ \t]|$)|=+[ \t]*$|-+[ \t]*$)")


class FrontmatterTooBig(ValueError):
    """Front matter whose text or expanded value is over the limits; `problem` is the reason shown to the user."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


class ParseTimeout(BaseException):
    """Parsing one page took longer than MAX_PARSE_SECONDS (a BaseException: no parser's catch-all swallows it)."""


def load_frontmatter(handler: Any, raw: str) -> Any:
    """python-frontmatter's handler.load, with the text and the expanded value bounded.

    PyYAML's SafeLoader shares one object for every use of an alias, so loading is cheap; it is walking the result
    (as kb does to read titles and tags) that explodes. The walk below counts values and stops at the limit.
    """
    if len(raw) > MAX_FRONTMATTER_CHARS:
        raise FrontmatterTooBig(f"front matter is over {MAX_FRONTMATTER_CHARS // 1024} KB")
    value = handler.load(raw)
    _count(value, [MAX_FRONTMATTER_VALUES])
    return value


def _count(value: Any, budget: list[int]) -> None:
    stack = [value]
    while stack:
        item = stack.pop()
        budget[0] -= 1
        if budget[0] < 0:
            raise FrontmatterTooBig(f"front matter expands to more than {MAX_FRONTMATTER_VALUES:,} values "
                                    "(YAML aliases)")
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple, set)):
            stack.extend(item)


def bound_raw(raw: RawPage) -> RawPage:
    """The page's body cut after MAX_HEADINGS headings, with a warning, before any Markdown is parsed."""
    body, problem = bound_body(raw.body, raw.rel, raw.body_line)
    return raw if problem is None else replace(raw, body=body, problems=raw.problems + (problem,))


def bound_body(body: str, rel: str, body_line: int) -> tuple[str, Problem | None]:
    """The body cut before its (MAX_HEADINGS + 1)th heading-like line, and the warning saying so."""
    if body.count("#") + body.count("==") + body.count("--") <= MAX_HEADINGS:
        return body, None  # cannot hold more headings than that: skip the line scan
    seen = 0
    pos = 0
    for n, line in enumerate(body.split("\n")):
        if _HEADING.match(line):
            seen += 1
            if seen > MAX_HEADINGS:
                return body[:pos], Problem(rel, f"page has more than {MAX_HEADINGS:,} headings",
                                           f"indexed up to line {body_line + n - 1}", body_line + n)
        pos += len(line) + 1
    return body, None


def bound_page(page: Page) -> Page:
    """The page with at most MAX_PASSAGES passages (a warning when some were dropped)."""
    if len(page.passages) <= MAX_PASSAGES:
        return page
    last = page.passages[MAX_PASSAGES - 1]
    anchors = {p.anchor for p in page.passages[:MAX_PASSAGES]}
    problem = Problem(page.path, f"page has more than {MAX_PASSAGES:,} passages",
                      f"indexed up to line {last.line}", last.line)
    return replace(page, passages=page.passages[:MAX_PASSAGES],
                   sections=tuple(s for s in page.sections if s.anchor in anchors),
                   problems=page.problems + (problem,))


@contextmanager
def parse_deadline(seconds: float = MAX_PARSE_SECONDS) -> Iterator[None]:
    """Raise ParseTimeout in the block after `seconds` (main thread only: elsewhere signals cannot reach it)."""
    import signal  # parsing only: a search does not import it (~3.5 M instructions)

    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return

    fired: list[bool] = []

    def expired(_signum: int, _frame: Any) -> None:
        fired.append(True)
        raise ParseTimeout

    try:
        previous = signal.signal(signal.SIGALRM, expired)
    except ValueError:
        yield
        return
    old_timer = signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
        if fired:  # the signal landed where its exception is swallowed (a gc callback, a __del__): still too slow
            raise ParseTimeout
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if old_timer[0]:
            signal.setitimer(signal.ITIMER_REAL, *old_timer)
