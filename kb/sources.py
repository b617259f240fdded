"""One knowledge base over several content folders ("sources").

With one source, page paths are relative to its folder, exactly as before. With several, every path and page id
starts with the source's name (`handbook/onboarding.md`), so ids stay unique across sources and the `source:`
filter, `path:` filter and `kb show` all see one namespace. A source whose folder is missing is one warning; the
other sources still answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

from .config import SourceConfig
from .discover import Discovery, SourceFile, discover, discover_signature
from .errors import ContentError, NotFound, shown
from .model import Problem
from .urls import Routing


@dataclass(frozen=True)
class Source:
    """A source as the indexer uses it: its config, its routing, and where its files' paths start."""

    config: SourceConfig
    routing: Routing
    base_url: str  # where the folder's root is published ("" when unknown)
    prefix: str  # "" with one source, else "name/"

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def path(self) -> Path:
        return self.config.path


def make_sources(configs: tuple[SourceConfig, ...]) -> tuple[Source, ...]:
    """Read each source's site config (for its dialect, routing and base URL) once, up front."""
    from .siteconfig import read_site

    out = []
    for c in configs:
        site = read_site(c.path, c.dialect)
        dialect = c.dialect or site.dialect
        routing = site.routing if site.routing.dialect == dialect else Routing(dialect=dialect)
        base = c.base_url or (site.base_url if re.match(r"^https?://[^/\s]+", site.base_url) else "")
        out.append(Source(c, routing, base, f"{c.name}/" if len(configs) > 1 else ""))
    return tuple(out)


def source_of(sources: tuple[Source, ...], rel: str) -> tuple[Source, str]:
    """The source an indexed path belongs to, and the path inside that source."""
    if len(sources) == 1:
        return sources[0], rel
    for s in sources:
        if rel.startswith(s.prefix):
            return s, rel[len(s.prefix):]
    raise NotFound(f"page {shown(rel)} belongs to no configured source (the index was built with other sources)",
                   fix="reindex")


def discover_all(sources: tuple[Source, ...]) -> Discovery:
    """Every source's pages, paths qualified by source name when there are several.

    A single source keeps discover()'s errors (a missing folder is an error); with several, a missing or empty
    folder is one warning and the others still count, unless none has any page.
    """
    if len(sources) == 1:
        return _filtered(sources[0], discover(sources[0].path))
    files: list[SourceFile] = []
    problems: list[Problem] = []
    failures: list[str] = []
    for s in sources:
        try:
            found = _filtered(s, discover(s.path))
        except ContentError as exc:
            failures.append(str(exc))
            why = "folder does not exist" if not s.path.exists() else str(exc).split(";")[0]
            problems.append(Problem(f"source {s.name!r}", f"{why} ({s.path})",
                                    "its pages are left out until it is back; the other sources answer"))
            continue
        files.extend(found.files)
        problems.extend(found.problems)
    if not files:
        raise ContentError("no source has any page: " + "; ".join(failures))
    files.sort(key=lambda f: f.rel)
    return Discovery(tuple(files), tuple(problems))


def content_signature(sources: tuple[Source, ...]) -> bytes | None:
    """kb.manifest.signature_of(discover_all(sources).files), for the freshness check of a search, when one walk
    gives it as it is (one source, no globs, no prefix: the usual case); None otherwise, or when discover_all would
    report more than files (kb.discover.discover_signature)."""
    if len(sources) != 1 or sources[0].prefix or sources[0].config.include or sources[0].config.exclude:
        return None
    return discover_signature(sources[0].path)


def _filtered(s: Source, found: Discovery) -> Discovery:
    include = [_glob(g) for g in s.config.include]
    exclude = [_glob(g) for g in s.config.exclude]
    if not include and not exclude and not s.prefix:
        return found  # nothing to filter or rename (the usual single folder): no pass over every file
    files = []
    for f in found.files:
        if include and not any(g.match(f.rel) for g in include):
            continue
        if any(g.match(f.rel) for g in exclude):
            continue
        files.append(replace(f, rel=s.prefix + f.rel, categories=tuple(
            (s.prefix + rel, path) for rel, path in f.categories)) if s.prefix else f)
    problems = tuple(replace(p, path=s.prefix + p.path) for p in found.problems) if s.prefix else found.problems
    if not files and (include or exclude):
        raise ContentError(f"source folder {s.path} holds no page matching its include/exclude globs")
    return Discovery(tuple(files), problems)


@lru_cache(maxsize=256)
def _glob(pattern: str) -> re.Pattern[str]:
    """A path glob as a regex: `**` crosses folders, `*` and `?` stay within one, a pattern without `/` matches
    the file name at any depth (as .gitignore does)."""
    pat = pattern.strip().lstrip("/") if "/" in pattern.strip().rstrip("/") else "**/" + pattern.strip()
    if pat.endswith("/"):
        pat += "**"
    out = []
    i = 0
    while i < len(pat):
        if pat.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pat.startswith("**", i):
            out.append(".*")
            i += 2
        elif pat[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pat[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pat[i]))
            i += 1
    return re.compile("".join(out) + "(?:/.*)?$")
