"""Answer a parsed query from the index: build the Whoosh query, correct typos, rank, and make hits.

Ranking is BM25F over several fields with weights (title > heading > breadcrumb/metadata > body > code), a bonus
when the query's words stand together, and AND-then-OR: all words must match, and only when nothing does are
sections with the most (and rarest) of the words shown instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from whoosh import query as wq
from whoosh.scoring import BM25F

from .analysis import ANALYZER, EXACT_ANALYZER, TEXT_FIELDS, fold
from .index import CRUMB_SEP
from .model import Hit, SearchResult
from .query import Clause, ParsedQuery, parse
from .snippets import Matcher, make_snippet

FIELD_WEIGHTS: dict[str, float] = {"title": 2.0, "heading": 3.0, "crumbs": 1.2, "body": 1.0, "code": 0.5,
                                   "meta": 1.2}
PHRASE_FIELDS = ("title", "heading", "body")
PHRASE_BONUS = 2.0
PROXIMITY_SLOP = 4
MAX_EXPANSION = 64  # terms a prefix may expand to
MAX_RESULTS = 1000
SPELL_FIELDS = ("body", "heading", "title")
MAX_CORRECTABLE = 40  # longer "words" are pasted junk; correcting them costs time linear in their length


@dataclass
class Analysed:
    """A clause's index terms: required parts, and optional whole-identifier forms that boost exact matches."""

    clause: Clause
    parts: tuple[str, ...]
    wholes: tuple[str, ...]


def analyse(text: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Split a word's analysed tokens into its parts and its merged whole forms (for identifiers)."""
    tokens = [(t.text, t.pos) for t in ANALYZER(text, positions=True)]
    if len(tokens) <= 1:
        return tuple(t for t, _ in tokens), ()
    parts, wholes = [], []
    seen_pos: set[int] = set()
    for i, (tok, pos) in enumerate(tokens):
        # A whole identifier is emitted after its parts with the first part's position.
        if pos in seen_pos and i > 0:
            wholes.append(tok)
        else:
            parts.append(tok)
            seen_pos.add(pos)
    return tuple(dict.fromkeys(parts)), tuple(dict.fromkeys(wholes))


class QueryBuilder:
    def __init__(self, reader: Any) -> None:
        self.reader = reader

    def term_any_field(self, token: str, fields: tuple[str, ...] = TEXT_FIELDS) -> wq.Query:
        return wq.Or([wq.Term(f, token, boost=FIELD_WEIGHTS[f]) for f in fields])

    def word(self, clause: Clause) -> wq.Query | None:
        fields = ("title",) if clause.field == "title" else TEXT_FIELDS
        parts, wholes = analyse(clause.text)
        if not parts:
            return None
        required = wq.And([self.term_any_field(t, fields) for t in parts]) if len(parts) > 1 else \
            self.term_any_field(parts[0], fields)
        if wholes:
            return wq.AndMaybe(required, wq.Or([self.term_any_field(w, fields) for w in wholes]))
        return required

    def phrase(self, clause: Clause) -> wq.Query | None:
        tokens = [t.text for t in ANALYZER(clause.text)]
        if not tokens:
            return None
        if len(tokens) == 1:
            return self.term_any_field(tokens[0])
        fields = ("title",) if clause.field == "title" else PHRASE_FIELDS
        return wq.Or([wq.Phrase(f, tokens, boost=FIELD_WEIGHTS[f]) for f in fields])

    def prefix(self, clause: Clause) -> wq.Query | None:
        stem = fold(clause.text)
        fields = ("title",) if clause.field == "title" else ("title", "heading", "body", "code")
        subs: list[wq.Query] = []
        for f in fields:
            for name in (f, f"spell_{f}"):
                if name not in self.reader.schema:
                    continue
                terms = self._expand(name, stem)
                subs.extend(wq.Term(name, t, boost=FIELD_WEIGHTS[f]) for t in terms)
        return wq.Or(subs) if subs else wq.NullQuery

    def _expand(self, fieldname: str, prefix: str) -> list[str]:
        found: list[tuple[int, str]] = []
        for n, term in enumerate(self.reader.expand_prefix(fieldname, prefix)):
            if n >= 2000:
                break
            text = term.decode("utf-8") if isinstance(term, bytes) else term
            found.append((self.reader.doc_frequency(fieldname, text), text))
        found.sort(reverse=True)
        return [t for _, t in found[:MAX_EXPANSION]]

    def filter(self, clause: Clause) -> wq.Query | None:
        value = clause.text
        if clause.field == "tag":
            return wq.Term("tags", value.lower())
        if clause.field == "page":
            return wq.Or([wq.Term("page", value), wq.Prefix("page", value.rstrip("/") + "/")])
        if clause.field == "path":
            return wq.Prefix("path", value.lstrip("./"))
        return None

    def clause(self, clause: Clause) -> wq.Query | None:
        if clause.field in ("tag", "page", "path"):
            return self.filter(clause)
        if clause.kind == "phrase":
            return self.phrase(clause)
        if clause.kind == "prefix":
            return self.prefix(clause)
        return self.word(clause)

    def group(self, clauses: tuple[Clause, ...], *, mode: str) -> wq.Query | None:
        def built(keep: Any) -> list[wq.Query]:
            return [q for c in clauses if keep(c) for q in [self.clause(c)] if q is not None]

        # Filters (tag:, page:, path:) always narrow, even when the words fall back to OR.
        filters = built(lambda c: not c.negated and c.field in ("tag", "page", "path"))
        positives = built(lambda c: not c.negated and c.field not in ("tag", "page", "path"))
        negatives = built(lambda c: c.negated)
        if not positives and not filters:
            return None
        main: wq.Query = wq.And(positives) if mode == "and" or not positives else wq.Or(positives)
        if filters:
            main = wq.And([main, *filters]) if positives else wq.And(filters)
        words = [c.text for c in clauses if not c.negated and c.kind == "word" and not c.field]
        tokens = [t.text for w in words for t in ANALYZER(w)]
        if len(tokens) > 1:
            bonus = wq.Or([wq.Phrase(f, tokens, slop=PROXIMITY_SLOP, boost=PHRASE_BONUS * FIELD_WEIGHTS[f])
                           for f in PHRASE_FIELDS])
            main = wq.AndMaybe(main, bonus)
        if negatives:
            main = wq.AndNot(main, wq.Or(negatives))
        return main

    def build(self, parsed: ParsedQuery, *, mode: str) -> wq.Query | None:
        groups = [q for g in parsed.groups for q in [self.group(g, mode=mode)] if q is not None]
        if not groups:
            return None
        return groups[0] if len(groups) == 1 else wq.Or(groups)


def _known(reader: Any, token: str) -> bool:
    return any(reader.doc_frequency(f, token) for f in TEXT_FIELDS)


def _distance(a: str, b: str) -> int:
    """Damerau-Levenshtein (optimal string alignment) distance."""
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cost = 0 if ca == cb else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
    return prev[-1]


def correct_word(reader: Any, word: str) -> str | None:
    """The closest indexed word to an unknown one, or None. Short words allow one edit, longer ones two."""
    folded = fold(word)
    if not 3 <= len(folded) <= MAX_CORRECTABLE or not folded.isalpha():
        return None
    maxdist = 1 if len(folded) <= 5 else 2
    best: tuple[int, int, str] | None = None
    for f in SPELL_FIELDS:
        if f not in reader.schema:
            continue
        spell = reader.schema[f].spelling_fieldname(f)
        for cand in reader.terms_within(f, folded, maxdist, prefix=1):
            cand = cand.decode("utf-8") if isinstance(cand, bytes) else cand
            if cand == folded:
                continue
            dist = _distance(folded, cand)
            if dist > maxdist:
                continue
            freq = reader.doc_frequency(spell, cand)
            key = (dist, -freq, cand)
            if best is None or key < best:
                best = key
    return best[2] if best else None


def corrected(reader: Any, parsed: ParsedQuery) -> tuple[ParsedQuery, bool]:
    """Replace words the index has never seen with their closest indexed spelling."""
    changed = False
    groups = []
    for g in parsed.groups:
        out = []
        for c in g:
            if c.kind == "word" and not c.negated and c.field in (None, "title"):
                tokens = [t.text for t in ANALYZER(c.text)]
                if tokens and not any(_known(reader, t) for t in tokens):
                    fix = correct_word(reader, c.text)
                    if fix:
                        c = Clause("word", fix, c.field, c.negated)
                        changed = True
            out.append(c)
        groups.append(tuple(out))
    return ParsedQuery(tuple(groups), parsed.dropped), changed


def matcher_for(parsed: ParsedQuery) -> Matcher:
    terms: set[str] = set()
    prefixes: list[str] = []
    for c in parsed.positive:
        if c.field in ("tag", "page", "path"):
            continue
        if c.kind == "prefix":
            prefixes.append(fold(c.text))
        else:
            terms.update(t.text for t in ANALYZER(c.text))
    return Matcher(frozenset(terms), tuple(prefixes))


def run(searcher: Any, query: str, *, limit: int = 10) -> SearchResult:
    """Search with AND semantics, then with typo corrections, then with OR; report what was searched."""
    parsed = parse(query)
    if not parsed.positive:
        return SearchResult(query=query, total=0, suggestion=None, hits=(), searched="")
    reader = searcher.reader()
    suggestion = None
    fixed, changed = corrected(reader, parsed)
    if changed:
        suggestion = fixed.text()
        parsed = fixed
    builder = QueryBuilder(reader)
    fallback = None
    results = None
    q = builder.build(parsed, mode="and")
    if q is not None:
        results = searcher.search(q, limit=max(limit, 1))
    if (results is None or results.is_empty()) and len(parsed.positive) > 1:
        q = builder.build(parsed, mode="or")
        if q is not None:
            results = searcher.search(q, limit=max(limit, 1))
            fallback = "or"
    if results is None:
        return SearchResult(query=query, total=0, suggestion=suggestion, hits=(), searched=parsed.text())
    matcher = matcher_for(parsed)
    hits = tuple(_hit(rank, r, matcher) for rank, r in enumerate(results[:limit], 1))
    total = len(results)
    return SearchResult(query=query, total=total, suggestion=suggestion, hits=hits,
                        searched=parsed.text(), fallback=fallback if hits else None)


def _hit(rank: int, r: Any, matcher: Matcher) -> Hit:
    fields = r.fields()
    snippet, highlights = make_snippet(fields.get("body", ""), matcher)
    if not highlights and fields.get("code"):
        code_snippet, code_hl = make_snippet(fields["code"], matcher)
        if code_hl or not snippet:
            snippet, highlights = code_snippet, code_hl
    return Hit(
        rank=rank,
        score=round(float(r.score), 3),
        page=fields["page"],
        path=fields["path"],
        title=fields.get("title", ""),
        section=fields.get("section", ""),
        anchor=fields.get("anchor", ""),
        breadcrumb=tuple(fields.get("breadcrumb", "").split(CRUMB_SEP)),
        line=int(fields.get("line", 1)),
        snippet=snippet,
        highlights=highlights,
        part=int(fields.get("part", 0)),
    )


def weighting() -> BM25F:
    return BM25F(B=0.75, K1=1.2)


__all__ = ["run", "weighting", "EXACT_ANALYZER"]
