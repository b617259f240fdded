"""Read one page file: decode it, split off the frontmatter, and normalise the metadata that kb uses.

Every problem with the file becomes a Problem record; the page is still returned whenever there is text worth
indexing, because one bad file must never cost the user the rest of the knowledge base.
"""

from __future__ import annotations

import datetime as _dt
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from .model import Problem

DEFAULT_MAX_BYTES = 5 * 1024 * 1024


@dataclass(frozen=True)
class RawPage:
    """A page's body text and normalised frontmatter, before any Markdown is interpreted."""

    rel: str
    body: str
    body_line: int  # 1-based line in the file where `body` starts
    meta: dict[str, Any]
    problems: tuple[Problem, ...] = field(default_factory=tuple)


class Skip(Exception):
    """The file cannot be indexed at all; carries the Problem to report."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem


def read_page(path: Path, rel: str, *, max_bytes: int = DEFAULT_MAX_BYTES) -> RawPage:
    """Read and decode `path`; raise Skip for files that are not text pages at all."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise Skip(Problem(rel, f"file is {size / 1048576:.1f} MB, over the {max_bytes / 1048576:.1f} MB limit",
                               "skipped (raise it with --max-file-size)"))
        data = path.read_bytes()
    except FileNotFoundError:
        raise Skip(Problem(rel, "file vanished while indexing", "skipped")) from None
    except PermissionError:
        raise Skip(Problem(rel, "file cannot be read (permission denied)", "skipped; fix its permissions")) from None
    except IsADirectoryError:
        raise Skip(Problem(rel, "is a folder, not a file", "skipped")) from None
    except OSError as exc:
        raise Skip(Problem(rel, f"file cannot be read ({exc.strerror or exc})", "skipped")) from None
    return parse_bytes(data, rel)


def parse_bytes(data: bytes, rel: str) -> RawPage:
    problems: list[Problem] = []
    if b"\x00" in data[:8192]:
        raise Skip(Problem(rel, "looks like a binary file, not Markdown", "skipped"))
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        text = data.decode("utf-8-sig", errors="replace")
        problems.append(Problem(rel, "file is not valid UTF-8", "decoded with replacement characters", line))
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    meta, body, body_line, fm_problem = split_frontmatter(text, rel)
    if fm_problem:
        problems.append(fm_problem)
    return RawPage(rel, body, body_line, meta, tuple(problems))


def split_frontmatter(text: str, rel: str) -> tuple[dict[str, Any], str, int, Problem | None]:
    """Separate frontmatter from the body with python-frontmatter's handlers (YAML `---`, TOML `+++`).

    Invalid frontmatter is reported and ignored, never fatal: the body is still indexed.
    """
    import frontmatter  # imported here so the search path never pays for it

    from .limits import load_frontmatter

    if not text.startswith(("---", "+++")):
        return {}, text, 1, None
    if text.startswith("+++"):
        return _toml_frontmatter(text, rel)
    handler = frontmatter.detect_format(text, frontmatter.handlers)
    if handler is None:
        return {}, text, 1, None
    try:
        raw, body = handler.split(text)
    except ValueError:
        return {}, text, 1, None  # an opening fence with no closing one: a thematic break, not frontmatter
    body_line = text[: len(text) - len(body)].count("\n") + 1
    if body.startswith("\n"):  # the newline ending the closing fence
        body, body_line = body[1:], body_line + 1
    try:
        loaded = load_frontmatter(handler, raw) if raw.strip() else {}
    except Exception as exc:  # YAML and TOML parsers raise many unrelated types
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        reason = getattr(exc, "problem", None) or type(exc).__name__
        return {}, body, body_line, Problem(rel, f"invalid frontmatter ({reason})", "frontmatter ignored", line)
    if loaded is None:
        loaded = {}
    if not isinstance(loaded, dict):
        return {}, body, body_line, Problem(rel, "frontmatter is not a key: value mapping", "frontmatter ignored", 1)
    return {str(k): v for k, v in loaded.items()}, body, body_line, None


_TOML_FENCES = re.compile(r"\A\+\+\+[ \t]*\n(.*?)^\+\+\+[ \t]*(?:\n|\Z)", re.S | re.M)
_TOML_LINE = re.compile(r"line (\d+)")


def _toml_frontmatter(text: str, rel: str) -> tuple[dict[str, Any], str, int, Problem | None]:
    """Hugo's `+++` TOML frontmatter, read with the standard library (python-frontmatter needs the `toml` package)."""
    m = _TOML_FENCES.match(text)
    if m is None:
        return {}, text, 1, None  # no closing fence: not frontmatter
    body, body_line = text[m.end():], text[: m.end()].count("\n") + 1
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    try:
        loaded = tomllib.loads(m.group(1))
    except tomllib.TOMLDecodeError as exc:
        at = _TOML_LINE.search(str(exc))
        line = int(at.group(1)) + 1 if at else 1
        return {}, body, body_line, Problem(rel, f"invalid TOML frontmatter ({str(exc).split(' (at')[0]})",
                                            "frontmatter ignored", line)
    return {str(k): v for k, v in loaded.items()}, body, body_line, None


def read_category(path: Path, rel: str) -> tuple[str, Problem | None]:
    """The sidebar label of a Docusaurus `_category_.json`/`.yml`; its folder's name when it gives none.

    Returns ("", problem) when the file cannot be read or parsed: the pages in the folder keep their own crumbs.
    """
    folder = PurePosixPath(rel).parent.name
    try:
        text = path.read_bytes().decode("utf-8-sig", errors="replace")
    except OSError as exc:
        return "", Problem(rel, f"category file cannot be read ({exc.strerror or exc})", "label ignored")
    try:
        if rel.endswith(".json"):
            import json

            data = json.loads(text) if text.strip() else {}
        else:
            import yaml

            data = yaml.safe_load(text) if text.strip() else {}
    except Exception as exc:  # json and yaml raise several unrelated types
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else getattr(exc, "lineno", None)
        return "", Problem(rel, f"invalid category file ({type(exc).__name__})", "label ignored", line)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        return "", Problem(rel, "category file is not a key: value mapping", "label ignored")
    return meta_text(data, "label") or folder, None


def meta_text(meta: dict[str, Any], key: str) -> str:
    """A frontmatter value as a single line of text, whatever YAML shape it came in."""
    value = meta.get(key)
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return ", ".join(meta_text({"v": v}, "v") for v in value)
    if isinstance(value, (_dt.date, _dt.datetime)):
        return value.isoformat()
    if isinstance(value, dict):
        return " ".join(meta_text({"v": v}, "v") for v in value.values())
    return " ".join(str(value).split())


def meta_list(meta: dict[str, Any], key: str) -> tuple[str, ...]:
    """Tags and keywords come as YAML lists or comma-separated strings; both become a tuple of words."""
    value = meta.get(key)
    if value is None:
        return ()
    items: list[Any]
    if isinstance(value, (list, tuple, set)):
        items = list(value)
    else:
        items = str(value).split(",")
    out = []
    for item in items:
        if isinstance(item, dict):  # Docusaurus allows tags as {label: ..., permalink: ...}
            item = item.get("label") or next(iter(item.values()), "")
        text = " ".join(str(item).split())
        if text:
            out.append(text)
    return tuple(out)


def meta_flag(meta: dict[str, Any], key: str) -> bool:
    value = meta.get(key)
    if isinstance(value, str):
        return value.strip().lower() in {"true", "yes", "1", "on"}
    return bool(value)
