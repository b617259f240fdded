"""The records that flow through the pipeline and out of the API.

All are frozen dataclasses: results are values that can be shared between threads and serialised with
``dataclasses.asdict`` into the JSON contract without a hand-written converter.

Making a frozen dataclass costs about a millisecond at import (Python compiles its methods), so the records a
search of a fresh index never builds (parsed pages, reindex reports, page and section texts, status) live in
kb/records.py and are imported from here only when first asked for: `from kb.model import Page` still works.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

TYPE_CHECKING = False  # rather than typing's: a cold search does not import typing (kb/__init__.py)
if TYPE_CHECKING:
    from typing import Any

CRUMB_SEP = "\x1f"  # joins a breadcrumb's parts in its stored index field

if TYPE_CHECKING:
    from .records import Page, PageText, Passage, ReindexReport, Section, SectionText, Status

_RECORDS = frozenset({"Page", "PageText", "Passage", "ReindexReport", "Section", "SectionText", "Status"})


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one file, and what kb did about it (the page is still indexed unless `action` says not)."""

    path: str
    problem: str
    action: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.problem}; {self.action}"


@dataclass(frozen=True)
class Excerpt:
    """Another matching passage of a hit's section: one result per section, its other passages ride along."""

    snippet: str
    highlights: tuple[tuple[int, int], ...]
    line: int
    part: int = 0


@dataclass(frozen=True)
class Hit:
    """One ranked section (or passage) of a search, with what a reader needs to open it at the right place."""

    rank: int
    score: float
    page: str
    path: str
    title: str
    section: str
    anchor: str
    breadcrumb: tuple[str, ...]
    line: int
    snippet: str
    highlights: tuple[tuple[int, int], ...]
    part: int = 0
    others: tuple[Hit, ...] = ()
    source: str = ""  # the source (content folder) the page is in
    url: str | None = None  # the section on the published site, when the site's base URL is known
    passages: tuple[Excerpt, ...] = ()  # the section's other matching passages, best first


@dataclass(frozen=True)
class SearchResult:
    """A search's answer as every interface prints it (`--json` is `asdict` of it): hits, total, what was searched."""

    query: str
    total: int
    suggestion: str | None
    hits: tuple[Hit, ...]
    searched: str = ""
    fallback: str | None = None
    ignored: tuple[str, ...] = ()  # parts of the query not searched (past a limit, a refused prefix), and why
    mode: str = "lexical"  # lexical | semantic | hybrid: how the hits were ranked
    tips: tuple[str, ...] = ()  # with no hits: looser queries that do have hits

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def __getattr__(name: str) -> Any:
    if name in _RECORDS:
        from . import records

        return getattr(records, name)
    raise AttributeError(f"module 'kb.model' has no attribute {name!r}")


__all__ = ["CRUMB_SEP", "Excerpt", "Hit", "Page", "PageText", "Passage", "Problem", "ReindexReport", "SearchResult",
           "Section", "SectionText", "Status"]
