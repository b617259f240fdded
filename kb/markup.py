"""Source-level clean-up of Docusaurus/MDX Markdown before markdown-it-py renders it.

A CommonMark renderer knows nothing of MDX: left alone, `import` lines, `<Tabs>` components, `{/* comments */}` and
`:::tip` fences would reach the index as literal syntax. We rewrite them here, line by line and outside code, into
plain Markdown plus two private-use markers that the section walker understands (admonition start/end).
"""

from __future__ import annotations

import re

ADMONITION_START = "\ue000"  # followed by the admonition title (possibly empty), then ADMONITION_CLOSE
ADMONITION_END = "\ue001"
ADMONITION_CLOSE = "\ue002"

_FENCE = re.compile(r"^[ \t>]*(`{3,}|~{3,})(.*)$")
_ADMONITION = re.compile(r"^(\s*(?:>\s*)*):{3,}\s*([A-Za-z][\w-]*)?\s*(.*?)\s*$")
_MDX_IMPORT = re.compile(r"^(?:import\s+(?:[\w*{}\s,]+\s+from\s+)?['\"][^'\"]+['\"];?|import\s+\w+\s*,?\s*$)\s*$")
# An import statement that goes on over the next lines (`import {` ... `} from "./x";`, `import A,` ...), and the
# line that ends it (its `from "module"`).
_MDX_IMPORT_OPEN = re.compile(r"^import(?:\s+(?:(?:\w+\s*,\s*)?\{[^}]*|\w+\s*,|\*\s+as\s+\w+|\w+))?\s*$")
_MDX_IMPORT_END = re.compile(r"(?:^|\s|\})from\s+['\"][^'\"]+['\"]\s*;?\s*$|^['\"][^'\"]+['\"]\s*;?\s*$")
MDX_IMPORT_LINES = 50  # an import left open longer than this is not one: the lines after it are kept
_MDX_EXPORT = re.compile(r"^export\s+(?:default\s+)?(?:const|let|var|function|class|async|\{)")
# A code span (kept as it is: group 1 is its backticks; it ends at the same number of backticks and never runs past
# a blank line), else an HTML or MDX comment (blanked), whichever starts first.
_COMMENT_OR_SPAN = re.compile(r"(`+)(?:(?!\n[ \t]*\n)[\s\S])*?(?<!`)\1(?!`)|<!--.*?-->|\{/\*.*?\*/\}", re.S)
_TAG_NAME = re.compile(r"</?([A-Za-z][\w.-]*)")
_SPECIAL = frozenset("\n`<")  # what `_strip_tags` looks at; everything else is copied as it is
_PLAIN = re.compile(r"[^\n`<]+")
# Tags whose text is not prose a reader sees.
_DROP_CONTENT_TAGS = frozenset({"script", "style", "svg", "iframe", "head"})
# Tags that markdown-it-py and BeautifulSoup handle well as raw HTML; everything else is unwrapped here so the
# Markdown inside it is still interpreted.
_KEEP_TAGS = frozenset({"table", "thead", "tbody", "tfoot", "tr", "td", "th", "caption", "br", "code", "pre",
                        "kbd", "sub", "sup", "b", "i", "em", "strong"})
_BLOCK_TAGS = frozenset({"div", "details", "summary", "p", "section", "article", "aside", "header", "footer", "nav",
                         "figure", "figcaption", "blockquote", "ul", "ol", "li", "dl", "dt", "dd", "center", "main",
                         "h1", "h2", "h3", "h4", "h5", "h6", "hr", "tabs", "tabitem"})


def code_mask(lines: list[str]) -> list[bool]:
    """For each line, whether it belongs to a fenced code block (fence lines included)."""
    mask: list[bool] = []
    fence: str | None = None
    for line in lines:
        m = _FENCE.match(line) if ("`" in line or "~" in line) else None
        if fence is not None:
            mask.append(True)
            if m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence) and not m.group(2).strip():
                fence = None
            continue
        if m and not (m.group(1)[0] == "`" and "`" in m.group(2)):
            fence = m.group(1)
            mask.append(True)
            continue
        mask.append(False)
    return mask


def clean_source(text: str) -> str:
    """Rewrite MDX/Docusaurus constructs into plain Markdown, keeping the line count unchanged.

    Keeping line numbers stable lets sections report the source line of their heading without a second mapping.
    """
    text = _strip_comments(text)
    out: list[str] = []
    in_export = 0
    lines = text.split("\n")
    mask = code_mask(lines)
    i = 0
    while i < len(lines):
        line, is_code = lines[i], mask[i]
        i += 1
        if is_code:
            out.append(line)
            continue
        if in_export:
            in_export += line.count("{") + line.count("(") + line.count("[")
            in_export -= line.count("}") + line.count(")") + line.count("]")
            in_export = max(in_export, 0)
            out.append("")
            continue
        stripped = line.strip()
        if _MDX_IMPORT_OPEN.match(stripped):
            end = _import_end(lines, mask, i)
            if end is not None:  # the statement's lines become blank lines (line numbers stay)
                out += [""] * (end - i + 1)
                i = end
                continue
        if _MDX_IMPORT.match(stripped):
            out.append("")
            continue
        if _MDX_EXPORT.match(stripped):
            depth = sum(stripped.count(c) for c in "{([") - sum(stripped.count(c) for c in "})]")
            in_export = max(depth, 0)
            out.append("")
            continue
        adm = _ADMONITION.match(line)
        if adm:
            out.append(_admonition_marker(adm))
            continue
        out.append(line)
    return _strip_tags("\n".join(out), code_mask(out))


def _import_end(lines: list[str], mask: list[bool], start: int) -> int | None:
    """Index after the last line of an import statement opened on the line before `start`, or None when no
    line within MDX_IMPORT_LINES ends it (then it was prose that starts with "import")."""
    for j in range(start, min(len(lines), start + MDX_IMPORT_LINES)):
        if mask[j] or not lines[j].strip():
            return None
        if _MDX_IMPORT_END.search(lines[j].strip()):
            return j + 1
    return None


def _admonition_marker(m: re.Match[str]) -> str:
    indent, kind, rest = m.group(1), m.group(2), m.group(3)
    if not kind and not rest:
        return f"{indent}{ADMONITION_END}"
    title = rest
    if title.startswith("["):
        title = title[1:].split("]", 1)[0]
    elif title.startswith("{"):
        inner = re.search(r"title\s*=\s*[\"']([^\"']*)", title)
        title = inner.group(1) if inner else ""
    title = title.strip().strip("\"'")
    return f"{indent}{ADMONITION_START}{title}{ADMONITION_CLOSE}"


def _strip_comments(text: str) -> str:
    """Remove HTML and MDX comments, keeping their newlines so line numbers survive; never inside code (a fenced
    block, or a code span: "use a `<!--more-->` divider", an HTML example's own comments), which shows them."""
    if "<!--" not in text and "{/*" not in text:
        return text

    def blank(m: re.Match[str]) -> str:
        return m.group(0) if m.group(1) is not None else "\n" * m.group(0).count("\n")

    lines = text.split("\n")
    out: list[str] = []
    run: list[str] = []  # consecutive lines outside fenced code, cleaned together (a comment may span lines)
    for line, is_code in zip(lines, code_mask(lines), strict=True):
        if is_code:
            if run:
                out += _COMMENT_OR_SPAN.sub(blank, "\n".join(run)).split("\n")
                run = []
            out.append(line)
        else:
            run.append(line)
    if run:
        out += _COMMENT_OR_SPAN.sub(blank, "\n".join(run)).split("\n")
    return "\n".join(out)


def _strip_tags(text: str, mask: list[bool]) -> str:
    """Unwrap JSX/Vue components and most HTML tags outside code (`mask`: which lines are fenced code); drop the
    content of script-like tags."""
    if "<" not in text:
        return text  # nothing to unwrap; backticks and fences alone change nothing
    out: list[str] = []
    i = 0
    n = len(text)
    line_no = seen = 0  # the line `i` is on, counted up to `seen` (a tag may span lines)
    line_start = True
    drop_until: str | None = None
    while i < n:
        ch = text[i]
        if line_start:
            line_end = text.find("\n", i)
            line_end = n if line_end == -1 else line_end
            line = text[i:line_end]
            line_no += text.count("\n", seen, i)
            seen = i
            if mask[line_no]:
                if drop_until is None:
                    out.append(line)
                out.append("\n" if line_end < n else "")
                i = line_end + 1
                continue
            if "<" not in line and "`" not in line:  # a line with no tag and no code span: copied (or dropped) whole
                if drop_until is None:
                    out.append(line)
                out.append("\n" if line_end < n else "")
                i = line_end + 1
                continue
        line_start = False
        if ch not in _SPECIAL:  # a run of plain characters up to the next newline, backtick or `<`: kept whole
            end = _PLAIN.match(text, i).end()  # type: ignore[union-attr]  # (ch itself matches)
            if drop_until is None:
                out.append(text[i:end])
            i = end
            continue
        if ch == "\n":
            out.append(ch)
            line_start = True
            i += 1
            continue
        if ch == "`" and drop_until is None:
            j = i
            while j < n and text[j] == "`":
                j += 1
            ticks = text[i:j]
            close = text.find(ticks, j)
            if close != -1 and "\n\n" not in text[j:close]:
                out.append(text[i: close + len(ticks)])
                i = close + len(ticks)
                continue
            out.append(ticks)
            i = j
            continue
        if ch == "<":
            m = _TAG_NAME.match(text, i)
            if m:
                end = _tag_end(text, m.end())
                if end is not None:
                    name = m.group(1)
                    lname = name.lower()
                    closing = text[i + 1] == "/"
                    tag = text[i:end]
                    if drop_until is not None:
                        if closing and lname == drop_until:
                            drop_until = None
                        out.append("\n" * tag.count("\n"))
                        i = end
                        continue
                    if lname in _DROP_CONTENT_TAGS and not closing and not tag.endswith("/>"):
                        drop_until = lname
                        out.append("\n" * tag.count("\n"))
                        i = end
                        continue
                    if name[0].islower() and lname in _KEEP_TAGS:
                        out.append(tag)
                        i = end
                        continue
                    if lname == "img" or (name[0].islower() and lname not in _KEEP_TAGS and _is_html_name(lname)):
                        out.append(_tag_replacement(tag, lname))
                        i = end
                        continue
                    if name[0].isupper() or "." in name or "-" in name:
                        out.append(_component_replacement(tag))
                        i = end
                        continue
        if drop_until is None:
            out.append(ch)
        elif ch == "\n":
            out.append(ch)
        i += 1
    return "".join(out)


_HTML_NAMES = _BLOCK_TAGS | {"span", "a", "font", "small", "big", "u", "s", "del", "ins", "mark", "abbr", "cite",
                             "q", "var", "samp", "label", "button", "input", "form", "picture", "source", "video",
                             "audio", "object", "embed", "noscript", "template", "slot", "wbr", "time", "tt"}


def _is_html_name(lname: str) -> bool:
    return lname in _HTML_NAMES


def _tag_end(text: str, i: int) -> int | None:
    """Index just past the `>` closing a tag whose name ends at `i`, honouring quotes and JSX braces."""
    n = len(text)
    depth = 0
    quote: str | None = None
    start = i
    while i < n:
        c = text[i]
        if quote:
            if c == quote:
                quote = None
        elif depth:
            if c == "{":
                depth += 1
            elif c == "}":
                depth -= 1
            elif c in "\"'`":
                quote = c
        elif c in "\"'":
            quote = c
        elif c == "{":
            depth += 1
        elif c == ">":
            return i + 1
        elif c == "<" or (c == "\n" and text.startswith("\n\n", i)):
            return None
        if i - start > 4000:
            return None
        i += 1
    return None


def _tag_replacement(tag: str, lname: str) -> str:
    newlines = tag.count("\n")
    if lname == "img":
        alt = re.search(r"""\balt\s*=\s*(?:"([^"]*)"|'([^']*)')""", tag)
        text = (alt.group(1) or alt.group(2) or "") if alt else ""
        return text + "\n" * newlines
    if lname in _BLOCK_TAGS:
        return "\n" * max(newlines, 0) + " "
    return "\n" * newlines


def _component_replacement(tag: str) -> str:
    """A component tag leaves nothing but its line breaks; a `title`/`label` attribute is text a reader sees."""
    label = re.search(r"""\b(?:label|title)\s*=\s*(?:"([^"]*)"|'([^']*)')""", tag)
    text = (label.group(1) or label.group(2) or "") if label and not tag.startswith("</") else ""
    return (text + " " if text else "") + "\n" * tag.count("\n")
