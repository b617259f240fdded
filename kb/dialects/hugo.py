"""Hugo: TOML/YAML front matter, `{{< >}}`/`{{% %}}` shortcodes, `_index.md` section pages, headless bundles,
`{#id}` headings, GitHub alerts, footnotes and emoji; Hugo's default (github) heading ids."""

from __future__ import annotations

import functools
import os
import re
from typing import Any

from .base import Dialect
from .source import blank, code_mask, map_prose

# A whole shortcode tag, arguments and all (they may span lines); `{{</* x */>}}` is Hugo's escape for showing one.
_SHORTCODE = re.compile(r"\{\{([<%])(?!/\*)[ \t]*/?[ \t]*[\w./-]+(?:[^{}]|\{[^{}]{0,200}\}){0,2000}?(?<!\*/)[>%]\}\}",
                        re.S)
_CODE_SHORTCODE = re.compile(r"^([ \t]*)\{\{[<%][ \t]*(/?)[ \t]*(code-toggle|highlight|code)\b[^\n]*?[>%]\}\}[ \t]*$")
_SHORTCODE_DEFINITION = re.compile(r"^:[ \t]+\{\{[<%][^{}]*[>%]\}\}[ \t]*$")
_ESCAPED = re.compile(r"\{\{([<%])/\*[ \t]*(.*?)[ \t]*\*/([>%])\}\}", re.S)
# A shortcode where a link's destination goes (`[x]({{< relref "y" >}})`, `[x]: <{{% eturl y %}}>`): the link stays.
_DESTINATION = re.compile(r"(\]\(<?|\]:[ \t]*<?)\{\{[<%][^{}\n]*?[>%]\}\}")
_INDEX_NAMES = ("index.md", "_index.md", "index.markdown", "_index.markdown")


class Hugo(Dialect):
    name = "hugo"
    attr_lists = True
    config_files = ("hugo.toml", "hugo.yaml", "hugo.yml", "hugo.json", "config.toml", "config/_default/hugo.toml",
                    "config/_default/config.toml")

    def prepare(self, body: str) -> str:
        if "{{" in body:
            body = self._shortcodes(body)
        return super().prepare(body)

    @staticmethod
    def _shortcodes(body: str) -> str:
        lines = body.split("\n")
        mask = code_mask(lines)
        opened: tuple[int, str] | None = None
        for i, line in enumerate(lines):  # paired shortcodes whose inner text is code become fences
            if mask[i] or "{{" not in line:
                continue
            if _SHORTCODE_DEFINITION.match(line):  # `: {{< new-in 0.153.0 />}}`: emptied, a lone `:` would break
                lines[i] = ""  # the definition list (": :" in the text); a blank line between term and `: ` is fine
                continue
            if not (m := _CODE_SHORTCODE.match(line)):
                continue
            if m.group(2) and opened is not None and opened[1] == m.group(3):
                lines[opened[0]] = lines[opened[0]][: len(lines[opened[0]]) - len(lines[opened[0]].lstrip())] + "```"
                lines[i] = m.group(1) + "```"
                opened = None
            elif not m.group(2) and not line.rstrip().endswith(("/>}}", "/%}}")):
                opened = (i, m.group(3))
        body = "\n".join(lines)
        body = _DESTINATION.sub(r"\1#", body) if "](" in body or "]:" in body else body
        body = map_prose(body, lambda text: _SHORTCODE.sub(blank, text) if "{{" in text else text)
        return _ESCAPED.sub(r"{{\1 \2 \3}}", body)

    def skip(self, meta: dict[str, Any], path: str, rel: str) -> str:
        if _headless(meta) or _never_rendered(meta.get("build") or meta.get("_build")):
            return "headless or never rendered (Hugo does not publish it)"
        root = path[: len(path) - len(rel)].rstrip("/" + os.sep) if path.endswith(rel) else ""
        folder = os.path.dirname(path)
        own_index = os.path.basename(path) in _INDEX_NAMES
        while root and folder.startswith(root) and len(folder) > len(root):
            hides = _folder_hides(folder)
            if hides == "cascade" or (hides == "headless" and not own_index):
                return "inside a headless bundle or a never-rendered section (Hugo does not publish it)"
            own_index = False
            folder = os.path.dirname(folder)
        return ""


def _headless(meta: dict[str, Any]) -> bool:
    value = meta.get("headless")
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def _never_rendered(build: object) -> bool:
    return isinstance(build, dict) and str(build.get("render", "")).lower() in ("never", "false")


def _cascade_hides(cascade: object) -> bool:
    items = cascade if isinstance(cascade, list) else [cascade]
    return any(isinstance(c, dict) and _never_rendered(c.get("build") or c.get("_build")) for c in items)


@functools.lru_cache(maxsize=4096)
def _folder_hides(folder: str) -> str:
    """"headless" when the folder is a headless leaf bundle, "cascade" when its section page cascades
    `build: {render: never}` to everything under it, else ""."""
    from ..parse import split_frontmatter

    for name in ("index.md", "_index.md"):
        try:
            with open(os.path.join(folder, name), "rb") as fh:
                head = fh.read(16384).decode("utf-8-sig", errors="replace")
        except OSError:
            continue
        if "headless" not in head and "never" not in head:
            return ""
        meta, _body, _line, _problem = split_frontmatter(head.replace("\r\n", "\n"), name)
        if _cascade_hides(meta.get("cascade")):
            return "cascade"
        return "headless" if _headless(meta) else ""
    return ""
