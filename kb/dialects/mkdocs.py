"""MkDocs with Material and pymdownx: admonitions, `///` blocks, content tabs, attribute lists, snippets, icons,
abbreviations, mkdocstrings and mkdocs-macros (Jinja); Python-Markdown toc ids."""

from __future__ import annotations

import re
from typing import Any

from ..markup import ADMONITION_END
from ..slugs import TocSlugger
from .base import Dialect
from .jekyll import liquid
from .source import code_mask, indented_blocks, start_marker

_ADMONITION = re.compile(r"^([ \t]*)(?:!!!|\?\?\?\+?)[ \t]+[^\"\n]*?(?:\"([^\"]*)\")?[ \t]*$")
_TAB = re.compile(r"^([ \t]*)===\+?[ \t]+\"([^\"]*)\"[ \t]*$")
_BLOCK = re.compile(r"^([ \t]*)/{3,}[ \t]*(?:([\w-]+)[ \t]*(?:\|[ \t]*(.*?))?)?[ \t]*$")
_BLOCK_OPTION = re.compile(r"^[ \t]{4,}[\w-]+:")
_INCLUDE = re.compile(r"^[ \t]*\{\*.*\*\}[ \t]*$")  # FastAPI's `{* ../../docs_src/app.py hl[3] *}`
_SNIPPET = re.compile(r"^[ \t]*(?:;?-{2,}8<-{2,})")
_ABBR = re.compile(r"^\*\[[^\]]+\]:")
_MKDOCSTRINGS = re.compile(r"^([ \t]*):::[ \t]+([\w.:-]+)[ \t]*$")
_LONGEST = 1000  # an opening line longer than this is prose (and no regex scans it)
_KEYS = re.compile(r"\+\+([\w+-]+?)\+\+")
_MARK = re.compile(r"(==|\^\^)(?=\S)(.+?)(?<=\S)\1")


def _opener(line: str) -> tuple[str, str] | None:
    if ("!!!" not in line and "???" not in line and "===" not in line) or len(line) > _LONGEST:
        return None
    m = _ADMONITION.match(line) or _TAB.match(line)
    return (m.group(1), m.group(2) or "") if m else None


class MkDocs(Dialect):
    name = "mkdocs"
    attr_lists = True
    alerts = False
    config_files = ("mkdocs.yml", "mkdocs.yaml")

    def prepare(self, body: str) -> str:
        if "{%" in body:  # the mkdocs-macros plugin runs Jinja over the page first, as Jekyll runs Liquid
            body = liquid(body)
        lines = body.split("\n")
        mask = code_mask(lines)
        out: list[str] = []
        options = ""  # "block": YAML options under `/// type`; "api": the indented options of `::: module`
        snippet_block = False
        for line, is_code in zip(lines, mask, strict=True):
            if options == "api" and (not line.strip() or line.startswith(("    ", "\t"))):
                out.append("")
                continue
            if is_code:
                options = ""
                out.append(line)
                continue
            if options == "block" and _BLOCK_OPTION.match(line):
                out.append("")
                continue
            options = ""
            if line.strip() in ("--8<--", ";--8<--"):  # a block of snippet file names opens or closes
                snippet_block = not snippet_block
                out.append("")
                continue
            if snippet_block or _SNIPPET.match(line):
                out.append("")
                continue
            if "///" in line and len(line) <= _LONGEST and (m := _BLOCK.match(line)):
                kind, title = m.group(2), m.group(3)
                if kind is None:
                    out.append(m.group(1) + ADMONITION_END)
                else:
                    out.append(start_marker(m.group(1), "" if kind == "html" else (title or "").strip("\"'")))
                    options = "block"
                continue
            if _INCLUDE.match(line) or _ABBR.match(line):
                out.append("")
                continue
            if ":::" in line and (m := _MKDOCSTRINGS.match(line)):
                out.append(m.group(1) + m.group(2))
                options = "api"
                continue
            out.append(line)
        return super().prepare("\n".join(indented_blocks(out, _opener)))

    def clean_text(self, text: str) -> str:
        text = super().clean_text(text)
        if "++" in text:
            text = _KEYS.sub(lambda m: m.group(1).replace("+", " + ").replace("-", " "), text)
        if "==" in text or "^^" in text:
            text = _MARK.sub(r"\2", text)
        return text

    def slugger(self) -> Any:
        return TocSlugger()
