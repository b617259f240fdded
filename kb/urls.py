"""Where each page is published: the route a static-site generator gives a source file, and the full URL of a hit.

Each generator routes files its own way (front matter `slug`/`permalink`/`url`, number prefixes, index files as
their folder, blog date paths, directory URLs); `route` follows the documented rules of each. The route is
computed when a page is indexed (it needs the front matter) and stored relative to the source's base URL, so a
changed base URL never needs a reindex.
"""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from urllib.parse import quote

TYPE_CHECKING = False  # rather than typing's: a cold search does not import typing (kb/__init__.py)
if TYPE_CHECKING:
    from typing import Any

PAGE_EXTS = (".md", ".mdx", ".markdown")
_NUMBER_PREFIX = re.compile(r"^(\d+)\s*[-_.]+\s*(?=[^-_.\s])")
_DATE_LIKE = re.compile(r"^\d{2,4}[-_.]\d{2}[-_.]\d{2}")
_DATED = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[-_](.+)$")


@dataclass(frozen=True)
class Routing:
    """How one source's files become URL paths: the dialect and the site settings that change routes."""

    dialect: str = "plain"
    directory_urls: bool = True  # MkDocs use_directory_urls
    lower_paths: bool = True  # Hugo lowercases paths unless disablePathToLower
    permalink: str = ""  # Jekyll's site-wide `permalink` (style name or template)
    collections: tuple[tuple[str, str, bool], ...] = ()  # Jekyll collections: (name, permalink, output)
    exclude: tuple[str, ...] = ()  # Jekyll files/folders that are not published

    def key(self) -> str:
        return repr(self)


def route(routing: Routing, rel: str, meta: dict[str, Any]) -> str | None:
    """The page's URL path relative to its source's base URL ('/a/b/'), or None when the site does not publish it."""
    rel = rel.replace("\\", "/").lstrip("/")
    dialect = routing.dialect
    if dialect == "docusaurus":
        return _docusaurus(rel, meta)
    if dialect == "mkdocs":
        return _mkdocs(rel, routing)
    if dialect == "hugo":
        return _hugo(rel, meta, routing)
    if dialect == "jekyll":
        return _jekyll(rel, meta, routing)
    if dialect == "obsidian":
        return _obsidian(rel, meta)
    if dialect == "github":  # files as GitHub shows them: base .../blob/BRANCH/FOLDER/ + the file's path
        return "/" + rel
    return _plain(rel)


def full_url(base_url: str, route_path: str, anchor: str = "") -> str:
    """base URL + route (percent-encoded; '+' kept, which Obsidian Publish uses for spaces) + #anchor."""
    url = base_url.rstrip("/") + quote(route_path if route_path.startswith("/") else "/" + route_path,
                                       safe="/+-._~!$&'()*,;=:@%")
    return f"{url}#{quote(anchor, safe='-._~')}" if anchor else url


def _split(rel: str) -> tuple[list[str], str]:
    p = PurePosixPath(rel)
    name = p.name
    for ext in PAGE_EXTS:
        if name.lower().endswith(ext):
            name = name[: -len(ext)]
            break
    return list(p.parent.parts), name


def strip_number_prefix(name: str) -> str:
    """'01-intro' -> 'intro' as Docusaurus does; dates ('2021-01-02-x') and bare numbers are left alone."""
    if _DATE_LIKE.match(name):
        return name
    return _NUMBER_PREFIX.sub("", name, count=1)


def _text(meta: dict[str, Any], key: str) -> str:
    value = meta.get(key)
    return value.strip() if isinstance(value, str) else ""


def _docusaurus(rel: str, meta: dict[str, Any]) -> str:
    dirs, name = _split(rel)
    clean_dirs = [strip_number_prefix(d) for d in dirs]
    dir_slug = "/" + "".join(d + "/" for d in clean_dirs)
    slug = _text(meta, "slug")
    if slug.startswith("/"):
        return slug
    dated = _DATED.match(name) or (_DATED.match(dirs[-1]) if dirs and name.lower() == "index" else None)
    if dated and not slug:  # blog posts: 2021-08-26-welcome.md -> /2021/08/26/welcome
        y, m, d, title = dated.groups()
        outer = clean_dirs[:-1] if name.lower() == "index" else clean_dirs
        return "/" + "".join(x + "/" for x in outer) + f"{y}/{m}/{d}/{title}"
    if not slug and name.lower() in ("index", "readme", (dirs[-1].lower() if dirs else "index")):
        return dir_slug
    base = slug or _text(meta, "id") or strip_number_prefix(name)
    return _resolve(dir_slug, base)


def _resolve(folder: str, relative: str) -> str:
    """URL resolution of `relative` against a folder URL ('/a/b/' + '../c' -> '/a/c')."""
    parts = [p for p in folder.split("/") if p]
    for piece in relative.split("/"):
        if piece in ("", "."):
            continue
        if piece == "..":
            if parts:
                parts.pop()
        else:
            parts.append(piece)
    tail = "/" if relative.endswith("/") else ""
    return "/" + "/".join(parts) + tail if parts else "/"


def _mkdocs(rel: str, routing: Routing) -> str:
    dirs, name = _split(rel)
    folder = "/" + "".join(d + "/" for d in dirs)
    if name.lower() in ("index", "readme"):
        return folder if routing.directory_urls else folder + "index.html"
    return f"{folder}{name}/" if routing.directory_urls else f"{folder}{name}.html"


def _urlize(segment: str, lower: bool) -> str:
    """Hugo's path handling: spaces become hyphens, and paths are lowercased unless disablePathToLower."""
    segment = "-".join(segment.split())
    return segment.lower() if lower else segment


def _hugo(rel: str, meta: dict[str, Any], routing: Routing) -> str | None:
    build = meta.get("build") or meta.get("_build")
    if meta.get("headless") is True or (isinstance(build, dict) and str(build.get("render", "")).lower() in
                                        ("never", "false")):
        return None
    url = _text(meta, "url")
    if url:
        return url if url.startswith("/") else "/" + url
    dirs, name = _split(rel)
    lower = routing.lower_paths
    folder = "/" + "".join(_urlize(d, lower) + "/" for d in dirs)
    if name in ("_index", "index"):
        slug = _text(meta, "slug")
        if slug and name == "index" and dirs:  # a leaf bundle's slug names the bundle
            return "/" + "".join(_urlize(d, lower) + "/" for d in dirs[:-1]) + _urlize(slug, lower) + "/"
        return folder
    slug = _text(meta, "slug") or name
    return f"{folder}{_urlize(slug, lower)}/"


_JEKYLL_STYLES = {
    "date": "/:categories/:year/:month/:day/:title:output_ext",
    "pretty": "/:categories/:year/:month/:day/:title/",
    "ordinal": "/:categories/:year/:y_day/:title:output_ext",
    "none": "/:categories/:title:output_ext",
}


def _jekyll(rel: str, meta: dict[str, Any], routing: Routing) -> str | None:
    top = rel.split("/", 1)[0]
    if any(rel == x or rel.startswith(x.rstrip("/") + "/") for x in routing.exclude):
        return None
    dirs, name = _split(rel)
    permalink = _text(meta, "permalink")
    collections = {c[0]: (c[1], c[2]) for c in routing.collections}
    if top.startswith("_"):
        coll = top[1:]
        if coll == "posts":
            template = permalink or collections.get("posts", ("", True))[0] or routing.permalink or "date"
            return _jekyll_fill(_JEKYLL_STYLES.get(template, template), rel, meta, name, coll, dirs[1:])
        if coll not in collections or not collections[coll][1]:
            return None  # an underscore folder that is not an output collection is not published
        template = permalink or collections[coll][0] or "/:collection/:path:output_ext"
        return _jekyll_fill(_JEKYLL_STYLES.get(template, template), rel, meta, name, coll, dirs[1:])
    if any(d.startswith(("_", ".")) for d in dirs):
        return None
    if permalink:
        return permalink if permalink.startswith("/") else "/" + permalink
    folder = "/" + "".join(d + "/" for d in dirs)
    if name == "index":
        return folder
    return f"{folder}{name}.html"


def _jekyll_fill(template: str, rel: str, meta: dict[str, Any], name: str, coll: str, inner: list[str]) -> str:
    dated = _DATED.match(name)
    date = meta.get("date")
    written = re.match(r"^(\d{4})-(\d{2})-(\d{2})", date.strip()) if isinstance(date, str) else None
    if isinstance(date, (_dt.date, _dt.datetime)):
        y, m, d = f"{date.year:04d}", f"{date.month:02d}", f"{date.day:02d}"
    elif written:  # a date YAML did not read as one ("2016-11-14 14:29:59 -0800"); its day, as written
        y, m, d = written.groups()
    elif dated:
        y, m, d = dated.group(1), dated.group(2), dated.group(3)
    else:
        y = m = d = ""
    title_part = dated.group(4) if dated else name
    slug = _jekyll_slug(_text(meta, "slug") or title_part, cased=True)  # Jekyll's :title keeps the case
    cats = meta.get("categories") or meta.get("category") or []
    if isinstance(cats, str):
        cats = cats.split()
    categories = "/".join(_jekyll_slug(str(c)) for c in cats) if isinstance(cats, list) else ""
    values = {
        "collection": coll, "path": "/".join([*inner, name]), "name": _jekyll_slug(name), "title": slug,
        "slug": slug, "year": y, "month": m, "day": d, "i_month": m.lstrip("0"), "i_day": d.lstrip("0"),
        "short_year": y[2:], "categories": categories, "output_ext": ".html",
    }
    out = re.sub(r":(output_ext|collection|categories|short_year|i_month|i_day|path|name|title|slug|year|month|day)",
                 lambda mm: values[mm.group(1)], template)
    out = re.sub(r"/{2,}", "/", out)
    return out if out.startswith("/") else "/" + out


def _jekyll_slug(text: str, *, cased: bool = False) -> str:
    """Jekyll's slugify ("pretty" mode): runs of other characters than letters, digits and ._~!$&'()+,;=@ become
    one hyphen; lowercased unless `cased`."""
    if not text:
        return ""
    out = re.sub(r"[^\w._~!$&'()+,;=@]+|_+", "-", text).strip("-")
    return out if cased else out.lower()


def _obsidian(rel: str, meta: dict[str, Any]) -> str:
    """Obsidian Publish: the note's path without extension, spaces as '+' (or front matter `permalink`)."""
    permalink = _text(meta, "permalink")
    if permalink:
        return "/" + permalink.lstrip("/")
    dirs, name = _split(rel)
    return "/" + "/".join(p.replace(" ", "+") for p in [*dirs, name])


def _plain(rel: str) -> str:
    dirs, name = _split(rel)
    folder = "/" + "".join(d + "/" for d in dirs)
    if name.lower() in ("index", "readme", "_index"):
        return folder
    return folder + name
