"""Heading anchors as each kind of site computes them, so `path#anchor` links open the right place.

GitHub, Docusaurus, Hugo (its default `github` id type) and Jekyll (kramdown's GFM ids) share github-slugger's
rules; MkDocs uses Python-Markdown's toc slugify; Obsidian links to a heading by its text.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

_CUSTOM_ID = re.compile(r"\s*\{#([^}\s]+)\}\s*$")
# An attribute list closing a heading: `{ #id .class key=value }` (MkDocs attr_list, Hugo, kramdown `{: #id}`).
_ATTR_LIST = re.compile(r"\s*\{:?[ \t]*((?:[#.][^\s{}]+|[\w-]+=(?:\"[^\"]*\"|'[^']*'|[^\s{}]+))"
                        r"(?:[ \t]+(?:[#.][^\s{}]+|[\w-]+=(?:\"[^\"]*\"|'[^']*'|[^\s{}]+)))*)[ \t]*\}\s*$")


def split_custom_id(heading: str) -> tuple[str, str | None]:
    """`Title {#my-id}` -> ("Title", "my-id"); headings without one return None."""
    m = _CUSTOM_ID.search(heading)
    if not m:
        return heading, None
    return heading[: m.start()], m.group(1)


def split_attr_list(heading: str) -> tuple[str, str | None]:
    """`Title { #my-id .class }` -> ("Title", "my-id"): the attribute list is dropped, its `#id` is the anchor."""
    m = _ATTR_LIST.search(heading)
    if not m:
        return heading, None
    ids = [part[1:] for part in m.group(1).split() if part.startswith("#") and len(part) > 1]
    return heading[: m.start()].rstrip(), (ids[-1] if ids else None)


def slugify(text: str) -> str:
    """Lower-case, drop punctuation (keeping letters, digits, marks, `-` and `_` in any script), spaces to `-`."""
    out = []
    for ch in text.lower():
        if ch == " " or ch == "-" or ch == "_":
            out.append("-" if ch == " " else ch)
            continue
        cat = unicodedata.category(ch)
        if cat[0] in "LNM":
            out.append(ch)
    return "".join(out)


_TOC_DROP = re.compile(r"[^\w\s-]")
_TOC_SEP = re.compile(r"[-\s]+")


def toc_slugify(text: str) -> str:
    """Python-Markdown's `toc` slugify (MkDocs' default): ASCII-folded, punctuation dropped, runs of `-`/spaces to
    one `-`."""
    value = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return _TOC_SEP.sub("-", _TOC_DROP.sub("", value).strip().lower())


_OBSIDIAN_DROP = re.compile(r"[#|^:%\[\]\\]+")


def obsidian_anchor(text: str) -> str:
    """Obsidian links to a heading by its text (`[[Page#Heading text]]`); Publish writes the spaces as `+`."""
    return "+".join(_OBSIDIAN_DROP.sub(" ", text).split())


class Slugger:
    """Gives each heading on a page a unique anchor: `overview`, `overview-1`, `overview-2`, like github-slugger."""

    def __init__(self, slugify: Callable[[str], str] = slugify) -> None:
        # "" is the anchor of the text before the first heading, so a heading with no text gets "-1", "-2", ...
        self._seen: dict[str, int] = {"": 0}
        self._slugify = slugify

    def slug(self, text: str, custom: str | None = None) -> str:
        base = custom if custom else self._slugify(text)
        slug = base
        while slug in self._seen:
            self._seen[base] += 1
            slug = f"{base}-{self._seen[base]}"
        self._seen.setdefault(slug, 0)
        self._seen.setdefault(base, 0)
        return slug


_IDCOUNT = re.compile(r"^(.*)_([0-9]+)$")


class TocSlugger:
    """Python-Markdown toc's ids: `overview`, `overview_1`, `overview_2`; an attr_list `#id` is kept as written."""

    def __init__(self) -> None:
        self._seen: set[str] = set()
        self._last: dict[str, str] = {}  # base -> the last id it was given: the ids before it are all taken

    def slug(self, text: str, custom: str | None = None) -> str:
        base = custom if custom else toc_slugify(text)
        slug = self._last.get(base, base)
        while slug in self._seen or not slug:
            m = _IDCOUNT.match(slug)
            slug = f"{m.group(1)}_{int(m.group(2)) + 1}" if m else f"{slug}_1"
        self._seen.add(slug)
        self._last[base] = slug
        return slug
