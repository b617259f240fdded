"""GitHub-flavoured Markdown (READMEs, wikis, plain folders): alerts, footnotes, task lists, emoji shortcodes, and
GitHub wiki links."""

from __future__ import annotations

import re

from .base import Dialect
from .source import map_prose

# GitHub wiki links: `[[Page]]`, `[[Link text|Page]]` (the text comes first, unlike Obsidian's alias).
_WIKI_LINK = re.compile(r"\[\[([^\[\]|\n]+)(?:\|[^\[\]\n]+)?\]\]")


class GitHub(Dialect):
    name = "github"

    def prepare(self, body: str) -> str:
        if "[[" in body:
            body = map_prose(body, lambda text: _WIKI_LINK.sub(lambda m: m.group(1).strip(), text))
        return super().prepare(body)
