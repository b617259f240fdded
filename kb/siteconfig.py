"""Read a documentation site's own config for what kb needs: its published base URL and its routing settings.

Docusaurus (`url` + `baseUrl` + docs `routeBasePath`), MkDocs (`site_url`, `use_directory_urls`), Hugo (`baseURL`,
`disablePathToLower`), Jekyll (`url` + `baseurl`, collections' permalinks, `permalink`, `exclude`). The site
config sits in the content folder or one of its parents (docs/ inside the site's repository), so up to three
levels up are looked at. A config that cannot be read only means no URL is known: it is never an error.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from .urls import Routing

TYPE_CHECKING = False  # rather than typing's: a cold search does not import typing (kb/__init__.py)
if TYPE_CHECKING:
    from typing import Any

LOOK_UP = 3
_DOCUSAURUS = ("docusaurus.config.js", "docusaurus.config.ts", "docusaurus.config.mjs", "docusaurus.config.cjs")
_MKDOCS = ("mkdocs.yml", "mkdocs.yaml")
_HUGO = ("hugo.toml", "hugo.yaml", "hugo.yml", "hugo.json", "config.toml", "config.yaml", "config.yml")
_JEKYLL = ("_config.yml", "_config.yaml")


@dataclass(frozen=True)
class SiteInfo:
    """What the site's config says: its generator, where the content folder's root is published, its routing."""

    dialect: str
    base_url: str
    routing: Routing
    config: str = ""  # the file it came from


def read_site(folder: Path, dialect: str = "") -> SiteInfo:
    """The site around a content folder; `dialect` (from kb's config) narrows which site config is looked for."""
    folder = Path(folder)
    try:
        start = folder.resolve()
    except OSError:
        start = folder
    for d in [start, *list(start.parents)[:LOOK_UP]]:
        for kind, names, reader in _READERS:
            if dialect and dialect != kind:
                continue
            for name in names:
                path = d / name
                if path.is_file():
                    info = reader(path, start)
                    if info is not None:
                        return info
    return SiteInfo(dialect or guess_dialect(folder), "", Routing(dialect=dialect or guess_dialect(folder)))


def guess_dialect(folder: Path) -> str:
    """A cheap guess from tell-tale files at the top of the folder, when no site config says it."""
    try:
        names = {p.name for p in Path(folder).iterdir()}
    except OSError:
        return "plain"
    if ".obsidian" in names:
        return "obsidian"
    if "_index.md" in names:
        return "hugo"
    if any(n.startswith("_") and n in ("_posts", "_docs", "_config.yml") for n in names):
        return "jekyll"
    if "_category_.json" in names or "_category_.yml" in names or any(n.endswith(".mdx") for n in names):
        return "docusaurus"
    return "plain"


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def _yaml(text: str) -> dict[str, Any]:
    """YAML as data, with tags such as MkDocs' `!!python/name:` read as nothing rather than failing."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("", lambda _loader, _suffix, _node: None)
    Loader.add_multi_constructor("tag:yaml.org,2002:python/", lambda _loader, _suffix, _node: None)
    try:
        data = yaml.load(text, Loader=Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError:
        return {}
    return data if isinstance(data, dict) else {}


def _docusaurus(path: Path, content: Path) -> SiteInfo | None:
    text = _read(path)
    if text is None:
        return None
    url = _js_string(text, "url")
    base = _js_string(text, "baseUrl") or "/"
    route_base = _js_string(text, "routeBasePath")
    if route_base is None:
        route_base = "docs"
    site = ""
    if url:
        site = url.rstrip("/") + "/" + base.strip("/") + "/" + route_base.strip("/")
        site = re.sub(r"(?<!:)/{2,}", "/", site).rstrip("/") + "/"
    return SiteInfo("docusaurus", site, Routing(dialect="docusaurus"), str(path))


def _js_string(text: str, key: str) -> str | None:
    m = re.search(rf"""(?m)^\s*['"]?{key}['"]?\s*:\s*(['"`])([^'"`]*)\1""", text)
    return m.group(2) if m else None


def _mkdocs(path: Path, content: Path) -> SiteInfo | None:
    text = _read(path)
    if text is None:
        return None
    data = _yaml(text)
    site_url = str(data.get("site_url") or "")
    directory = data.get("use_directory_urls", True)
    return SiteInfo("mkdocs", site_url, Routing(dialect="mkdocs", directory_urls=directory is not False), str(path))


def _hugo(path: Path, content: Path) -> SiteInfo | None:
    if path.name.startswith("config.") and not any((path.parent / d).is_dir() for d in
                                                     ("content", "archetypes", "layouts", "themes")):
        return None  # a config.toml/yaml that is not a Hugo site's
    text = _read(path)
    if text is None:
        return None
    data: dict[str, Any]
    if path.suffix == ".toml":
        import sys

        if sys.version_info >= (3, 11):
            import tomllib
        else:  # pragma: no cover
            import tomli as tomllib
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError:
            return None
    elif path.suffix == ".json":
        try:
            data = json.loads(text)
        except ValueError:
            return None
    else:
        data = _yaml(text)
    if not isinstance(data, dict) or not ({"baseURL", "baseurl", "title", "languageCode", "module"} & set(data)):
        return None
    base = str(data.get("baseURL") or data.get("baseurl") or "")
    lower = not bool(data.get("disablePathToLower", False))
    return SiteInfo("hugo", base, Routing(dialect="hugo", lower_paths=lower), str(path))


def _jekyll(path: Path, content: Path) -> SiteInfo | None:
    text = _read(path)
    if text is None:
        return None
    data = _yaml(text)
    url = str(data.get("url") or "")
    baseurl = str(data.get("baseurl") or "")
    site = (url.rstrip("/") + "/" + baseurl.strip("/")).rstrip("/") + "/" if url else ""
    collections: list[tuple[str, str, bool]] = []
    raw = data.get("collections") or {}
    if isinstance(raw, dict):
        for name, spec in raw.items():
            spec = spec if isinstance(spec, dict) else {}
            collections.append((str(name), str(spec.get("permalink") or ""), bool(spec.get("output", False))))
    elif isinstance(raw, list):
        collections = [(str(name), "", False) for name in raw]
    exclude = data.get("exclude") or []
    routing = Routing(dialect="jekyll", permalink=str(data.get("permalink") or ""), collections=tuple(collections),
                      exclude=tuple(str(x) for x in exclude) if isinstance(exclude, list) else ())
    return SiteInfo("jekyll", site, routing, str(path))


_READERS = (
    ("docusaurus", _DOCUSAURUS, _docusaurus),
    ("mkdocs", _MKDOCS, _mkdocs),
    ("hugo", _HUGO, _hugo),
    ("jekyll", _JEKYLL, _jekyll),
)
