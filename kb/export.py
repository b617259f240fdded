"""`kb export --format ndjson`: every passage of the live generation as one JSON object per line.

The hand-off to a search cluster (Elasticsearch/OpenSearch `_bulk`, Meilisearch) or a RAG pipeline: each line is
one passage (a section, or a part of a long section) with the fields kb stores for it. The output is read from
one generation (a reindex publishing meanwhile does not mix two), in path, line, part order.

Fields are a table from output name to how to read it from a stored document. Fields the index may not hold yet
(`url`, `source`, `vector`) are read by name from the stored document and written only when present, so adding
them to the index later adds them here with no change to this module.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import IO, Any

from .analysis import CRUMB_SEP
from .api import KnowledgeBase

Field = Callable[[dict[str, Any]], Any]


def _split(sep: str, name: str) -> Field:
    return lambda d: [part for part in str(d.get(name) or "").split(sep) if part]


FIELDS: dict[str, Field] = {
    "id": lambda d: str(d["key"]),
    "page": lambda d: str(d["page"]),
    "path": lambda d: str(d["path"]),
    "url": lambda d: d.get("url"),
    "title": lambda d: str(d.get("title", "")),
    "section": lambda d: str(d.get("section", "")),
    "breadcrumb": _split(CRUMB_SEP, "breadcrumb"),
    "anchor": lambda d: str(d.get("anchor", "")),
    "line": lambda d: int(d.get("line", 0)),
    "part": lambda d: int(d.get("part", 0)),
    "text": lambda d: str(d.get("body") or ""),
    "code": lambda d: str(d.get("code") or ""),
    "tags": _split(",", "tags"),
    "source": lambda d: d.get("source"),
    "vector": lambda d: _vector(d.get("vector")),
}
OPTIONAL = frozenset({"url", "source", "vector"})  # written only when the index holds them


def _vector(value: Any) -> list[float] | None:
    if value is None:
        return None
    return [float(x) for x in value]


def passage_record(doc: dict[str, Any]) -> dict[str, Any]:
    """One stored document as the exported object: every field in FIELDS order, optional ones when present."""
    out = {}
    for name, read in FIELDS.items():
        value = read(doc)
        if value is None and name in OPTIONAL:
            continue
        out[name] = value
    return out


def passages(kb: KnowledgeBase) -> Iterator[dict[str, Any]]:
    """Every passage of one generation, in path, line, part order."""
    with kb.snapshot() as reader:
        docs = sorted(reader.searcher.all_stored_fields(),
                      key=lambda d: (str(d["path"]), int(d.get("line", 0)), int(d.get("part", 0))))
    # The stored fields are read into memory inside the snapshot; the generation can be replaced after that.
    for doc in docs:
        if doc.get("route") and doc.get("url") is None:  # the published URL: the source's base URL + the route
            doc["url"] = kb.url_of(str(doc.get("source", "")), doc["route"], str(doc.get("anchor", "")))
        yield passage_record(doc)


def write_ndjson(kb: KnowledgeBase, out: IO[str]) -> int:
    count = 0
    for record in passages(kb):
        out.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")))
        out.write("\n")
        count += 1
    return count
