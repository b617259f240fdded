"""Site chrome: pages a site generator needs but that answer nothing (a 404 page, a tag listing, an empty index).

Such a page can match a query word by accident ("founded" stems to "found", and "Page not found" holds it) and,
being short, win on length normalisation. Ranking calls `is_chrome` on the stored fields of each candidate it
reads; chrome sorts after every content hit and keeps only a sliver of its score. Decided from what a candidate's
stored fields say, so it needs no index change and costs nothing for candidates that are not read.
"""

from __future__ import annotations

import re

from .analysis import fold

TYPE_CHECKING = False  # rather than typing's: a cold search does not import typing (kb/__init__.py)
if TYPE_CHECKING:
    from typing import Any

CHROME_FACTOR = 0.05  # score kept by a chrome candidate (it also sorts after every content hit)
SHORT_BODY = 400  # characters: a "not found" page that says more than this is a page about 404 pages

_NOT_FOUND = re.compile(r"^(error\s*)?(404\b.*|(page|file|document)\s+(was\s+)?not\s+found.*|not\s+found)$")
_LISTING_TITLE = re.compile(r"^(tags?|all\s+tags|categories|archives?|(posts?|pages?|articles?)\s+tagged\b.*"
                            r"|tagged(\s+with)?\b.*|tag:.*|category:.*)$")
_LISTING_DIRS = frozenset({"tags", "tag", "categories", "category", "archive", "archives"})
_INDEX_STEMS = frozenset({"index", "_index", "readme"})


def is_chrome(fields: dict[str, Any]) -> bool:
    """True for a passage of a not-found page, a tag/category listing, or an index page with no text at all."""
    title = fold(str(fields.get("title", ""))).strip(" .!")
    section = fold(str(fields.get("section", ""))).strip(" .!")
    body = str(fields.get("body", ""))
    code = str(fields.get("code", ""))
    path = str(fields.get("path", "")).lower()
    parts = path.split("/")
    stem = parts[-1].rsplit(".", 1)[0]
    if len(body) <= SHORT_BODY and not code and (
            _NOT_FOUND.match(title) or _NOT_FOUND.match(section) or stem == "404"):
        return True
    if len(parts) <= 2 and (parts[0] in _LISTING_DIRS or stem in _LISTING_DIRS) and _LISTING_TITLE.match(title):
        return True  # a top-level tags/categories page (a nested "tags" page is usually an API reference)
    if title.startswith(("posts tagged", "pages tagged", "articles tagged", "tagged with", "tag:", "category:")):
        return True
    return stem in _INDEX_STEMS and not body.strip() and not code.strip() and not fields.get("anchor")
