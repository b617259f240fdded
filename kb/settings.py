"""Weigh the places a setting can come from, in one order for all of them:

    command-line option  >  environment variable  >  config file  >  default

(an option typed after the command name wins over the same option typed before it). The table in README.md
("Configuration") is this module's contract.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .config import NUMBERS, FileConfig, SourceConfig, check_base_url, config_path, load_config
from .errors import ConfigError

TYPE_CHECKING = False  # rather than typing's: a cold search does not import typing (kb/__init__.py)
if TYPE_CHECKING:
    from typing import Any

# setting -> (environment variable, default)
DEFAULTS: dict[str, tuple[str, Any]] = {
    "content": ("KB_CONTENT", "content"),
    "index_dir": ("KB_INDEX", "index"),
    "base_url": ("KB_BASE_URL", ""),
    "include_drafts": ("KB_INCLUDE_DRAFTS", False),
    "max_file_size": ("KB_MAX_FILE_SIZE", 5.0),
    "lock_timeout": ("KB_LOCK_TIMEOUT", 10.0),
    "dialect": ("KB_DIALECT", ""),
    "model": ("KB_MODEL", None),
}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


@dataclass(frozen=True)
class Resolved:
    """The settings a command runs with, each from the first of command line, environment, config file, default."""

    config: FileConfig
    index_dir: Path
    sources: tuple[SourceConfig, ...]
    base_url: str
    include_drafts: bool
    max_file_size: float
    lock_timeout: float
    dialect: str = ""  # "" or "auto": detected per source; a source's own `dialect` wins
    model: str | None = None  # embedding model (kb/semantic): a folder, a name or "none"; None: the default


def _env(name: str, kind: Any) -> Any:
    """An environment variable converted like its option, or None when unset; bad values are usage errors."""
    raw = os.environ.get(name)
    if raw is None:
        return None
    if kind is bool:
        if raw.strip().lower() in _TRUE:
            return True
        if raw.strip().lower() in _FALSE:
            return False
        raise ConfigError(f"environment variable {name}={raw!r}: expected 1/0, true/false, yes/no or on/off")
    if kind is float:
        try:
            value = float(raw)
        except ValueError:
            raise ConfigError(f"environment variable {name}={raw!r}: expected a number") from None
        return value  # (its range is checked in `resolve`, as an option's)
    if kind is Path:
        return Path(raw) if raw else None
    return raw or None


def resolve(given: dict[str, Any]) -> Resolved:
    """The settings a command runs with, from the options typed (`given`), the environment and the config file."""
    path = config_path(given.get("config"))
    config = load_config(path) if path is not None else FileConfig()
    here = config.path.parent if config.path is not None else Path(".")

    def pick(name: str, kind: Any, from_config: Any) -> Any:
        if given.get(name) is not None:
            return given[name]
        env, default = DEFAULTS[name]
        value = _env(env, kind)
        if value is not None:
            return value
        return from_config if from_config is not None else default

    base_url = str(pick("base_url", str, config.base_url) or "")
    if base_url:
        def bad(why: str) -> ConfigError:
            return ConfigError(f"base URL: {why}")
        check_base_url(base_url, bad)
    dialect = str(pick("dialect", str, config.dialect) or "")
    content_cli = given.get("content") if given.get("content") is not None else _env("KB_CONTENT", Path)
    if content_cli is not None:
        sources: tuple[SourceConfig, ...] = (_single(Path(content_cli), dialect, base_url),)
    elif config.sources:
        sources = tuple(SourceConfig(s.name, s.path, s.include, s.exclude, s.dialect or dialect,
                                     s.base_url or base_url) for s in config.sources)
    else:
        sources = (_single(config.content or here / "content", dialect, base_url),)
    index_dir = pick("index_dir", Path, config.index)
    if index_dir == "index" and config.path is not None:
        index_dir = here / "index"  # the default sits beside the config file, as `content` does
    numbers = {}
    for name, option in (("max_file_size", "--max-file-size"), ("lock_timeout", "--lock-timeout")):
        numbers[name] = value = float(pick(name, float, getattr(config, name)))
        low, high = NUMBERS[name]
        if not low <= value <= high:  # NaN too (a config file's value was checked with its line)
            where = option if given.get(name) is not None else f"environment variable {DEFAULTS[name][0]}"
            raise ConfigError(f"{where} {value!r}: expected a number from {low:g} to {high:,.0f}")
    return Resolved(config, Path(index_dir), sources, base_url, bool(pick("include_drafts", bool,
                    config.include_drafts)), numbers["max_file_size"], numbers["lock_timeout"], dialect,
                    pick("model", str, config.model))


def _single(folder: Path, dialect: str, base_url: str) -> SourceConfig:
    return SourceConfig(name=folder.name or "content", path=folder, dialect=dialect, base_url=base_url)


def open_kb(given: dict[str, Any], *, on_note: Callable[[str], None]) -> Any:
    """The KnowledgeBase a command works on."""
    from .api import KnowledgeBase

    r = resolve(given)
    return KnowledgeBase(r.sources[0].path, r.index_dir, include_drafts=r.include_drafts,
                         max_file_bytes=int(r.max_file_size * 1024 * 1024), lock_timeout=r.lock_timeout,
                         on_note=on_note, sources=r.sources, dialect=r.dialect,
                         model=r.model)
