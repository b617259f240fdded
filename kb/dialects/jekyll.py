"""Jekyll: Liquid tags and output removed outside code, `{% raw %}` kept as the page shows it, `{% highlight %}`
blocks as code, kramdown attribute lists; kramdown's GFM heading ids."""

from __future__ import annotations

import re

from .base import Dialect
from .source import code_mask

# Tags are bounded in length: an unclosed `{%` must not make every later one scan to the end of the page.
_LIQUID = re.compile(r"\{%-?[ \t]*(\w+)(.{0,500}?)-?%\}|\{\{.{0,500}?\}\}", re.S)
_ENDRAW = re.compile(r"\{%-?[ \t]*(endraw)[ \t]*-?%\}")
_DESTINATION = re.compile(r"(\]\(<?|\]:[ \t]*<?)(?:\{\{[^{}\n]*\}\}|\{%[^{}\n]*%\})")
_EMPHASISED_OUTPUT = re.compile(r"(\*\*|__|\*|_)\{\{[^{}\n]*\}\}\1")
# A span tag alone on its line: kramdown reads the Markdown inside it, CommonMark would take it for raw HTML.
_SPAN_LINE = re.compile(r"^[ \t]*</?(?:em|strong|b|i|span|small)>[ \t]*$", re.M)
# kramdown's `* TOC` + `{:toc}`: the list item is replaced by the table of contents, not shown as "TOC".
_TOC = re.compile(r"^[ \t]*(?:[-*+]|1\.)[ \t]+[^\n]*(?=\n[ \t]*\{:[ \t]*\.?toc[ \t]*\})", re.M)
_IAL_LINE = re.compile(r"^[ \t]*\{:[^}\n]*\}[ \t]*$", re.M)


class Jekyll(Dialect):
    name = "jekyll"
    attr_lists = True
    alerts = False
    config_files = ("_config.yml", "_config.yaml", "_config.toml")

    def prepare(self, body: str) -> str:
        if "{{" in body or "{%" in body:
            body = _EMPHASISED_OUTPUT.sub("", _DESTINATION.sub(r"\1#", body))
        if "{%" in body or "{{" in body:
            body = liquid(body)
        if "<" in body:
            body = _SPAN_LINE.sub("", body)
        if "{:" in body:
            body = _IAL_LINE.sub("", _TOC.sub("", body))
        return super().prepare(body)


def liquid(body: str) -> str:
    """Remove Liquid the way Jekyll runs it before Markdown: tags and `{{ output }}` outside code vanish, the inside
    of `{% raw %}` stays literally, `{% comment %}` bodies go, `{% highlight lang %}` becomes a code fence."""
    mask = code_mask(body.split("\n"))
    out: list[str] = []
    pos = line = 0
    raw = comment = highlight = False
    while True:
        # inside `{% raw %}` only its end counts: `{% raw %}`{{`{% endraw %}` shows `{{`, however it reads on
        m = (_ENDRAW if raw else _LIQUID).search(body, pos)
        if m is None:
            break
        line += body.count("\n", pos, m.start())
        before = body[pos: m.start()]
        out.append("\n" * before.count("\n") if comment else before)
        whole, tag = m.group(0), (m.group(1) or "").lower()
        newlines = "\n" * whole.count("\n")
        if raw:  # (the match is its endraw)
            out.append(newlines)
            raw = False
        elif tag == "endraw":  # one without a raw before it
            out.append(newlines)
        elif tag == "raw":
            raw = True
            out.append(newlines)
        elif tag in ("comment", "capture"):  # a capture's body is assigned to a variable, not shown there
            comment = True
            out.append(newlines)
        elif tag in ("endcomment", "endcapture"):
            comment = False
            out.append(newlines)
        elif tag == "highlight":
            highlight = True
            out.append("```" + (m.group(2) or "").split(" linenos")[0].strip() + newlines)
        elif tag == "endhighlight":
            highlight = False
            out.append("```" + newlines)
        elif comment or highlight or mask[min(line, len(mask) - 1)]:
            out.append(whole if not comment else newlines)
        else:
            out.append(newlines)
        line += whole.count("\n")
        pos = m.end()
    rest = body[pos:]
    out.append("\n" * rest.count("\n") if comment else rest)
    return "".join(out)
