"""Dialect plugins: how each kind of documentation site writes Markdown, and which one a content folder uses.

`detect_dialect(folder)` looks for the site's own config (`mkdocs.yml`, `hugo.toml`, `_config.yml`,
`docusaurus.config.*`, `.obsidian/`) in the folder and the folders above it, else at what the pages use.
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path

from ..discover import read_regular
from ..errors import UnknownDialect
from .base import Dialect
from .docusaurus import Docusaurus
from .github import GitHub
from .hugo import Hugo
from .jekyll import Jekyll
from .mkdocs import MkDocs
from .obsidian import Obsidian

__all__ = ["DIALECTS", "Dialect", "detect_dialect", "dialect_of", "get_dialect", "resolve_dialect"]

_CLASSES: dict[str, type[Dialect]] = {c.name: c for c in (Docusaurus, MkDocs, Hugo, Jekyll, Obsidian, GitHub)}
DIALECTS: tuple[str, ...] = tuple(_CLASSES)
_ALIASES = {"plain": "github", "gfm": "github", "material": "mkdocs", "mdx": "docusaurus"}
_CONFIG_ORDER = ("docusaurus", "mkdocs", "hugo", "obsidian", "jekyll")
_PARENTS = 3  # the content folder is often `docs/` or `content/en/` inside the site


@functools.cache
def get_dialect(name: str) -> Dialect:
    """The plugin for a dialect name; raises UnknownDialect naming the choices for an unknown one."""
    key = _ALIASES.get(name.strip().lower(), name.strip().lower())
    cls = _CLASSES.get(key)
    if cls is None:
        raise UnknownDialect(f"unknown Markdown dialect {name!r}; choose one of {', '.join(DIALECTS)}")
    return cls()


def resolve_dialect(content_dir: Path, forced: str = "") -> str:
    """The forced dialect when given (validated), else the detected one."""
    if forced and forced.strip().lower() not in ("", "auto"):
        return get_dialect(forced).name
    return detect_dialect(content_dir)


def dialect_of(name: str, content_dir: str) -> Dialect:
    """The plugin to parse with: `name`, or for "auto" the folder's detected dialect (detected once per process)."""
    if name.strip().lower() in ("", "auto"):
        return get_dialect(_detected(content_dir))
    return get_dialect(name)


@functools.lru_cache(maxsize=16)
def _detected(content_dir: str) -> str:
    return detect_dialect(Path(content_dir))


def detect_dialect(content_dir: Path) -> str:
    """The dialect of the site whose pages are in `content_dir`: from its config file, else from its pages."""
    folder = Path(content_dir).resolve()
    for _ in range(_PARENTS + 1):
        for name in _CONFIG_ORDER:
            if any((folder / f).exists() for f in _CLASSES[name].config_files):
                return name
        if (folder / ".git").exists() or folder.parent == folder:
            break
        folder = folder.parent
    return _from_pages(Path(content_dir))


# What a page written in each dialect uses that the others do not (outside code, roughly).
_SIGNS: dict[str, re.Pattern[str]] = {
    "docusaurus": re.compile(r"^:::[a-z]|^import \w.* from ['\"]|^<Tabs\b|^sidebar_(?:position|label):", re.M),
    # (not `{#id}` after a heading: Docusaurus and GitHub-style folders write custom ids so too)
    "mkdocs": re.compile(r"^\s*(?:!!!|\?\?\?\+?) \w|^=== \"|^/// \w|^\{\*.*\*\}$|^-{2}8<-{2}", re.M),
    "hugo": re.compile(r"\{\{[<%]|^\+\+\+$", re.M),
    "jekyll": re.compile(r"\{%-? ?(?:raw|include|link|highlight|if|for|assign|capture)\b"
                         r"|\{\{-? ?(?:site|page|include)\."),
    "obsidian": re.compile(r"(?<!\[)\[\[[^\[\]\n]+\]\](?!\])|^%%|%%$|^> \[![a-z]+\][+-]?", re.M),
}
_SAMPLE = 400  # pages read at most
_HEAD = 32768  # bytes read per page


def _settled(votes: dict[str, int], seen: int) -> bool:
    """Enough pages read to stop: one dialect has 10 votes and three times any other's."""
    top = sorted(votes.values(), reverse=True)
    return seen >= 20 and top[0] >= 10 and top[0] >= 3 * top[1]


def _from_pages(root: Path) -> str:
    """Count, over a sample of pages, which dialect's signs they use; `.mdx` files and `_category_` files are
    Docusaurus'. Nothing distinctive: plain GitHub-flavoured Markdown."""
    votes = dict.fromkeys(_SIGNS, 0)
    seen = 0
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "node_modules")
        for name in sorted(files):
            lower = name.lower()
            if lower.startswith("_category_."):
                votes["docusaurus"] += 3
            if not lower.endswith((".md", ".mdx", ".markdown")) or name.startswith("."):
                continue
            if lower.endswith(".mdx"):
                votes["docusaurus"] += 1
            head = read_regular(os.path.join(folder, name), _HEAD)  # (a FIFO named x.md: never waited on)
            if head is None:
                continue
            text = head.decode("utf-8", errors="replace")
            for dialect, sign in _SIGNS.items():
                if sign.search(text):
                    votes[dialect] += 1
            seen += 1
            if seen >= _SAMPLE or _settled(votes, seen):
                break
        if seen >= _SAMPLE or _settled(votes, seen):
            break
    best = max(votes, key=lambda k: votes[k])
    if votes[best] == 0 or votes[best] * 20 < seen:  # fewer than 5% of the pages: not the site's dialect
        return "github"
    return best
