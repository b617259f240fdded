"""Answer a parsed query from the index: build the Whoosh query, correct typos, rank, and make hits.

Ranking is BM25F over several fields with weights (title > heading > breadcrumb/metadata > body > code), a bonus
when the query's words stand together, and AND-then-OR: all words must match, and only when nothing does are
sections with the most (and rarest) of the words shown instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from whoosh import query as wq
from whoosh.scoring import BM25F

from .analysis import ANALYZER, EXACT_ANALYZER, TEXT_FIELDS, fold
from .analysis import CRUMB_SEP
from .model import Hit, SearchResult
from .query import Clause, ParsedQuery, parse
from .snippets import Matcher, make_snippet

FIELD_WEIGHTS: dict[str, float] = {"title": 2.0, "heading": 4.0, "crumbs": 1.2, "body": 1.0, "code": 0.5,
                                   "meta": 1.2}
FILTERS = ("tag", "page", "path")
PHRASE_FIELDS = ("title", "heading", "body")
PHRASE_BONUS = 1.0
PROXIMITY_SLOP = 4
BM25_B = 0.75
BM25_K1 = 1.2
FIELD_B: dict[str, float] = {"heading": 1.0}  # full length normalisation: a heading that is all query wins
MAX_EXPANSION = 64  # terms a prefix may expand to
MAX_RESULTS = 1000
CANDIDATES = 100  # Whoosh hits re-scored per query; bounded, so per-query work does not grow with the index
COVERAGE_POWER = 2.0  # partial matches: score x (rarity-weighted share of the query matched) ** this
EXACT_BONUS = 0.1  # exact (unstemmed) form matched: score x (1 + this)
PARTS_CREDIT = 0.7  # share of an identifier clause earned by matching only its parts
WHOLE_BONUS = 0.5  # a whole identifier matched, not only its parts: score x (1 + this)
EMPTY_FACTOR = 1.0  # sections with no text (a heading alone); measured: demoting them hurts (docs/ranking.md)
REPEAT_DECAY = 0.5  # each further passage of an already-listed section counts this much less (k-th: DECAY ** k)
FILL_WITH_PARTIAL = True  # when fewer than `limit` sections match every word, add the best partial matches
PREFIX_LAST = False  # search-as-you-type: the last word also matches as a prefix
PREFIX_MIN = 3
PREFIX_WEIGHT = 1.0
FIELD_COMBINE = "or"  # "or" sums a word's per-field scores; "dismax" takes the best field plus a tiebreak share
DISMAX_TIEBREAK = 0.3
SPELL_FIELDS = ("body", "heading", "title")
MAX_CORRECTABLE = 40  # longer "words" are pasted junk; correcting them costs time linear in their length


@dataclass
class Need:
    """What satisfies one query clause, for measuring how much of the query a hit covers.

    The clause counts as matched when every term of any one alternative is among the hit's matched terms; `exact`
    holds the unstemmed forms whose presence makes the match exact rather than a stem match.
    """

    alternatives: list[frozenset[str]]
    weight: float
    exact: frozenset[str] = frozenset()
    bonus: float = 0.0
    identifier: bool = False  # `exact` holds whole-identifier forms; matching only the parts earns less

    def matched(self, terms: set[str]) -> bool:
        return any(alt <= terms for alt in self.alternatives)


def analyse(text: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Split a word's analysed tokens into its parts and its merged whole forms (for identifiers)."""
    # Stop words are kept here only to see the identifier's structure ("to" in "to_subscriber" is a part).
    tokens = [(t.text, t.pos, t.stopped) for t in ANALYZER(text, positions=True, removestops=False)]
    parts, wholes = [], []
    seen_pos: set[int] = set()
    for tok, pos, stopped in tokens:
        # A whole identifier (or compound segment) is emitted after its parts with its first part's position.
        if pos in seen_pos:
            if not stopped:
                wholes.append(tok)
        else:
            seen_pos.add(pos)
            if not stopped:
                parts.append(tok)
    if not parts and wholes:
        parts, wholes = wholes[-1:], wholes[:-1]
    return tuple(dict.fromkeys(parts)), tuple(dict.fromkeys(wholes))


class QueryBuilder:
    """Turns clauses into Whoosh queries and remembers, per clause, what satisfies it (see `Need`)."""

    def __init__(self, reader: Any, *, prefix_last: bool = False) -> None:
        self.reader = reader
        self.prefix_last = prefix_last
        self.needs: list[Need] = []
        self.group_needs: list[list[Need]] = []
        self._doc_count = max(1, reader.doc_count_all())

    def idf(self, tokens: tuple[str, ...] | list[str]) -> float:
        """Rarity of a clause: the idf of its rarest token over the body-like fields."""
        best = 0.0
        for t in tokens:
            df = max((self.reader.doc_frequency(f, t) for f in ("title", "heading", "body", "code")), default=0)
            best = max(best, math.log(1 + self._doc_count / (df + 0.5)))
        return best or math.log(1 + self._doc_count / 0.5)

    def term_any_field(self, token: str, fields: tuple[str, ...] = TEXT_FIELDS) -> wq.Query:
        subs = [wq.Term(f, token, boost=FIELD_WEIGHTS[f]) for f in fields]
        if FIELD_COMBINE == "dismax":
            return wq.DisjunctionMax(subs, tiebreak=DISMAX_TIEBREAK)
        return wq.Or(subs)

    def exact_forms(self, text: str, fields: tuple[str, ...]) -> tuple[list[wq.Query], frozenset[str]]:
        """Optional unstemmed-form terms: matching them marks the hit as an exact (not only stem) match."""
        forms = [t.text for t in EXACT_ANALYZER(text)]
        if fields != TEXT_FIELDS or "exact" not in self.reader.schema:
            return [], frozenset()
        return [wq.Term("exact", w, boost=1e-3) for w in forms], frozenset(forms)

    def word(self, clause: Clause, *, as_prefix: bool = False) -> wq.Query | None:
        fields = ("title",) if clause.field == "title" else TEXT_FIELDS
        parts, wholes = analyse(clause.text)
        if not parts:
            return None
        required = wq.And([self.term_any_field(t, fields) for t in parts]) if len(parts) > 1 else \
            self.term_any_field(parts[0], fields)
        alternatives = [frozenset(parts)] + [frozenset([w]) for w in wholes]
        optional: list[wq.Query] = []
        if wholes:
            optional.extend(self.term_any_field(w, fields) for w in wholes)
        if wholes:
            exact, bonus = frozenset(wholes), WHOLE_BONUS
        else:
            exact_q, exact = self.exact_forms(clause.text, fields)
            optional.extend(exact_q)
            bonus = EXACT_BONUS
        if as_prefix and len(parts) == 1 and len(fold(clause.text)) >= PREFIX_MIN:
            expansions = [(t, q) for t, q in self._prefix_terms(fold(clause.text), fields) if t not in parts]
            if expansions:
                required = wq.Or([required] + [q for _, q in expansions])
                alternatives.extend(frozenset([t]) for t, _ in expansions)
        self.needs.append(Need(alternatives, self.idf(parts), exact, bonus, identifier=bool(wholes)))
        if optional:
            return wq.AndMaybe(required, wq.Or(optional))
        return required

    def phrase(self, clause: Clause) -> wq.Query | None:
        tokens = [t.text for t in ANALYZER(clause.text)]
        if not tokens:
            return None
        self.needs.append(Need([frozenset(tokens)], self.idf(tokens)))
        if len(tokens) == 1:
            return self.term_any_field(tokens[0])
        fields = ("title",) if clause.field == "title" else PHRASE_FIELDS
        return wq.Or([wq.Phrase(f, tokens, boost=FIELD_WEIGHTS[f]) for f in fields])

    def _prefix_terms(self, stem: str, fields: tuple[str, ...], boost: float = 1.0) -> list[tuple[str, wq.Query]]:
        out: list[tuple[str, wq.Query]] = []
        names = [(f, FIELD_WEIGHTS[f]) for f in fields]
        if fields != ("title",):
            names.append(("exact", FIELD_WEIGHTS["body"]))  # unstemmed forms: "forwa*" reaches "forwarding"
        for name, weight in names:
            if name not in self.reader.schema:
                continue
            for t in self._expand(name, stem):
                out.append((t, wq.Term(name, t, boost=weight * boost * PREFIX_WEIGHT)))
        return out

    def prefix(self, clause: Clause) -> wq.Query | None:
        stem = fold(clause.text)
        fields = ("title",) if clause.field == "title" else ("title", "heading", "body", "code")
        expansions = self._prefix_terms(stem, fields)
        self.needs.append(Need([frozenset([t]) for t, _ in expansions] or [frozenset([stem])], self.idf([stem])))
        return wq.Or([q for _, q in expansions]) if expansions else wq.NullQuery

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

    def clause(self, clause: Clause, *, last: bool = False) -> wq.Query | None:
        if clause.field in ("tag", "page", "path"):
            return self.filter(clause)
        if clause.kind == "phrase":
            return self.phrase(clause)
        if clause.kind == "prefix":
            return self.prefix(clause)
        return self.word(clause, as_prefix=last and self.prefix_last)

    def group(self, clauses: tuple[Clause, ...], *, mode: str, last_group: bool = False) -> wq.Query | None:
        final = max((i for i, c in enumerate(clauses) if c.kind == "word" and not c.negated and not c.field),
                    default=-1) if last_group else -1
        self.needs = []
        # Filters (tag:, page:, path:) always narrow, even when the words fall back to OR.
        filters = [q for c in clauses if not c.negated and c.field in FILTERS
                   for q in [self.clause(c)] if q is not None]
        positives = [q for i, c in enumerate(clauses) if not c.negated and c.field not in FILTERS
                     for q in [self.clause(c, last=i == final)] if q is not None]
        self.group_needs.append(self.needs)
        negatives = [q for c in clauses if c.negated for q in [self.clause(c)] if q is not None]
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
        self.group_needs = []
        n = len(parsed.groups)
        groups = [q for i, g in enumerate(parsed.groups)
                  for q in [self.group(g, mode=mode, last_group=i == n - 1)] if q is not None]
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
        for cand in reader.terms_within(f, folded, maxdist, prefix=1):
            cand = cand.decode("utf-8") if isinstance(cand, bytes) else cand
            if cand == folded:
                continue
            dist = _distance(folded, cand)
            if dist > maxdist:
                continue
            freq = reader.doc_frequency("exact", cand) or reader.doc_frequency(f, cand)
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


@dataclass
class Candidate:
    score: float
    result: Any
    complete: bool = True  # matched every clause of some group


def coverage(needs: list[Need], terms: set[str]) -> tuple[float, float, bool]:
    """Share of the query (weighted by rarity) a hit matched, its exact-match bonus, and whether it matched all.

    An identifier matched only by its parts ("network" and "info" for GetNetworkInfo) earns PARTS_CREDIT of its
    weight; the whole name earns all of it. The bonus averages, over matched clauses that have an exact form, that
    clause's bonus when the hit holds the unstemmed word or the whole identifier.
    """
    total = sum(n.weight for n in needs) or 1.0
    matched = [n for n in needs if n.matched(terms)]
    share = 0.0
    for n in matched:
        share += n.weight * (PARTS_CREDIT if n.identifier and not n.exact & terms else 1.0)
    with_forms = [n for n in matched if n.exact]
    bonus = sum(n.bonus for n in with_forms if n.exact & terms) / len(with_forms) if with_forms else 0.0
    return share / total, bonus, len(matched) == len(needs)


def rank(results: Any, group_needs: list[list[Need]]) -> list[Candidate]:
    """Re-score Whoosh's hits; each passage stays its own hit, but a section's later passages yield to others.

    Score = BM25F x coverage^COVERAGE_POWER x (1 + exact-form bonus), then the k-th passage of the same section
    is multiplied by REPEAT_DECAY**k, so the list shows many sections first and a long section's other matching
    passages after them. Sections that match every word come first (AND semantics); the others follow only to
    fill the list, best partial match first.
    """
    scored: list[Candidate] = []
    for r in results:
        terms = {t.decode("utf-8") if isinstance(t, bytes) else t for _, t in (r.matched_terms() or ())}
        share, bonus, complete = max((coverage(needs, terms) for needs in group_needs if needs),
                                     default=(1.0, 0.0, True))
        score = float(r.score) * (share ** COVERAGE_POWER) * (1.0 + bonus)
        if not r.get("body") and not r.get("code"):
            score *= EMPTY_FACTOR  # a bare heading cannot answer anything; its page's sections can
        scored.append(Candidate(score, r, complete))
    scored.sort(key=lambda c: -c.score)
    seen: dict[tuple[str, str], int] = {}
    for c in scored:
        key = (c.result["path"], c.result["anchor"])
        c.score *= REPEAT_DECAY ** seen.get(key, 0)
        seen[key] = seen.get(key, 0) + 1
    return sorted(scored, key=lambda c: (not c.complete, -c.score))


def _count(results: Any, fetch: int) -> int:
    """Matching passages: exact when all were collected, else Whoosh's estimate (counting runs the query again)."""
    scored = results.scored_length()
    return scored if scored < fetch else max(scored, results.estimated_length())


def run(searcher: Any, query: str, *, limit: int = 10) -> SearchResult:
    """Search (after typo correction) for sections with every word, then fill up with the best partial matches.

    One Whoosh query (an OR of the clauses) gives the candidates; `rank` puts complete matches first. Without
    FILL_WITH_PARTIAL, partial matches are shown only when no section has every word.
    """
    parsed = parse(query)
    if not parsed.positive:
        return SearchResult(query=query, total=0, suggestion=None, hits=(), searched="")
    reader = searcher.reader()
    suggestion = None
    fixed, changed = corrected(reader, parsed)
    if changed:
        suggestion = fixed.text()
        parsed = fixed
    builder = QueryBuilder(reader, prefix_last=PREFIX_LAST)
    fetch = max(limit * 3, CANDIDATES)
    q = builder.build(parsed, mode="or")
    if q is None:
        return SearchResult(query=query, total=0, suggestion=suggestion, hits=(), searched=parsed.text())
    results = searcher.search(q, limit=fetch, terms=True)
    ranked = rank(results, builder.group_needs)
    complete = [c for c in ranked if c.complete]
    fallback = None
    total = _count(results, fetch)
    if complete:
        if len(complete) >= limit or not FILL_WITH_PARTIAL:
            ranked = complete
        if results.scored_length() < fetch:
            total = len(ranked)
    elif len(parsed.positive) > 1:
        fallback = "or"
    matcher = matcher_for(parsed)
    hits = tuple(_hit(n, c, matcher) for n, c in enumerate(ranked[:limit], 1))
    return SearchResult(query=query, total=max(total, len(hits)), suggestion=suggestion, hits=hits,
                        searched=parsed.text(), fallback=fallback if hits else None)


def _hit(rank: int, c: Candidate, matcher: Matcher) -> Hit:
    r = c.result
    fields = r.fields()
    snippet, highlights = make_snippet(fields.get("body", ""), matcher)
    if not highlights and fields.get("code"):
        code_snippet, code_hl = make_snippet(fields["code"], matcher)
        if code_hl or not snippet:
            snippet, highlights = code_snippet, code_hl
    return Hit(
        rank=rank,
        score=round(c.score, 3),
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
    return BM25F(B=BM25_B, K1=BM25_K1, **{f"{f}_B": b for f, b in FIELD_B.items()})


__all__ = ["run", "weighting", "EXACT_ANALYZER"]
