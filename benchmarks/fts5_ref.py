"""Reference search engine on stdlib ``sqlite3`` FTS5, for judging kb's speed.

Why: absolute numbers ("reindex takes 9 s") mean little on their own.  This
reference does the same job -- read the pages, split them into sections at
headings, full-text index them, answer kb's query syntax with ranked snippets
-- with a C engine and no Python-level indexing, so ``kb / fts5`` shows how much
kb's pure-Python stack (Whoosh) costs, and where.

Sections come from kb's own splitter when it can be imported (so both engines
index the same units); otherwise from a simple heading splitter here.  The
splitter is pluggable: ``--splitter module:function``.

Usage::

    python benchmarks/fts5_ref.py --content DIR --db FILE reindex [--full] [--json]
    python benchmarks/fts5_ref.py --content DIR --db FILE search QUERY [--limit N] [--json]
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import re
import sqlite3
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence


@dataclass(frozen=True)
class RefSection:
    """The unit both engines index: one heading and the text under it."""

    path: str
    title: str
    heading: str
    anchor: str
    text: str
    tags: str = ""


#: A splitter turns (absolute path, path relative to the content root) into sections.
Splitter = Callable[[Path, str], list[RefSection]]

# --------------------------------------------------------------------------
# Fallback splitter (used when kb's own splitter is not importable).
# --------------------------------------------------------------------------

_FM_RE = re.compile(r"\A---\n(.*?)\n---\n", re.DOTALL)
_HEADING_RE = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_FENCE_RE = re.compile(r"^\s*(```|~~~)")
_IMAGE_RE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_LINK_RE = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_ADMONITION_RE = re.compile(r"^:::\s*\w*\s*", re.MULTILINE)


def _frontmatter(text: str) -> tuple[dict[str, str], str]:
    """Minimal YAML-frontmatter reader: flat ``key: value`` lines are enough here."""
    m = _FM_RE.match(text)
    if not m:
        return {}, text
    meta: dict[str, str] = {}
    for line in m.group(1).splitlines():
        key, sep, value = line.partition(":")
        if sep:
            meta[key.strip()] = value.strip().strip("[]\"'")
    return meta, text[m.end():]


def _plain(markdown: str) -> str:
    """Strip the Markdown syntax that is not words (keep code text: users search it)."""
    text = _IMAGE_RE.sub(r"\1", markdown)
    text = _LINK_RE.sub(r"\1", text)
    text = _ADMONITION_RE.sub("", text)
    return text.replace("`", "").replace("|", " ").replace("**", "").replace("---", "")


def slug(text: str) -> str:
    """Anchor like Docusaurus generates for a heading."""
    return re.sub(r"[^\w]+", "-", text.lower()).strip("-")


def simple_split(path: Path, rel: str) -> list[RefSection]:
    """Split a page at ATX headings outside fenced code blocks."""
    meta, body = _frontmatter(path.read_text(encoding="utf-8", errors="replace"))
    title = meta.get("title") or Path(rel).stem
    tags = meta.get("tags", "").replace(",", " ")
    sections: list[RefSection] = []
    heading, buf, in_fence = title, [], False
    for line in body.splitlines():
        if _FENCE_RE.match(line):
            in_fence = not in_fence
        m = None if in_fence else _HEADING_RE.match(line)
        if m:
            sections.append(RefSection(rel, title, heading, slug(heading), _plain("\n".join(buf)), tags))
            heading, buf = m.group(2), []
        else:
            buf.append(line)
    sections.append(RefSection(rel, title, heading, slug(heading), _plain("\n".join(buf)), tags))
    return [s for s in sections if s.text.strip() or s.heading != title]


# --------------------------------------------------------------------------
# Using kb's own splitter when available.
# --------------------------------------------------------------------------

#: Where kb's page parser might live; tried in order, first importable wins.
KB_SPLITTER_CANDIDATES = (
    "fts5_ref:kb_build_page",
    "kb.sections:parse_file",
    "kb.sections:split_file",
    "kb.sections:split_sections",
    "kb.sections:load_page",
    "kb.pages:load_page",
    "kb.pages:parse_page",
    "kb.markdown:parse_page",
    "kb.parse:load_page",
)


def kb_build_page(path: Path, rel: str) -> Any:
    """kb's pipeline as of writing: ``kb.parse.read_page`` then ``kb.sections.build_page`` (a Page with passages)."""
    from kb.parse import read_page  # type: ignore[import-not-found]
    from kb.sections import build_page  # type: ignore[import-not-found]

    return build_page(read_page(path, rel))


def _as_ref_sections(obj: Any, rel: str) -> list[RefSection]:
    """Adapt whatever kb returns (a Page with passages/sections, or a list) to RefSections."""
    items: Iterable[Any] = getattr(obj, "passages", None) or getattr(obj, "sections", None) or obj
    page_tags = " ".join(getattr(obj, "tags", ()) or ())
    out = []
    for it in items:
        heading = getattr(it, "section", None) or getattr(it, "heading", "") or ""
        text = getattr(it, "text", "") + ("\n" + it.code if getattr(it, "code", "") else "")
        tags = " ".join(getattr(it, "tags", ()) or ()) or page_tags
        out.append(RefSection(rel, getattr(it, "title", ""), heading, getattr(it, "anchor", ""), text, tags))
    return out


def _call_adaptively(func: Callable[..., Any], path: Path, rel: str) -> Any:
    """Call kb's parser whether it wants (path, rel), (path) or (text, rel)."""
    try:
        return func(path, rel)
    except TypeError:
        pass
    try:
        return func(path)
    except TypeError:
        return func(path.read_text(encoding="utf-8", errors="replace"), rel)


def load_splitter(spec: str | None = None) -> tuple[Splitter, str]:
    """Return (splitter, its name): ``spec``, else kb's own, else the simple one."""
    if spec == "simple":
        return simple_split, "simple"
    for cand in ([spec] if spec else list(KB_SPLITTER_CANDIDATES)):
        mod_name, _, func_name = cand.partition(":")
        try:
            func = getattr(importlib.import_module(mod_name), func_name)
            if cand == "fts5_ref:kb_build_page":
                importlib.import_module("kb.sections")  # only usable if kb's pipeline is there
        except (ImportError, AttributeError):
            if spec:
                raise
            continue
        return (lambda p, r, f=func: _as_ref_sections(_call_adaptively(f, p, r), r)), cand
    return simple_split, "simple"


# --------------------------------------------------------------------------
# The index.
# --------------------------------------------------------------------------

SCHEMA = """
CREATE VIRTUAL TABLE sections USING fts5(
    path UNINDEXED, anchor UNINDEXED, title, heading, body, tags,
    tokenize = 'porter unicode61 remove_diacritics 2'
);
CREATE VIRTUAL TABLE vocab USING fts5vocab(sections, 'row');
CREATE TABLE files(path TEXT PRIMARY KEY, mtime_ns INTEGER, size INTEGER, first_row INTEGER, last_row INTEGER);
"""

#: bm25 column weights: path, anchor (unindexed), title, heading, body, tags.
BM25 = "bm25(sections, 0, 0, 5.0, 3.0, 1.0, 2.0)"


@dataclass
class Report:
    """Same fields as kb's reindex report, so run.py can treat both alike."""

    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    sections: int = 0
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)


@dataclass
class RefHit:
    path: str
    anchor: str
    heading: str
    snippet: str
    score: float


@dataclass
class RefResult:
    query: str
    total: int
    hits: list[RefHit]
    corrected: str | None = None


class Fts5Reference:
    """An FTS5 index over a content folder, with kb-like reindex and search."""

    def __init__(self, content_dir: str | os.PathLike[str], db_path: str | os.PathLike[str],
                 splitter: Splitter | None = None) -> None:
        self.content = Path(content_dir)
        self.db_path = Path(db_path)
        self._split = splitter  # loaded on first reindex: searching must not pay kb's parser imports
        self.db = sqlite3.connect(self.db_path)
        self.db.execute("PRAGMA synchronous = NORMAL")
        if not self.db.execute("SELECT 1 FROM sqlite_master WHERE name = 'files'").fetchone():
            self.db.executescript(SCHEMA)

    # -- indexing ---------------------------------------------------------

    def reindex(self, full: bool = False) -> Report:
        """Bring the index up to date: changed files by (mtime, size); all with ``full``."""
        start = time.perf_counter()
        report = Report()
        with self.db:
            if full:
                self.db.executescript("DELETE FROM sections; DELETE FROM files;")
            known = {r[0]: (r[1], r[2], r[3], r[4]) for r in self.db.execute("SELECT * FROM files")}
            seen = set()
            for path in sorted(self.content.rglob("*.md")) + sorted(self.content.rglob("*.mdx")):
                rel = path.relative_to(self.content).as_posix()
                seen.add(rel)
                st = path.stat()
                old = known.get(rel)
                if old and old[:2] == (st.st_mtime_ns, st.st_size):
                    report.unchanged += 1
                    continue
                if old:
                    self._drop(rel, old[2], old[3])
                    report.updated += 1
                else:
                    report.added += 1
                self._add(path, rel, st, report)
            for rel in set(known) - seen:
                self._drop(rel, known[rel][2], known[rel][3])
                report.removed += 1
            if full:
                self.db.execute("INSERT INTO sections(sections) VALUES ('optimize')")
        report.sections = self.db.execute("SELECT count(*) FROM sections").fetchone()[0]
        report.seconds = round(time.perf_counter() - start, 4)
        return report

    def split(self, path: Path, rel: str) -> list[RefSection]:
        """Sections of one page, with the splitter given or found on first use."""
        if self._split is None:
            self._split = load_splitter()[0]
        return self._split(path, rel)

    def _add(self, path: Path, rel: str, st: os.stat_result, report: Report) -> None:
        """Insert one file's sections; remember their contiguous rowid range."""
        try:
            secs = self.split(path, rel)
        except Exception as exc:  # one bad page must not stop the benchmark
            report.warnings.append(f"{rel}: {exc}")
            secs = []
        first = last = None
        for s in secs:
            cur = self.db.execute(
                "INSERT INTO sections(path, anchor, title, heading, body, tags) VALUES (?,?,?,?,?,?)",
                (s.path, s.anchor, s.title, s.heading, s.text, s.tags),
            )
            first = cur.lastrowid if first is None else first
            last = cur.lastrowid
        self.db.execute("INSERT INTO files VALUES (?,?,?,?,?)", (rel, st.st_mtime_ns, st.st_size, first, last))

    def _drop(self, rel: str, first: int | None, last: int | None) -> None:
        """Remove one file's sections (by rowid range: no full-table scan)."""
        if first is not None:
            self.db.execute("DELETE FROM sections WHERE rowid BETWEEN ? AND ?", (first, last))
        self.db.execute("DELETE FROM files WHERE path = ?", (rel,))

    # -- searching --------------------------------------------------------

    def search(self, query: str, limit: int = 10) -> RefResult:
        """Ranked hits with snippets; retries once with typo-corrected words when nothing matched."""
        result = self._run(query, limit)
        if result.total == 0:
            corrected = self._correct(query)
            if corrected and corrected != query:
                result = self._run(corrected, limit)
                result.query, result.corrected = query, corrected
        return result

    def _run(self, query: str, limit: int) -> RefResult:
        match = to_fts5(query)
        if not match:
            return RefResult(query, 0, [])
        try:
            total = self.db.execute("SELECT count(*) FROM sections WHERE sections MATCH ?", (match,)).fetchone()[0]
            rows = self.db.execute(
                f"SELECT path, anchor, heading, snippet(sections, 4, '[', ']', '…', 24), {BM25} AS score "
                "FROM sections WHERE sections MATCH ? ORDER BY score LIMIT ?",
                (match, limit),
            ).fetchall()
        except sqlite3.OperationalError:
            return RefResult(query, 0, [])
        return RefResult(query, total, [RefHit(*r) for r in rows])

    def _correct(self, query: str) -> str | None:
        """Replace plain words that match nothing with the closest indexed term."""
        changed = False
        out = []
        for kind, tok in parse_query(query):
            if kind == "word" and not self._exists(tok):
                fix = self._closest(tok.lower())
                if fix:
                    tok, changed = fix, True
            out.append(f'"{tok}"' if kind == "phrase" else tok + ("*" if kind == "prefix" else ""))
        return " ".join(out) if changed else None

    def _exists(self, word: str) -> bool:
        match = to_fts5(word)
        return bool(match) and self.db.execute(
            "SELECT 1 FROM sections WHERE sections MATCH ? LIMIT 1", (match,)).fetchone() is not None

    def _closest(self, word: str) -> str | None:
        """Best vocabulary term within one edit (terms are porter stems, so compare prefixes too)."""
        rows = self.db.execute("SELECT term, doc FROM vocab WHERE term >= ? AND term < ?",
                               (word[0], word[0] + "\uffff")).fetchall()
        best: tuple[int, int, str] | None = None
        for term, doc in rows:
            if not max(3, len(word) - 6, len(word) // 2) <= len(term) <= len(word) + 2:  # stems may be shorter
                continue
            d = edit_distance(word, term, 2)
            if len(term) < len(word):
                d = min(d, 1 + min(edit_distance(word[:k], term, 1) for k in (len(term) - 1, len(term), len(term) + 1)))
            if d <= 1 or (d == 2 and len(word) >= 8):
                cand = (d, -doc, term)
                best = cand if best is None or cand < best else best
        return best[2] if best else None

    def size_bytes(self) -> int:
        """Index size on disk (the database file plus any journal)."""
        return sum(p.stat().st_size for p in self.db_path.parent.glob(self.db_path.name + "*"))


def edit_distance(a: str, b: str, cap: int) -> int:
    """Levenshtein distance, giving up (returning cap + 1) once it must exceed ``cap``."""
    if abs(len(a) - len(b)) > cap:
        return cap + 1
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        if min(cur) > cap:
            return cap + 1
        prev = cur
    return prev[-1]


# --------------------------------------------------------------------------
# kb query syntax -> FTS5 MATCH expression.
# --------------------------------------------------------------------------

_QTOKEN_RE = re.compile(r'"([^"]*)"|(\S+)')
_TERM_RE = re.compile(r"\w+")


def parse_query(query: str) -> list[tuple[str, str]]:
    """kb's syntax: words (ANDed), "quoted phrases", ``word*`` prefixes."""
    out = []
    for m in _QTOKEN_RE.finditer(query):
        if m.group(1) is not None:
            out.append(("phrase", m.group(1)))
        elif m.group(2).endswith("*"):
            out.append(("prefix", m.group(2).rstrip("*")))
        else:
            out.append(("word", m.group(2)))
    return out


def to_fts5(query: str) -> str:
    """Translate to an FTS5 MATCH string; every token is quoted so no input is a syntax error."""
    parts = []
    for kind, tok in parse_query(query):
        terms = _TERM_RE.findall(tok)
        if not terms:
            continue
        quoted = '"' + " ".join(terms) + '"'
        parts.append(quoted + "*" if kind == "prefix" else quoted)
    return " AND ".join(parts)


# --------------------------------------------------------------------------
# CLI (a fresh process per call, like ``kb``).
# --------------------------------------------------------------------------


def ref_main(argv: Sequence[str] | None, *, description: str, store_flag: str, store_default: str,
             make: Callable[[str, str, Splitter | None], Any], full_reset: Callable[[str], None] | None = None) -> int:
    """Mirror ``kb``'s CLI for the two commands the benchmark times; shared by every reference engine.

    `make(content, store, splitter)` builds the engine's reference object; `full_reset(store)` clears its store
    before a full reindex when the engine cannot do that itself.
    """
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--content", default="content")
    ap.add_argument(store_flag, default=store_default, dest="store")
    ap.add_argument("--splitter", help="module:function, or 'simple' (default: kb's own if importable)")
    sub = ap.add_subparsers(dest="cmd", required=True)
    p_re = sub.add_parser("reindex")
    p_re.add_argument("--full", action="store_true")
    p_re.add_argument("--json", action="store_true")
    p_se = sub.add_parser("search")
    p_se.add_argument("query")
    p_se.add_argument("--limit", type=int, default=10)
    p_se.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    if args.cmd == "reindex":
        splitter, name = load_splitter(args.splitter)
        if args.full and full_reset is not None:
            full_reset(args.store)
        rep = make(args.content, args.store, splitter).reindex(full=args.full)
        out = asdict(rep) | {"splitter": name}
        print(json.dumps(out) if args.json else out)
    else:
        res = make(args.content, args.store, None).search(args.query, args.limit)
        if args.json:
            print(json.dumps(asdict(res)))
        else:
            print(f"{res.total} hits" + (f" (corrected: {res.corrected})" if getattr(res, "corrected", None) else ""))
            for h in res.hits:
                print(f"{h.path}#{h.anchor}  {h.heading}\n    {h.snippet}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return ref_main(argv, description=__doc__.split("\n\n")[0], store_flag="--db", store_default="fts5.sqlite",
                    make=Fts5Reference)


if __name__ == "__main__":
    sys.exit(main())
