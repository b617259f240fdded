"""Turn any address kb prints back into the page or section it names (what `kb show` accepts).

`path`, `path:line`, `path:line#anchor`, `page#anchor`, `path:line:col` (the --vimgrep form), a file path on disk
inside a source folder, and a published URL kb produced. A line picks the section that contains it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from .errors import NotFound, shown
from .model import PageText, SectionText

if TYPE_CHECKING:
    from .api import KnowledgeBase

_LINE = re.compile(r"^(?P<path>.+?):(?P<line>\d{1,18})(?::\d{1,18})?:?$")  # (a longer number is no line: a path)


def lookup_address(kb: KnowledgeBase, address: str) -> PageText | SectionText:
    text = address.strip()
    if re.match(r"^https?://", text, re.IGNORECASE):
        return _by_url(kb, text)
    target, hashmark, anchor = text.partition("#")
    line: int | None = None
    m = _LINE.match(target)
    if m:
        target, line = m.group("path"), int(m.group("line"))
    page_ref = _on_disk(kb, target) or _qualified(kb, target)
    if hashmark:
        return kb.section(page_ref, anchor)
    page = kb.page(page_ref)
    if line is None:
        return page
    best = page.sections[0]
    for s in page.sections:
        if s.line <= line:
            best = s
    return best


def _qualified(kb: KnowledgeBase, target: str) -> str:
    """With several sources, a page named without its source's name is found when exactly one source has it."""
    if len(kb.sources) < 2:
        return target
    try:
        return kb.resolve_page(target)
    except NotFound:
        pass
    found = []
    for s in kb.sources:
        try:
            found.append(kb.resolve_page(s.prefix + target.lstrip("/")))
        except NotFound:
            continue
    if len(found) == 1:
        return found[0]
    if len(found) > 1:
        raise NotFound(f"{shown(target)} is in several sources ({', '.join(found)}); name one of them")
    return target


def _on_disk(kb: KnowledgeBase, target: str) -> str | None:
    """A path to a page file on disk (as --vimgrep prints it) as the page's indexed path."""
    path = Path(target)
    try:
        if not path.is_file():
            return None
        real = path.resolve()
    except OSError:
        return None
    for s in kb.sources:
        try:
            rel = real.relative_to(s.path.resolve())
        except (ValueError, OSError):
            continue
        return s.prefix + rel.as_posix()
    return None


def _norm(route: str) -> str:
    route = unquote(route).rstrip("/")
    for ext in (".html", ".htm"):
        if route.endswith(ext):
            route = route[: -len(ext)]
    if route.endswith("/index"):
        route = route[: -len("/index")]
    return route or "/"


def _by_url(kb: KnowledgeBase, url: str) -> PageText | SectionText:
    try:
        parts = urlsplit(url)
    except ValueError:  # "Invalid IPv6 URL" ("http://[::1"): no page is published there
        raise NotFound(f"{shown(url)} is not a URL kb can read", fix="url") from None
    bare = parts._replace(fragment="", query="").geturl()
    for s in kb.sources:
        if not s.base_url:
            continue
        base = s.base_url.rstrip("/")
        if not (bare.lower() + "/").startswith(base.lower() + "/"):
            continue
        route = _norm("/" + bare[len(base):].lstrip("/"))
        docs: list[dict[str, Any]] = kb._stored(source=s.name)
        for doc in docs:
            stored = doc.get("route")
            if stored and _norm(str(stored)) == route:
                if parts.fragment:
                    return kb.section(str(doc["path"]), unquote(parts.fragment))
                return kb.page(str(doc["path"]))
    raise NotFound(f"no page in the index is published at {shown(url)[1:-1]}", fix="url")
