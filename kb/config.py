"""The config file: `kb.toml` (or `[tool.kb]` in `pyproject.toml`) found upward from the working folder.

Precedence, per setting: command-line option > environment variable > config file > built-in default. The file is
checked strictly (unknown keys and wrong types are errors naming the file, the key and its line) because a typo in
a config file that is silently ignored costs more than one that stops the command.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ConfigError

TYPE_CHECKING = False  # rather than typing's: a cold search does not import typing (kb/__init__.py)
if TYPE_CHECKING:
    from typing import Any

MODEL_OFF = ("none", "off", "lexical", "")  # model settings that mean lexical only (kb/semantic)


def model_off(asked: str | None) -> bool:
    """Whether a model setting turns semantic retrieval off: known here, so that a search need not import
    kb.semantic to learn it."""
    return asked is not None and asked.strip().lower() in MODEL_OFF

CONFIG_NAME = "kb.toml"
DIALECTS = ("docusaurus", "mkdocs", "hugo", "jekyll", "obsidian", "github", "plain", "auto")


@dataclass(frozen=True)
class SourceConfig:
    """One content folder of a knowledge base, as written in a `[[source]]` table (or made from --content)."""

    name: str
    path: Path
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    dialect: str = ""
    base_url: str = ""


@dataclass(frozen=True)
class FileConfig:
    """What a config file says; None for a setting it does not mention."""

    path: Path | None = None
    content: Path | None = None
    index: Path | None = None
    include_drafts: bool | None = None
    max_file_size: float | None = None
    lock_timeout: float | None = None
    base_url: str | None = None
    dialect: str | None = None
    model: str | None = None
    sources: tuple[SourceConfig, ...] = field(default_factory=tuple)


# key -> (python type(s), description of the expected value)
_TOP: dict[str, tuple[tuple[type, ...], str]] = {
    "content": ((str,), "a folder path (string)"),
    "index": ((str,), "a folder path (string)"),
    "include_drafts": ((bool,), "true or false"),
    "max_file_size": ((int, float), "a number of MB from 0.001 to 1,000,000"),
    "lock_timeout": ((int, float), "a number of seconds from 0 to 1,000,000"),
    "base_url": ((str,), "an http(s) URL (string)"),
    "dialect": ((str,), "one of " + ", ".join(DIALECTS)),
    "model": ((str,), "an embedding model: a folder, a name, or 'none' (string)"),
}
# The numeric settings' accepted ranges (the same from the command line, the environment and the config file):
# at most a million MB or seconds, so that inf, NaN or 1e308 never reach the code that turns them into bytes or
# a deadline.
NUMBERS: dict[str, tuple[float, float]] = {"max_file_size": (0.001, 1e6), "lock_timeout": (0.0, 1e6)}
_SOURCE: dict[str, tuple[tuple[type, ...], str]] = {
    "name": ((str,), "a name of letters, digits, '-', '_' or '.'"),
    "path": ((str,), "a folder path (string)"),
    "include": ((list,), "a list of glob strings"),
    "exclude": ((list,), "a list of glob strings"),
    "dialect": ((str,), "one of " + ", ".join(DIALECTS)),
    "base_url": ((str,), "an http(s) URL (string)"),
}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def find_config(start: Path | None = None) -> Path | None:
    """The nearest `kb.toml`, or `pyproject.toml` with a `[tool.kb]` table, in `start` or any parent folder."""
    folder = (start or Path.cwd()).resolve()
    for d in (folder, *folder.parents):
        candidate = d / CONFIG_NAME
        if candidate.is_file():
            return candidate
        pyproject = d / "pyproject.toml"
        if pyproject.is_file() and _has_tool_kb(pyproject):
            return pyproject
    return None


def _has_tool_kb(path: Path) -> bool:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    return re.search(r"^\s*\[\s*tool\.kb\s*[.\]]", text, re.MULTILINE) is not None or re.search(
        r"^\s*\[\[\s*tool\.kb\.source\s*\]\]", text, re.MULTILINE) is not None


def load_config(path: Path) -> FileConfig:
    """Read and check one config file; raises ConfigError naming the file, key and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist", fix="config") from None
    except OSError as exc:
        raise ConfigError(f"config file {path} cannot be read ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config file {path} is not UTF-8 text") from None
    if sys.version_info >= (3, 11):  # imported here: most commands run without a config file
        import tomllib
    else:  # pragma: no cover - exercised on 3.10 only
        import tomli as tomllib
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML ({exc})") from None
    prefix: tuple[str, ...] = ()
    if path.name == "pyproject.toml":
        data = data.get("tool", {}).get("kb", {})
        prefix = ("tool", "kb")
    lines = _KeyLines(text, prefix)
    return _check(data, path, lines)


class _KeyLines:
    """Where each key sits in the file: tomllib reports no positions, so a light scan of the text finds them."""

    _HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
    _KEY = re.compile(r"^\s*([A-Za-z0-9_\-\"']+)\s*=")

    def __init__(self, text: str, prefix: tuple[str, ...]) -> None:
        self.lines: dict[tuple[str, int, str], int] = {}
        self.tables: dict[tuple[str, int], int] = {}
        table, counts = "", {}  # type: ignore[var-annotated]
        index = 0
        pre = ".".join(prefix)
        for n, raw in enumerate(text.splitlines(), 1):
            m = self._HEADER.match(raw)
            if m and "=" not in raw.split("]")[0]:
                name = m.group(2).replace(" ", "").replace('"', "")
                if pre:
                    name = name[len(pre) + 1:] if name.startswith(pre + ".") else ("" if name == pre else "\0")
                table = name
                if m.group(1) == "[[":
                    counts[name] = counts.get(name, -1) + 1
                    index = counts[name]
                else:
                    index = 0
                self.tables.setdefault((table, index), n)
                continue
            k = self._KEY.match(raw)
            if k:
                self.lines.setdefault((table, index, k.group(1).strip("\"'")), n)

    def line(self, table: str, index: int, key: str) -> int | None:
        return self.lines.get((table, index, key)) or self.tables.get((table, index))


def _check(data: dict[str, Any], path: Path, lines: _KeyLines) -> FileConfig:
    base = path.parent

    def fail(table: str, index: int, key: str, why: str) -> ConfigError:
        line = lines.line(table, index, key)
        where = f"{path}:{line}" if line else str(path)
        shown = f"[[{table}]] #{index + 1} key {key!r}" if table else f"key {key!r}"
        return ConfigError(f"{where}: {shown}: {why}")

    values: dict[str, Any] = {}
    for key, value in data.items():
        if key == "source":
            continue
        if key not in _TOP:
            known = ", ".join(sorted([*_TOP, "source"]))
            raise fail("", 0, key, f"unknown key; known keys are {known}")
        values[key] = _value(key, value, _TOP[key], lambda why, k=key: fail("", 0, k, why))
    raw_sources = data.get("source", [])
    if not isinstance(raw_sources, list) or not all(isinstance(s, dict) for s in raw_sources):
        raise fail("", 0, "source", "must be [[source]] tables")
    sources: list[SourceConfig] = []
    for i, table in enumerate(raw_sources):
        sources.append(_source(table, i, base, fail))
    names = [s.name for s in sources]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise fail("source", i, "name", f"source name {name!r} is used twice; names must be unique")
    if sources and "content" in values:
        raise fail("", 0, "content", "give either `content` or [[source]] tables, not both")
    return FileConfig(
        path=path,
        content=(base / values["content"]) if "content" in values else None,
        index=(base / values["index"]) if "index" in values else None,
        include_drafts=values.get("include_drafts"),
        max_file_size=float(values["max_file_size"]) if "max_file_size" in values else None,
        lock_timeout=float(values["lock_timeout"]) if "lock_timeout" in values else None,
        base_url=values.get("base_url"),
        dialect=values.get("dialect"),
        model=values.get("model"),
        sources=tuple(sources),
    )


def _source(table: dict[str, Any], i: int, base: Path, fail: Any) -> SourceConfig:
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key not in _SOURCE:
            raise fail("source", i, key, f"unknown key; known keys are {', '.join(sorted(_SOURCE))}")
        values[key] = _value(key, value, _SOURCE[key], lambda why, k=key: fail("source", i, k, why))
    for key in ("name", "path"):
        if key not in values:
            raise fail("source", i, key, f"missing; every [[source]] needs a {key}")
    return SourceConfig(name=values["name"], path=base / values["path"], include=tuple(values.get("include", ())),
                        exclude=tuple(values.get("exclude", ())), dialect=values.get("dialect", ""),
                        base_url=values.get("base_url", ""))


def _one_of(value: Any, types: tuple[type, ...]) -> bool:
    """isinstance, but a bool is not an int here (YAML's `true` is no number); a function of its own so that the
    caller's `value` keeps its type Any instead of being narrowed to `object`."""
    return isinstance(value, types) and (bool in types or not isinstance(value, bool))


def _value(key: str, value: Any, spec: tuple[tuple[type, ...], str], fail: Any) -> Any:
    types, expected = spec
    if not _one_of(value, types):
        raise fail(f"expected {expected}, got {value!r}")
    if key == "name" and not _NAME.match(value):
        raise fail(f"expected {expected}, got {value!r}")
    if key in ("include", "exclude") and not all(isinstance(g, str) and g for g in value):
        raise fail(f"expected {expected}, got {value!r}")
    if key == "dialect" and value not in DIALECTS:
        raise fail(f"expected {expected}, got {value!r}")
    if key == "base_url":
        check_base_url(value, fail)
    if key in NUMBERS and not NUMBERS[key][0] <= value <= NUMBERS[key][1]:  # a NaN fails this too
        raise fail(f"expected {expected}, got {value!r}")
    if key in ("content", "index", "path") and not value.strip():
        raise fail(f"expected {expected}, got an empty string")
    if isinstance(value, str) and "\0" in value:  # no path or URL holds one (it was an internal error, or a URL)
        raise fail(f"expected {expected}, got a string with a NUL character")
    return value


def check_base_url(value: str, fail: Any) -> None:
    if not re.match(r"^https?://[^/\s]+(/\S*)?$", value):
        raise fail(f"expected an http(s) URL such as https://docs.example.com/, got {value!r}")


def config_path(option: Path | None) -> Path | None:
    """The config file to use: --config, else KB_CONFIG, else the nearest one found upward."""
    if option is not None:
        return option
    env = os.environ.get("KB_CONFIG")
    if env:
        return Path(env)
    return find_config()
