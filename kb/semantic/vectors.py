"""Passage vectors inside an index generation: written before it is published, read by its searchers.

Two files sit beside the Whoosh segments, so the store checksums them into the manifest, links them into the next
generation and deletes them with their generation like any index file (damage checks and --verify included):

    vectors.npy    float16 matrix, one unit-length row per live Whoosh document
    vectors.json   the model id, each row's Whoosh document number and the hash of the text it embeds

A generation is immutable, so its document numbers are too: a row maps to its document without a lookup. Building
a generation's vectors reuses the previous generation's rows by text hash when the model is the same, so a reindex
embeds only new or changed passages, and a removed page's rows are simply not carried over.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..analysis import CRUMB_SEP
from .blas import single_threaded_blas
from .files import VECTOR_FILES

single_threaded_blas()  # before numpy loads its BLAS
import numpy as np  # noqa: E402

MATRIX, META = VECTOR_FILES
CODE_CHARS = 300  # code embedded with a passage (identifiers help; a long listing drowns the prose)


def passage_text(fields: dict[str, Any]) -> str:
    """What a passage's vector stands for: its breadcrumb (page title and headings), its text, a little code."""
    crumbs = " › ".join(c for c in str(fields.get("breadcrumb", "")).split(CRUMB_SEP) if c)
    body = str(fields.get("body", ""))
    code = str(fields.get("code", ""))[:CODE_CHARS]
    return "\n".join(t for t in (crumbs, body, code) if t.strip())


def text_hash(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:20]


@dataclass(frozen=True)
class Vectors:
    """A generation's vectors, as its searchers read them."""

    model: str
    matrix: np.ndarray  # (rows, dim) float32 in memory (float16 on disk), unit rows
    docs: np.ndarray  # (rows,) Whoosh document numbers

    def top(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        """The k documents most similar to the query vector (exact cosine), best first."""
        if not len(self.docs):
            return []
        sims = self.matrix @ query.astype(np.float32)
        k = min(k, len(sims))
        best = np.argpartition(-sims, k - 1)[:k]
        best = best[np.argsort(-sims[best], kind="stable")]
        return [(int(self.docs[i]), float(sims[i])) for i in best]


def load(gen: Path) -> Vectors | None:
    """The generation's vectors, or None when it was built without them."""
    try:
        meta = json.loads((gen / META).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    matrix = np.load(gen / MATRIX).astype(np.float32)  # once per searcher: numpy has no fast float16 product
    return Vectors(str(meta["model"]), matrix, np.asarray(meta["docs"], dtype=np.int64))


@dataclass(frozen=True)
class Built:
    embedded: int
    seconds: float


def build(gen: Path, previous: Path | None, model_id: str, encode: Callable[[list[str]], np.ndarray], *,
          batch: int = 64) -> Built:
    """Write `gen`'s vectors: rows of `previous` are reused by text hash (same model only), the rest embedded."""
    from whoosh.index import open_dir

    started = time.perf_counter()
    cache: dict[str, np.ndarray] = {}
    if previous is not None:
        try:
            old = load(previous)
            hashes = json.loads((previous / META).read_text(encoding="utf-8"))["hashes"]
        except (OSError, ValueError, KeyError):
            old = None  # unreadable: embed everything again
        if old is not None and old.model == model_id:
            cache = {h: old.matrix[i] for i, h in enumerate(hashes)}
    ix = open_dir(str(gen))
    try:
        with ix.searcher() as searcher:
            docs: list[int] = []
            texts: list[str] = []
            for doc, fields in searcher.reader().iter_docs():
                docs.append(doc)
                texts.append(passage_text(fields))
    finally:
        ix.close()
    hashes = [text_hash(t) for t in texts]
    todo = [i for i, h in enumerate(hashes) if h not in cache]
    fresh: dict[str, np.ndarray] = {}
    for start in range(0, len(todo), batch):
        chunk = todo[start:start + batch]
        for i, vec in zip(chunk, encode([texts[i] for i in chunk]), strict=True):
            fresh[hashes[i]] = vec
    dim = next(iter(fresh.values())).shape[0] if fresh else (next(iter(cache.values())).shape[0] if cache else 0)
    matrix = np.zeros((len(docs), dim), dtype=np.float16)
    for row, h in enumerate(hashes):
        matrix[row] = fresh[h] if h in fresh else cache[h]
    _write(gen / MATRIX, lambda fh: np.save(fh, matrix))
    meta = {"model": model_id, "dim": dim, "docs": docs, "hashes": hashes}
    _write(gen / META, lambda fh: fh.write(json.dumps(meta, separators=(",", ":")).encode("utf-8")))
    return Built(embedded=len(todo), seconds=time.perf_counter() - started)


def _write(path: Path, fill: Callable[[Any], Any]) -> None:
    """Write to a new file and rename it over `path`: the old one may be a hard link into the live generation."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        fill(fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
