"""The records a search of a fresh index never builds: parsed pages and their passages, reindex reports, the page
and section texts `kb show` prints, and the status. Import them from kb.model (which loads this module on first use).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .model import Problem


@dataclass(frozen=True)
class Passage:
    """A searchable unit: a whole section, or a bounded slice of a long one, carrying its section's address."""

    page: str
    path: str
    title: str
    section: str
    level: int
    anchor: str
    breadcrumb: tuple[str, ...]
    line: int
    text: str
    part: int = 0
    code: str = ""
    tags: tuple[str, ...] = ()
    description: str = ""
    keywords: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return f"{self.path}#{self.anchor}#{self.part}"


@dataclass(frozen=True)
class Section:
    """A heading and everything under it up to the next heading, as plain text."""

    page: str
    path: str
    title: str
    heading: str
    level: int
    anchor: str
    breadcrumb: tuple[str, ...]
    line: int
    text: str


@dataclass(frozen=True)
class Page:
    """A parsed page: its metadata and its sections in document order."""

    id: str
    path: str
    title: str
    sections: tuple[Section, ...]
    passages: tuple[Passage, ...]
    tags: tuple[str, ...] = ()
    description: str = ""
    sidebar_label: str = ""
    keywords: tuple[str, ...] = ()
    draft: bool = False
    problems: tuple[Problem, ...] = ()


@dataclass(frozen=True)
class ReindexReport:
    added: int
    updated: int
    removed: int
    unchanged: int
    pages: int
    sections: int
    seconds: float
    full: bool
    skipped: int = 0
    warnings: tuple[Problem, ...] = field(default_factory=tuple)
    embedded: int = 0  # passages embedded by the semantic model (the others' vectors were reused)
    embed_seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed)

    def summary(self) -> str:
        text = (
            f"{self.added} added, {self.updated} updated, {self.removed} removed, {self.unchanged} unchanged; "
            f"{self.pages} pages, {self.sections} sections in {self.seconds:.2f}s"
        )
        if self.skipped:
            text += f"; {self.skipped} pages skipped, see warnings above"
        elif self.warnings:
            text += f"; {len(self.warnings)} warnings, see above"
        return text


@dataclass(frozen=True)
class SectionText:
    """A whole section as stored in the index: what `kb show` prints and the read_section tool returns."""

    page: str
    path: str
    title: str
    section: str
    anchor: str
    breadcrumb: tuple[str, ...]
    line: int
    text: str
    code: str = ""
    source: str = ""
    url: str | None = None


@dataclass(frozen=True)
class PageText:
    page: str
    path: str
    title: str
    sections: tuple[SectionText, ...]
    source: str = ""
    url: str | None = None


@dataclass(frozen=True)
class Status:
    """Whether a knowledge base can answer searches now, and the size of its index (`KnowledgeBase.status()`)."""

    ready: bool
    version: str
    pages: int
    sections: int
    problem: str | None = None  # why it is not ready: no index yet, or a damaged one (a search rebuilds it)
