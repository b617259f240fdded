"""Line-preserving rewrites of a page's source that every dialect shares: find fenced code, apply a change to the
prose only, turn indented blocks (MkDocs admonitions and tabs) into the admonition markers the section walker reads.

Every rewrite keeps the number of lines, so a section still reports the source line of its heading.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from ..markup import ADMONITION_CLOSE, ADMONITION_END, ADMONITION_START, code_mask

__all__ = ["blank", "code_mask", "indented_blocks", "map_prose", "start_marker"]
_CODE_SPAN = re.compile(r"(?<!`)(`+)(?!`).+?(?<!`)\1(?!`)")


def map_prose(text: str, change: Callable[[str], str], *, spans: bool = True) -> str:
    """Apply `change` to each run of lines outside fenced code (and outside inline code spans unless `spans` is
    false); code is kept."""
    lines = text.split("\n")
    mask = code_mask(lines)
    out: list[str] = []
    run: list[str] = []

    def flush() -> None:
        if run:
            out.append(_outside_spans("\n".join(run), change) if spans else change("\n".join(run)))
            run.clear()

    for line, is_code in zip(lines, mask, strict=True):
        if is_code:
            flush()
            out.append(line)
        else:
            run.append(line)
    flush()
    return "\n".join(out)


def _outside_spans(text: str, change: Callable[[str], str]) -> str:
    if "`" not in text:
        return change(text)
    parts: list[str] = []
    pos = 0
    for m in _CODE_SPAN.finditer(text):
        parts.append(change(text[pos: m.start()]))
        parts.append(m.group(0))
        pos = m.end()
    parts.append(change(text[pos:]))
    return "".join(parts)


def blank(m: re.Match[str]) -> str:
    """A removed construct leaves only its line breaks."""
    return "\n" * m.group(0).count("\n")


def start_marker(indent: str, title: str) -> str:
    return f"{indent}{ADMONITION_START}{title}{ADMONITION_CLOSE}"


Opener = Callable[[str], "tuple[str, str] | None"]  # a line -> (indent, title) when it opens an indented block


def indented_blocks(lines: list[str], opener: Opener) -> list[str]:
    """Rewrite blocks whose body is indented four spaces under an opening line (`!!! note "Title"`, `=== "Tab"`) as
    start marker, dedented body, end marker; nested blocks too. Adds a line only where a block ends without a
    blank line after it."""
    out: list[str] = []
    mask = code_mask(lines)
    i, n = 0, len(lines)
    while i < n:
        line = lines[i]
        found = None if mask[i] else opener(line)
        if found is None:
            out.append(line)
            i += 1
            continue
        indent, title = found
        body: list[str] = []
        j = i + 1
        while j < n:
            nxt = lines[j]
            if not nxt.strip():
                body.append("")
            elif nxt.startswith(indent + "    "):
                body.append(indent + nxt[len(indent) + 4:])
            elif nxt.startswith(indent + "\t"):
                body.append(indent + nxt[len(indent) + 1:])
            else:
                break
            j += 1
        k = len(body)
        while k and not body[k - 1].strip():
            k -= 1
        out.append(start_marker(indent, title))
        out.extend(indented_blocks(body[:k], opener))
        trailing = len(body) - k
        out.append(indent + ADMONITION_END)
        out.extend([""] * (trailing - 1 if trailing else 0))
        i = j
    return out
