"""Reference search engine on tantivy (tantivy-py), for judging kb's speed against a compiled engine.

Why: FTS5 answers "what does a C engine inside SQLite cost on this machine"; tantivy is the Lucene-style engine
(block-max WAND top-k, compressed postings) that kb's Whoosh index is a pure-Python cousin of, so ``kb / tantivy``
shows how far kb's search is from what a compiled inverted index does with the same sections. Same CLI shape as
``fts5_ref.py`` (``reindex [--full] --json``, ``search Q --json``) and the same units: kb's own sections when kb's
page parser is importable, else the simple heading splitter (``--splitter simple``).

Benchmark-only dependency: ``pip install -e '.[bench]'`` (or ``pip install tantivy``).

Usage::

    python benchmarks/tantivy_ref.py --content DIR --dir INDEX_DIR reindex [--full] [--json]
    python benchmarks/tantivy_ref.py --content DIR --dir INDEX_DIR search QUERY [--limit N] [--json]
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Sequence

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from fts5_ref import RefHit, RefResult, Report, Splitter, load_splitter, parse_query, ref_main  # noqa: E402

import tantivy  # noqa: E402  (benchmark-only dependency)

MANIFEST = "kb-ref-files.json"
#: Field boosts in the spirit of fts5_ref's bm25 weights (title 5, heading 3, body 1, tags 2).
BOOSTS = {"title": 5.0, "heading": 3.0, "body": 1.0, "tags": 2.0}
_TERM_RE = re.compile(r"\w+")


def build_schema() -> Any:
    sb = tantivy.SchemaBuilder()
    sb.add_text_field("path", stored=True, tokenizer_name="raw")
    sb.add_text_field("anchor", stored=True, tokenizer_name="raw", index_option="basic")
    for name in ("title", "heading", "body"):
        sb.add_text_field(name, stored=True, tokenizer_name="en_stem")
    sb.add_text_field("tags", stored=False, tokenizer_name="en_stem")
    return sb.build()


def to_tantivy(query: str) -> tuple[str, list[str]]:
    """kb's syntax as a tantivy query string (words and phrases, every token quoted: no syntax errors) and the
    prefixes (the query language has no single-term prefix), every clause required."""
    parts, prefixes = [], []
    for kind, tok in parse_query(query):
        terms = _TERM_RE.findall(tok)
        if not terms:
            continue
        if kind == "prefix" and len(terms) == 1:
            prefixes.append(terms[0].lower())
        else:
            parts.append('"' + " ".join(terms) + '"' + ("*" if kind == "prefix" else ""))
    return " ".join(parts), prefixes


class TantivyReference:
    """A tantivy index over a content folder, with kb-like reindex and search."""

    def __init__(self, content_dir: str | os.PathLike[str], index_dir: str | os.PathLike[str],
                 splitter: Splitter | None = None) -> None:
        self.content = Path(content_dir)
        self.dir = Path(index_dir)
        self._split = splitter
        self.dir.mkdir(parents=True, exist_ok=True)
        self.schema = build_schema()
        self.index = tantivy.Index(self.schema, path=str(self.dir), reuse=True)

    def reindex(self, full: bool = False) -> Report:
        start = time.perf_counter()
        report = Report()
        manifest_path = self.dir / MANIFEST
        known: dict[str, list[int]] = {}
        if not full and manifest_path.exists():
            known = json.loads(manifest_path.read_text(encoding="utf-8"))
        writer = self.index.writer(heap_size=128_000_000)
        if full:
            writer.delete_all_documents()
        seen: dict[str, list[int]] = {}
        for path in sorted(self.content.rglob("*.md")) + sorted(self.content.rglob("*.mdx")):
            rel = path.relative_to(self.content).as_posix()
            st = path.stat()
            seen[rel] = [st.st_mtime_ns, st.st_size]
            old = known.get(rel)
            if old == seen[rel]:
                report.unchanged += 1
                continue
            if old is not None:
                writer.delete_documents_by_term("path", rel)
                report.updated += 1
            else:
                report.added += 1
            self._add(writer, path, rel, report)
        for rel in set(known) - set(seen):
            writer.delete_documents_by_term("path", rel)
            report.removed += 1
        writer.commit()
        writer.wait_merging_threads()
        manifest_path.write_text(json.dumps(seen), encoding="utf-8")
        self.index.reload()
        report.sections = self.index.searcher().num_docs
        report.seconds = round(time.perf_counter() - start, 4)
        return report

    def _add(self, writer: Any, path: Path, rel: str, report: Report) -> None:
        if self._split is None:
            self._split = load_splitter()[0]
        try:
            secs = self._split(path, rel)
        except Exception as exc:  # noqa: BLE001 - one bad page must not stop the benchmark
            report.warnings.append(f"{rel}: {exc}")
            return
        for s in secs:
            writer.add_document(tantivy.Document(path=s.path, anchor=s.anchor, title=s.title, heading=s.heading,
                                                 body=s.text, tags=s.tags))

    def search(self, query: str, limit: int = 10) -> RefResult:
        """Ranked hits with snippets; retries once with fuzzy (one edit) words when nothing matched."""
        text, prefixes = to_tantivy(query)
        if not text and not prefixes:
            return RefResult(query, 0, [])
        result = self._run(query, text, prefixes, limit, fuzzy=False)
        if result.total == 0 and any(kind == "word" for kind, _ in parse_query(query)):
            result = self._run(query, text, prefixes, limit, fuzzy=True)
            result.corrected = "(fuzzy)" if result.total else None
        return result

    def _run(self, query: str, text: str, prefixes: list[str], limit: int, *, fuzzy: bool) -> RefResult:
        fields = list(BOOSTS)
        clauses = []
        try:
            if text:
                clauses.append(self.index.parse_query(
                    text, fields, field_boosts=BOOSTS, conjunction_by_default=True,
                    fuzzy_fields={f: (False, 1, True) for f in fields} if fuzzy else None))
            for p in prefixes:
                clauses.append(tantivy.Query.boolean_query([
                    (tantivy.Occur.Should, tantivy.Query.boost_query(
                        tantivy.Query.regex_query(self.schema, f, re.escape(p) + ".*"), boost))
                    for f, boost in BOOSTS.items()]))
        except ValueError:
            return RefResult(query, 0, [])
        q = clauses[0] if len(clauses) == 1 else tantivy.Query.boolean_query(
            [(tantivy.Occur.Must, c) for c in clauses])
        searcher = self.index.searcher()
        found = searcher.search(q, limit, count=True)
        snippets = tantivy.SnippetGenerator.create(searcher, q, self.schema, "body") if found.hits else None
        hits = []
        for score, addr in found.hits:
            doc = searcher.doc(addr)
            snippet = snippets.snippet_from_doc(doc).to_html() if snippets else ""
            hits.append(RefHit(doc["path"][0], doc["anchor"][0], doc["heading"][0], snippet, score))
        return RefResult(query, found.count or 0, hits)


def main(argv: Sequence[str] | None = None) -> int:
    return ref_main(argv, description=__doc__.split("\n\n")[0], store_flag="--dir", store_default="tantivy-index",
                    make=TantivyReference, full_reset=lambda d: shutil.rmtree(d, ignore_errors=True))


if __name__ == "__main__":
    sys.exit(main())
