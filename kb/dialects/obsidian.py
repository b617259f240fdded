"""Obsidian vaults: wikilinks and embeds read as their display text, callouts, `%% comments %%`, `#tags`,
`==highlights==`; the title is the file name, and a heading's anchor is its text, as Obsidian links to it."""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Any

from ..parse import meta_list
from ..slugs import Slugger, obsidian_anchor
from .base import Dialect, stem_path
from .source import blank, map_prose

_COMMENT = re.compile(r"%%.*?%%", re.S)
_WIKILINK = re.compile(r"(?P<code>(?<!`)(?P<ticks>`+)(?!`).+?(?<!`)(?P=ticks)(?!`))|(?P<embed>!?)\[\["
                       r"(?P<target>[^\[\]|#^\n]*)(?P<sub>(?:#\^?|\^)(?:[^\[\]|\n]|\n(?!\n))*)?"
                       r"(?:\\?\|(?P<alias>(?:[^\[\]\n]|\n(?!\n))*))?\]\]")
_TAG = re.compile(r"(?:(?<=\s)|^)#([\w/-]*[^\W\d][\w/-]*)")
_BLOCK_ID = re.compile(r"(?:^|[ \t])\^[A-Za-z0-9-]+[ \t]*$")  # `text ^block-id`: a link target Obsidian hides
_HIGHLIGHT = re.compile(r"==(?=\S)(.+?)(?<=\S)==")


def _display(m: re.Match[str]) -> str:
    if m.group("code"):
        return m.group(0)  # a code span shows its wikilink as written
    embed, target, sub, alias = m.group("embed"), m.group("target").strip(), m.group("sub") or "", m.group("alias")
    if alias is not None and alias.strip() and not (embed and re.fullmatch(r"\d+(?:x\d+)?", alias.strip())):
        return " ".join(alias.split())
    name = PurePosixPath(target).name if target else ""
    if embed and "." in name and not name.lower().endswith(".md"):
        return name  # an embedded file (image, PDF): its name
    if name.lower().endswith(".md"):
        name = name[:-3]
    heading = " ".join(sub.lstrip("#^").split())
    if sub.startswith("#^") or sub.startswith("^"):
        return name
    return f"{name} > {heading}" if name and heading else (name or heading)


def _prose(text: str) -> str:
    if "[[" in text:
        text = _WIKILINK.sub(_display, text)
    return text


class Obsidian(Dialect):
    name = "obsidian"
    config_files = (".obsidian",)

    def prepare(self, body: str) -> str:
        if "%%" in body:
            body = map_prose(body, lambda text: _COMMENT.sub(blank, text) if "%%" in text else text)
        if "[[" in body:
            body = map_prose(body, _prose, spans=False)  # _WIKILINK itself steps over code spans
        return super().prepare(body)

    def clean_text(self, text: str) -> str:
        text = super().clean_text(text)
        if "==" in text:
            text = _HIGHLIGHT.sub(r"\1", text)
        if "^" in text:
            text = _BLOCK_ID.sub("", text)
        return text

    def slugger(self) -> Any:
        return Slugger(obsidian_anchor)

    def title(self, meta: dict[str, Any], headings: list[tuple[int, str]], rel: str) -> str:
        return PurePosixPath(rel).stem  # Obsidian shows the note's file name as its title

    def page_id(self, meta: dict[str, Any], rel: str) -> str:
        return stem_path(rel)

    def tags(self, meta: dict[str, Any], tags: tuple[str, ...], texts: list[str]) -> tuple[str, ...]:
        found = list(tags) + list(meta_list(meta, "tag")) + list(meta_list(meta, "aliases"))
        found += list(meta_list(meta, "alias"))
        for text in texts:
            if "#" in text:
                found += [m.group(1) for m in _TAG.finditer(text)]
        return tuple(dict.fromkeys(t.lstrip("#") for t in found if t.lstrip("#")))
