"""What a dialect may change in how a page is read; the defaults read plain CommonMark the GitHub way."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from ..markup import clean_source
from ..slugs import Slugger, split_attr_list
from .source import code_mask

if TYPE_CHECKING:
    from markdown_it import MarkdownIt

# `:emoji:` and `:material-icon-name:` shortcodes: a reader sees a picture, not the code.
_SHORTCODE = re.compile(r"(?<![\w:/]):[a-z0-9+_][a-z0-9+_-]*:(?![\w:/])")
# `{ .class #id key=value }` attribute lists after links, paragraphs and images (dialects with `attr_lists`).
_ATTR = (r"(?:[#.][\w-]+|[\w-]+=(?:\"[^\"]*\"|'[^']*'|[^\s{}]+))")
_ATTR_LIST = r"\{:?[ \t]*" + _ATTR + r"(?:[ \t]+" + _ATTR + r")*[ \t]*\}"
# Where one is syntax rather than text: with kramdown's colon (`{: .note}`) anywhere; without it only where an
# inline element or a line ends (`[a](b){ .button }`, `...text.{ #para }`), i.e. at the start or end of a text
# token. `set the header {Authorization=Bearer} first`, `x_{i=1}^{n}` and `JSON {a=1}` are prose and math.
_ATTRS = re.compile(r"\{:[ \t]*" + _ATTR + r"(?:[ \t]+" + _ATTR + r")*[ \t]*\}|^[ \t]*" + _ATTR_LIST + "|"
                    + _ATTR_LIST + r"[ \t]*$")

_UNDEFINED_REF = re.compile(r"\[([^\[\]\n]+)\]\[[^\[\]\n]*\]")


class Dialect:
    """A plugin over the source (`prepare`), the parser (`configure`), text tokens (`text`) and page metadata."""

    name = "github"
    alerts = True  # `> [!NOTE]` blockquotes are alerts/callouts
    attr_lists = False  # `{ .class #id }` after inline elements and blocks is syntax (kramdown, attr_list, goldmark)
    footnotes = True
    #: Kinds of leftovers that `kb check` looks for besides the common ones (see kb/check.py).
    config_files: tuple[str, ...] = ()

    def __init__(self) -> None:
        self.text: Callable[[str], str] | None = self.clean_text

    def prepare(self, body: str) -> str:
        """The page's source rewritten into CommonMark plus admonition markers, line count unchanged."""
        if self.footnotes and "[^" in body:
            body = refs_before_footnotes(body)
        return clean_source(body)

    def configure(self, md: MarkdownIt) -> None:
        if self.footnotes:
            from mdit_py_plugins.footnote import footnote_plugin

            md.use(footnote_plugin, inline=False)
        from mdit_py_plugins.tasklists import tasklists_plugin

        md.use(tasklists_plugin)

    def clean_text(self, text: str) -> str:
        """Inline syntax the parser leaves in text tokens (never in code)."""
        if ":" in text:
            text = _SHORTCODE.sub("", text)
        if "{" in text and self.attr_lists:
            text = _ATTRS.sub("", text)
        if "][" in text:  # a reference link whose definition is missing: its text, as a reader would take it
            text = _UNDEFINED_REF.sub(r"\1", text)
        return text

    def heading(self, text: str) -> tuple[str, str | None]:
        """Heading text -> (text a reader sees, custom anchor or None)."""
        if text.endswith("}"):
            return split_attr_list(text)
        return text, None

    def slugger(self) -> Any:
        return Slugger()

    def title(self, meta: dict[str, Any], headings: list[tuple[int, str]], rel: str) -> str:
        """The page title when the dialect decides it differently ("" for the frontmatter/H1/file name rule)."""
        return ""

    def page_id(self, meta: dict[str, Any], rel: str) -> str:
        return ""

    def tags(self, meta: dict[str, Any], tags: tuple[str, ...], texts: list[str]) -> tuple[str, ...]:
        return tags

    def skip(self, meta: dict[str, Any], path: str, rel: str) -> str:
        """Why a page is not published by the site ("" when it is)."""
        return ""


_FOOTNOTE_DEF = re.compile(r"^ {0,3}\[\^[^\]]+\]:")
_REF_DEF = re.compile(r"^ {0,3}\[[^\]^][^\]]*\]:[ \t]*\S")


def refs_before_footnotes(body: str) -> str:
    """Move link-reference definitions written right under a footnote definition above it: otherwise they are a
    lazy continuation of the footnote's text, and every link using them breaks (GitHub and Hugo keep them apart)."""
    lines = body.split("\n")
    mask = code_mask(lines)
    i, n = 0, len(lines)
    while i < n:
        if mask[i] or not _FOOTNOTE_DEF.match(lines[i]):
            i += 1
            continue
        j = i
        while j < n and lines[j].strip() and not mask[j]:
            j += 1
        run = lines[i:j]
        refs = [line for line in run if _REF_DEF.match(line)]
        if refs:
            lines[i:j] = refs + [line for line in run if not _REF_DEF.match(line)]
        i = j
    return "\n".join(lines)


def stem_path(rel: str) -> str:
    return str(PurePosixPath(rel).with_suffix(""))
