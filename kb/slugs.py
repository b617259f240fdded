"""Heading anchors as Docusaurus and GitHub compute them (github-slugger), so `path#anchor` links match the site."""

from __future__ import annotations

import re
import unicodedata

_CUSTOM_ID = re.compile(r"\s*\{#([^}\s]+)\}\s*$")


def split_custom_id(heading: str) -> tuple[str, str | None]:
    """`Title {#my-id}` -> ("Title", "my-id"); headings without one return None."""
    m = _CUSTOM_ID.search(heading)
    if not m:
        return heading, None
    return heading[: m.start()], m.group(1)


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


class Slugger:
    """Gives each heading on a page a unique anchor: `overview`, `overview-1`, `overview-2`, like github-slugger."""

    def __init__(self) -> None:
        # "" is the anchor of the text before the first heading, so a heading with no text gets "-1", "-2", ...
        self._seen: dict[str, int] = {"": 0}

    def slug(self, text: str, custom: str | None = None) -> str:
        base = custom if custom else slugify(text)
        slug = base
        while slug in self._seen:
            self._seen[base] += 1
            slug = f"{base}-{self._seen[base]}"
        self._seen.setdefault(slug, 0)
        self._seen.setdefault(base, 0)
        return slug
