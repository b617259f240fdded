"""Answer a parsed query from the index: plan the clauses, correct typos, score, rank, and make hits.

Ranking is BM25F over several fields with weights (title > heading > breadcrumb/metadata > body > code), a bonus
when the query's words stand together, and AND-then-OR: sections with every word come first, the best partial
matches fill the list. Scoring reads the posting lists directly (kb/whoosh/engine.py); docs/ranking.md says why.
"""

from __future__ import annotations

import heapq
import math
import sys
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field

from .analysis import ANALYZER, CRUMB_SEP, EXACT_ANALYZER, TEXT_FIELDS, fold
from .chrome import CHROME_FACTOR, is_chrome
from .model import Excerpt, Hit, SearchResult
from .query import Clause, ParsedQuery, parse, render
from .snippets import Matcher, make_snippet
from .whoosh.engine import Engine, index_of, phrase_at, terms_within

TYPE_CHECKING = False  # rather than typing's: a cold search does not import typing (kb/__init__.py)
if TYPE_CHECKING:
    from typing import Any

    from .dense import Dense, Scores

FIELD_WEIGHTS: dict[str, float] = {"title": 2.0, "heading": 4.0, "crumbs": 1.2, "body": 1.0, "code": 0.5,
                                   "meta": 1.2}
FILTERS = ("tag", "page", "path", "source")
PHRASE_FIELDS = ("title", "heading", "body")
PHRASE_BONUS = 1.0
PROXIMITY_SLOP = 4
BM25_B = 0.75
BM25_K1 = 1.2
FIELD_B: dict[str, float] = {"heading": 1.0}  # full length normalisation: a heading that is all query wins
MAX_EXPANSION = 64  # terms a prefix may expand to
CANDIDATES = 100  # Whoosh hits re-scored per query; bounded, so per-query work does not grow with the index
COVERAGE_POWER = 2.0  # partial matches: score x (rarity-weighted share of the query matched) ** this
EXACT_BONUS = 0.1  # exact (unstemmed) form matched: score x (1 + this)
PARTS_CREDIT = 0.7  # share of an identifier clause earned by matching only its parts
WHOLE_BONUS = 0.5  # a whole identifier matched, not only its parts: score x (1 + this)
REPEAT_DECAY = 0.5  # each further passage of an already-listed section counts this much less (k-th: DECAY ** k)
FILL_WITH_PARTIAL = True  # when fewer than `limit` sections match every word, add the best partial matches
PREFIX_LAST = False  # search-as-you-type: the last word also matches as a prefix
PREFIX_MIN = 3
PREFIX_WEIGHT = 1.0
SPELL_FIELDS = ("body",)  # body, heading and title all draw typo corrections from the `exact` word list
MAX_CORRECTABLE = 40  # longer "words" are pasted junk; correcting them costs time linear in their length
MAX_PHRASE_CHECKS = 1000  # documents whose positions a quoted phrase reads, best bag-of-words score first
PHRASE_ENOUGH = 300  # a quoted phrase stops checking a field once this many documents hold it (= the pool below)
SOFT_FIELDS = ("title", "heading", "code")  # where a dropped question word still counts (see soft_boost)
SOFT_WEIGHT = 1.0
PROXIMITY_POOL = 3  # the proximity bonus is computed for this many x the candidates, best first
# The reference path for tests and benchmarks/warm.py: every posting block unpickled whole (positions kept) and the
# candidate pool picked by heapq.nlargest with a key, as before the lean path. Same results, slower.
EXHAUSTIVE = False
IMPACTS = True  # lean reads take long lists from the segments' impacts files (kb/whoosh/impacts.py) where present
# Scoring with numpy (kb/dense.py; numpy comes with the extra `fast`), same results: None decides per query before
# scoring (`_vector`), True uses it for every lean search when numpy is installed, False never (the dicts below).
DENSE: bool | None = None
DENSE_MIN = 2_000  # postings in a query's lists from which numpy pays, once it is imported (docs/performance.md)
DENSE_IMPORT_MIN = 400_000  # postings from which it pays its own import too (~0.1-0.14 CPU-s), in a first search
# terms matched by a candidate -> (share, bonus, complete) per group of the query (see coverage, coverer)
Cover = Callable[[set[str]], list[tuple[float, float, bool]]]


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


Ref = tuple[str, str, float]  # (field, term, boost)


@dataclass
class Plan:
    """One clause as posting-list work: a document satisfies it when it holds one alternative of every `required`
    slot (and, for a phrase, the tokens in order); `optional` terms add to the score of documents that satisfy it.
    """

    required: list[list[Ref]]
    optional: list[Ref]
    phrase: tuple[tuple[str, ...], list[int], tuple[str, ...]] | None = None  # tokens, query offsets, fields


@dataclass
class GroupPlan:
    """One OR-group of the query as posting-list work (a docstring also spares dataclasses an inspect import)."""

    positives: list[Plan]
    filters: list[set[int]]
    negatives: list[Plan]
    proximity: tuple[str, ...] = ()  # the group's plain words' tokens, for the bonus when they stand together


def _plain_word(c: Clause) -> bool:
    return c.kind == "word" and not c.negated and not c.field


def _last_plain_word(clauses: tuple[Clause, ...]) -> int:
    """Position of the group's last plain word (search-as-you-type reads it as a prefix), or -1."""
    return max((i for i, c in enumerate(clauses) if _plain_word(c)), default=-1)


class QueryBuilder:
    """Turns clauses into posting-list plans and remembers, per clause, what satisfies it (see `Need`)."""

    def __init__(self, engine: Engine, *, prefix_last: bool = False) -> None:
        self.engine = engine
        self.reader = engine.searcher.reader()
        self.prefix_last = prefix_last
        self.needs: list[Need] = []
        self.group_needs: list[list[Need]] = []
        self.refs: set[tuple[str, str]] = set()  # every (field, term) a hit may match, for its matched terms
        self._doc_count = engine.N

    def idf(self, tokens: tuple[str, ...] | list[str]) -> float:
        """Rarity of a clause: the idf of its rarest token over the body-like fields."""
        best = 0.0
        for t in tokens:
            df = max((self.engine.doc_frequency(f, t) for f in ("title", "heading", "body", "code")), default=0)
            best = max(best, math.log(1 + self._doc_count / (df + 0.5)))
        return best or math.log(1 + self._doc_count / 0.5)

    def any_field(self, token: str, fields: tuple[str, ...] = TEXT_FIELDS) -> list[Ref]:
        return [(f, token, FIELD_WEIGHTS[f]) for f in fields]

    def _track(self, refs: list[Ref]) -> list[Ref]:
        self.refs.update((f, t) for f, t, _ in refs)
        return refs

    def word(self, clause: Clause, *, as_prefix: bool = False) -> Plan | None:
        fields = ("title",) if clause.field == "title" else TEXT_FIELDS
        parts, wholes = analyse(clause.text)
        if not parts:
            return None
        required = [self._track(self.any_field(t, fields)) for t in parts]
        alternatives = [frozenset(parts)] + [frozenset([w]) for w in wholes]
        optional: list[Ref] = []
        for w in wholes:
            optional.extend(self._track(self.any_field(w, fields)))
        if wholes:
            exact, bonus = frozenset(wholes), WHOLE_BONUS
        else:
            exact = frozenset()
            if fields == TEXT_FIELDS and "exact" in self.reader.schema:
                exact = frozenset(t.text for t in EXACT_ANALYZER(clause.text))
                self._track([("exact", w, 1e-3) for w in exact])  # marks an exact match; too small to score
            bonus = EXACT_BONUS
        if as_prefix and len(parts) == 1 and len(fold(clause.text)) >= PREFIX_MIN:
            expansions = [r for r in self._prefix_terms(fold(clause.text), fields) if r[1] not in parts]
            if expansions:
                required = [required[0] + self._track(expansions)]
                alternatives.extend(frozenset([t]) for _, t, _ in expansions)
        self.needs.append(Need(alternatives, self.idf(parts), exact, bonus, identifier=bool(wholes)))
        return Plan(required, optional)

    def phrase(self, clause: Clause) -> Plan | None:
        toks = [(t.text, t.pos) for t in ANALYZER(clause.text, positions=True)]
        if not toks:
            return None
        tokens = tuple(t for t, _ in toks)
        self.needs.append(Need([frozenset(tokens)], self.idf(tokens)))
        if len(tokens) == 1:
            return Plan([self._track(self.any_field(tokens[0]))], [])
        fields = ("title",) if clause.field == "title" else PHRASE_FIELDS
        self._track([(f, t, 1.0) for f in fields for t in tokens])
        # Offsets from the query's own positions: stop words leave the same gaps the index has ("see the upstream").
        offsets = [p - toks[0][1] for _, p in toks]
        return Plan([], [], (tokens, offsets, fields))

    def _prefix_terms(self, stem: str, fields: tuple[str, ...], boost: float = 1.0) -> list[Ref]:
        out: list[Ref] = []
        names = [(f, FIELD_WEIGHTS[f]) for f in fields]
        if fields != ("title",):
            names.append(("exact", FIELD_WEIGHTS["body"]))  # unstemmed forms: "forwa*" reaches "forwarding"
        for name, weight in names:
            if name not in self.reader.schema:
                continue
            for _df, t in self.engine.prefix_terms(name, stem, limit=MAX_EXPANSION):
                out.append((name, t, weight * boost * PREFIX_WEIGHT))
        return out

    def prefix(self, clause: Clause) -> Plan | None:
        stem = fold(clause.text)
        fields = ("title",) if clause.field == "title" else ("title", "heading", "body", "code")
        expansions = self._prefix_terms(stem, fields)
        self.needs.append(Need([frozenset([t]) for _, t, _ in expansions] or [frozenset([stem])], self.idf([stem])))
        return Plan([self._track(expansions)], [])

    def filter(self, clause: Clause) -> set[int]:
        value = clause.text
        eng = self.engine
        if clause.field == "tag":
            return set(eng.doc_ids("tags", value.lower()))
        if clause.field == "source":
            return set(eng.doc_ids("source", value))
        if clause.field == "page":
            docs = set(eng.doc_ids("page", value))
            for _df, t in eng.prefix_terms("page", value.rstrip("/") + "/", limit=100000, scan=100000):
                docs.update(eng.doc_ids("page", t))
            return docs
        docs = set()
        for _df, t in eng.prefix_terms("path", value.lstrip("./"), limit=100000, scan=100000):
            docs.update(eng.doc_ids("path", t))
        return docs

    def clause(self, clause: Clause, *, last: bool = False) -> Plan | None:
        if clause.kind == "phrase":
            return self.phrase(clause)
        if clause.kind == "prefix":
            return self.prefix(clause)
        return self.word(clause, as_prefix=last and self.prefix_last)

    def group(self, clauses: tuple[Clause, ...], *, last_group: bool = False) -> GroupPlan | None:
        """One group of the query: filters narrow, positive clauses match and score, negated ones exclude."""
        self.needs = []
        # Filters (tag:, page:, path:) always narrow, even when the words fall back to OR.
        filters = [self.filter(c) for c in clauses if not c.negated and c.field in FILTERS]
        positives = self._positives(clauses, prefix_at=_last_plain_word(clauses) if last_group else -1)
        self.group_needs.append(self.needs)
        negatives = self._negatives(clauses)
        if not positives and not filters:
            return None
        return GroupPlan(positives, filters, negatives, self._proximity(clauses))

    def _positives(self, clauses: tuple[Clause, ...], *, prefix_at: int) -> list[Plan]:
        """Plans of the clauses a hit must satisfy; the clause at `prefix_at` may also match as a prefix."""
        plans = []
        for i, c in enumerate(clauses):
            if c.negated or c.field in FILTERS:
                continue
            plan = self.clause(c, last=i == prefix_at)
            if plan is not None:
                plans.append(plan)
        return plans

    def _negatives(self, clauses: tuple[Clause, ...]) -> list[Plan]:
        """Plans of the excluded clauses; their terms do not count as terms a hit matched, nor are they something
        a hit must cover (a hit never holds them: counted, they made no hit complete and cut every score)."""
        refs, needs = set(self.refs), self.needs
        self.needs = []
        plans = [p for c in clauses if c.negated and c.field not in FILTERS for p in [self.clause(c)] if p is not None]
        self.refs, self.needs = refs, needs
        return plans

    def _proximity(self, clauses: tuple[Clause, ...]) -> tuple[str, ...]:
        """The plain words' tokens, for the bonus when they stand together (two or more, else none)."""
        tokens = tuple(t.text for c in clauses if _plain_word(c) for t in ANALYZER(c.text))
        if len(tokens) < 2:
            return ()
        self.refs.update((f, t) for f in PHRASE_FIELDS for t in tokens)
        return tokens

    def build(self, parsed: ParsedQuery) -> list[GroupPlan]:
        self.group_needs = []
        n = len(parsed.groups)
        return [p for i, g in enumerate(parsed.groups) for p in [self.group(g, last_group=i == n - 1)]
                if p is not None]


def _satisfying(engine: Engine, plan: Plan, *, score: bool = True) -> dict[int, float]:
    """Documents that satisfy one clause, with its BM25F score (sum over its terms and fields)."""
    if plan.phrase is not None:
        return _phrase_docs(engine, plan.phrase, slop=0)
    docs: dict[int, float] | None = None
    for slot in plan.required:
        acc = engine.sum_scores(slot)
        if docs is None:
            docs = acc
        else:
            small, big = (docs, acc) if len(docs) <= len(acc) else (acc, docs)
            docs = {d: s + big[d] for d, s in small.items() if d in big}
        if not docs:
            return {}
    docs = docs or {}
    if score and plan.optional and docs:
        for f, t, boost in plan.optional:
            for d, s in engine.score_docs(docs, f, t, boost).items():
                docs[d] += s
    return docs


def _phrase_docs(engine: Engine, phrase: tuple[tuple[str, ...], list[int], tuple[str, ...]], *, slop: int,
                 among: set[int] | None = None, weight: float = 1.0, vector: Dense | None = None
                 ) -> dict[int, float]:
    """Documents with the tokens standing together in a field, scored as the tokens' BM25 in those fields (the
    candidates of a quoted phrase found with numpy when `vector` is given: the same documents, scores, order)."""
    tokens, offsets, fields = phrase
    out: dict[int, float] = {}
    pending: list[tuple[str, dict[int, float], set[int]]] = []  # per field: bag scores, documents checked

    def check(f: str, docs: list[int], bag: dict[int, float], checked: set[int]) -> int:
        pos = [engine.positions(f, t, docs) for t in tokens]
        found = 0
        for d in docs:
            checked.add(d)
            if phrase_at([p.get(d, []) for p in pos], offsets, slop):
                out[d] = out.get(d, 0.0) + bag[d]
                found += 1
        return found

    for f in fields:
        if vector is not None and among is None:
            common, bag = vector.candidates(f, tokens, FIELD_WEIGHTS[f] * weight)
            if not common:
                continue
            checked: set[int] = set()
            pending.append((f, bag, checked))
            if len(common) > PHRASE_ENOUGH:
                common = vector.best_first(common, bag, MAX_PHRASE_CHECKS)
            _check_phrase(engine, f, tokens, common, bag, checked, check, prefetch=True)
            continue
        found = _phrase_candidates(engine, f, tokens, among, FIELD_WEIGHTS[f] * weight)
        if found is None:
            continue
        common, per_token = found
        bag = {d: sum(a[d] for a in per_token) for d in common}
        checked = set()
        pending.append((f, bag, checked))
        if len(common) > PHRASE_ENOUGH:
            # Best bag-of-words score first; stop once enough documents hold the phrase (their score is that bag
            # score, so later ones cannot outrank them in this field) or after MAX_PHRASE_CHECKS.
            common.sort(key=bag.__getitem__, reverse=True)
            common = common[:MAX_PHRASE_CHECKS]
        # checked best first, in chunks (a quoted phrase reads its lists' positions once when wide)
        _check_phrase(engine, f, tokens, common, bag, checked, check, prefetch=among is None)
    # A document found in one field is also checked in the fields that stopped early: its score sums them all.
    for f, bag, checked in pending:
        extra = [d for d in out if d in bag and d not in checked]
        if extra:
            check(f, extra, bag, checked)
    return out


def _phrase_candidates(engine: Engine, f: str, tokens: tuple[str, ...], among: set[int] | None, boost: float
                       ) -> tuple[list[int], list[dict[int, float]]] | None:
    """The documents holding every token of a phrase in field `f` (among `among` when given), in the order of the
    shortest token's list, with each token's boost x BM25 there, shortest list first (the order the bag score sums
    them in); None when there are none. Without `among` only the common documents are scored, not whole lists."""
    if among is not None:
        per_token = [engine.score_docs(among, f, t, boost) for t in tokens]
        if not all(per_token):
            return None
        per_token.sort(key=len)
        common = _in_all(per_token)
        return (common, per_token) if common else None
    lists = [engine.doc_ids(f, t) for t in tokens]
    if not all(lists):
        return None
    order = sorted(range(len(tokens)), key=lambda i: len(lists[i]))  # stable: ties keep the tokens' order
    common = _in_all([lists[i] for i in order])
    if not common:
        return None
    return common, [engine.scores_of(common, f, tokens[i], boost) for i in order]


def _check_phrase(engine: Engine, f: str, tokens: tuple[str, ...], common: list[int], bag: dict[int, float],
                  checked: set[int], check: Callable[[str, list[int], dict[int, float], set[int]], int], *,
                  prefetch: bool) -> None:
    """A phrase's checks in a field, best candidates first, in chunks until PHRASE_ENOUGH hold it; with `prefetch`
    (a quoted phrase) the lists' positions are read once when the chunks will touch most of their blocks."""
    for t in tokens if prefetch else ():
        engine.prefetch_positions(f, t, min(len(common), PHRASE_ENOUGH))
    found = 0
    for i in range(0, len(common), PHRASE_ENOUGH):
        found += check(f, common[i: i + PHRASE_ENOUGH], bag, checked)
        if found >= PHRASE_ENOUGH:
            break


def _in_all(per_token: Sequence[Collection[int]]) -> list[int]:
    """The documents of the first collection (a dict of scores, a list of ids) that every other one holds, in the
    first one's order (which decides the order phrases are checked in, and so ties)."""
    first, rest = per_token[0], per_token[1:]
    if not rest:
        return list(first)
    within = rest[0] if len(rest) == 1 and isinstance(rest[0], (dict, set)) else set(rest[0]).intersection(*rest[1:])
    return [d for d in first if d in within]


def _group_scores(engine: Engine, g: GroupPlan, whole: set[int] | None = None) -> dict[int, float]:
    """The group's documents with their scores; with `whole`, the documents satisfying every one of its several
    positive clauses (the group's complete matches, see `_lexical`) are added to that set."""
    scores: dict[int, float] = {}
    parts: list[Collection[int]] = []
    for n, plan in enumerate(g.positives):
        found = _satisfying(engine, plan)
        if whole is not None and len(g.positives) > 1:
            parts.append(set(found) if n == 0 else found)  # (the first dict becomes the merge: its keys now)
        if n == 0:
            scores = found  # a fresh dict per call: safe to extend in place
            continue
        get = scores.get
        for d, s in found.items():
            scores[d] = get(d, 0.0) + s
    if g.filters:
        allowed = set.intersection(*g.filters)
        if g.positives:
            scores = {d: s for d, s in scores.items() if d in allowed}
        else:
            scores = dict.fromkeys(allowed, 1.0)
    for plan in g.negatives:
        for d in _satisfying(engine, plan, score=False):
            scores.pop(d, None)
    if parts:
        parts.sort(key=len)
        whole.update(d for d in parts[0] if d in scores and all(d in p for p in parts[1:]))  # type: ignore[union-attr]
    return scores


def _hit_terms(engine: Engine, refs: set[tuple[str, str]], docs: list[int], vector: Dense | None = None
               ) -> dict[int, set[str]]:
    """Per candidate, the query terms it holds in any field (what Whoosh's matched_terms gave); with `vector` the
    scored lists are searched by numpy, all candidates at once rather than a set or bisection each in Python
    (0.72 -> 0.49 ms a query at 10,000 pages, benchmark queries scored with numpy; the same sets)."""
    out: dict[int, set[str]] = {d: set() for d in docs}
    among = vector.members(docs) if vector is not None else None
    for f, t in refs:
        if not engine.cached(f, t):
            # Not scored (the exact-form field): probe the candidates rather than decode the whole list.
            for d in engine.holding(f, t, docs):
                out[d].add(t)
            continue
        ids = engine.doc_ids(f, t)
        if not ids:
            continue
        if among is not None:
            for d in among(ids):
                out[d].add(t)
        elif len(ids) <= 4 * len(docs):
            s = set(ids)
            for d in docs:
                if d in s:
                    out[d].add(t)
        else:
            find = index_of(ids)
            for d in docs:
                if find(d) is not None:
                    out[d].add(t)
    return out


def _known(frequency: Callable[[str, str], int], token: str) -> bool:
    return any(frequency(f, token) for f in TEXT_FIELDS)


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


def _live(reader: Any, field: str, word: str) -> bool:
    """Whether a live document holds the word: a segment keeps the words of its deleted documents until a merge."""
    from whoosh.reading import TermNotFound

    try:
        return bool(reader.postings(field, word).is_active())
    except TermNotFound:
        return False


def correct_word(reader: Any, word: str) -> str | None:
    """The closest indexed word to an unknown one, or None. Short words allow one edit, longer ones two.

    The nearest distance wins, so one edit is tried first and the costlier two-edit walk runs only when nothing is
    one edit away. Body words are searched first; heading and title words (almost always body words too) only
    when the body has no candidate at that distance. Each walk of a field's word list costs ~5 ms.
    """
    folded = fold(word)
    if not 3 <= len(folded) <= MAX_CORRECTABLE or not folded.isalpha():
        return None
    for maxdist in range(1, (1 if len(folded) <= 5 else 2) + 1):
        best: tuple[int, int, str] | None = None
        for f in SPELL_FIELDS:
            if f not in reader.schema:
                continue
            best = _closest(reader, f, folded, maxdist, best)
            if best:
                return best[2]
    return None


def _closest(reader: Any, field: str, folded: str, maxdist: int,
             best: tuple[int, int, str] | None) -> tuple[int, int, str] | None:
    """The best (distance, -frequency, word) among `best` and the field's spelling words within `maxdist` edits
    that a live document holds."""
    spell = reader.schema[field].spelling_fieldname(field)
    for cand in _spelling_candidates(reader, field, spell, folded, maxdist):
        if cand == folded:
            continue
        dist = _distance(folded, cand)
        if dist > maxdist or not _live(reader, spell, cand):
            continue
        freq = reader.doc_frequency("exact", cand) or reader.doc_frequency(field, cand)
        key = (dist, -freq, cand)
        if best is None or key < best:
            best = key
    return best


def _spelling_candidates(reader: Any, field: str, spell: str, folded: str, maxdist: int) -> list[str]:
    """Words of the field's spelling list (`spell`) that may be within `maxdist` edits of `folded`."""
    # Per segment: a multi-segment reader's terms_within walks the field's own (stemmed) terms instead of its
    # spelling word list, so after an update it suggested stems ("middlewar").
    found = terms_within([leaf for leaf, _off in reader.leaf_readers()], field, folded, maxdist, prefix=1)
    if maxdist == 1:
        # Swapped neighbours are one edit for the ranking (_distance) but two for the automaton: look them up
        # directly so that the one-edit pass sees every one-edit word ("refreence" -> "reference").
        found.extend(w for i in range(1, len(folded) - 1)
                     for w in [folded[:i] + folded[i + 1] + folded[i] + folded[i + 2:]]
                     if w != folded and (spell, w) in reader)
    return [w.decode("utf-8") if isinstance(w, bytes) else w for w in found]


def corrected(reader: Any, parsed: ParsedQuery, memo: dict[str, str | None] | None = None, *,
              frequency: Callable[[str, str], int] | None = None) -> tuple[ParsedQuery, bool]:
    """Replace words the index has never seen with their closest indexed spelling (remembered per searcher).
    `frequency` (field, term) -> document frequency is the reader's, or the engine's that remembers it."""
    memo = {} if memo is None else memo
    frequency = frequency or reader.doc_frequency
    changed = False
    groups = []
    for g in parsed.groups:
        out = []
        for c in g:
            if c.kind == "word" and not c.negated and c.field in (None, "title"):
                tokens = [t.text for t in ANALYZER(c.text)]
                # a word the index never saw, or an identifier with a part it never saw (`createSlise`: with
                # `create` known, the whole name was never corrected, while `createslise` was)
                if tokens and not all(_known(frequency, t) for t in tokens):
                    if c.text not in memo:
                        if len(memo) >= 10000:
                            memo.clear()
                        memo[c.text] = correct_word(reader, c.text)
                    fix = memo[c.text]
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
        if c.field in FILTERS:
            continue
        if c.kind == "prefix":
            prefixes.append(fold(c.text))
        else:
            terms.update(t.text for t in ANALYZER(c.text))
    return Matcher(frozenset(terms), tuple(prefixes))


@dataclass
class Candidate:
    """A passage in the re-rank, with its fields and the section's other passages that ride along with it."""

    score: float
    doc: int
    fields: dict[str, Any]
    complete: bool = True  # matched every clause of some group
    riders: list[Candidate] = field(default_factory=list)  # the section's other matching passages
    chrome: bool = False  # a 404 page, tag listing or empty index page (kb/chrome.py)


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


def rank(engine: Engine, scored: list[tuple[float, int]], terms: dict[int, set[str]],
         group_needs: list[list[Need]], *, limit: int, partial: bool, per_passage: bool = False,
         cover: Cover | None = None) -> list[Candidate]:
    """Re-score the candidates: one result per section (its other passages ride along in `riders`), or with
    `per_passage` each passage its own hit, a section's later passages yielding to others.

    Score = BM25F x coverage^COVERAGE_POWER x (1 + exact-form bonus), then the k-th passage of the same section
    is multiplied by REPEAT_DECAY**k, so the list shows many sections first and a long section's other matching
    passages after them. Sections that match every word come first (AND semantics); partial matches follow (when
    `partial`) to fill the list, best first.

    Returns the best `limit` in order. The decay needs each passage's section, i.e. its stored fields (the costly
    part); since decay only lowers scores, candidates are read best first and reading stops once `limit` of them
    score above every candidate not yet read.
    """
    pre = _rescored(scored, terms, group_needs, cover)
    pre.sort(key=lambda c: (-c.score, c.doc))
    n_complete = sum(c.complete for c in pre)
    want_partial = max(0, limit - n_complete) if partial else 0
    want_complete = min(limit, n_complete)
    seen: dict[tuple[str, str], int] = {}
    first: dict[tuple[str, str], Candidate] = {}
    done: list[Candidate] = []
    for c in pre:
        if _filled(done, c.score, want_complete=want_complete, want_partial=want_partial, n_complete=n_complete):
            break
        c.fields = c.fields or engine.stored(c.doc)
        key = (c.fields["path"], c.fields["anchor"])
        if is_chrome(c.fields):
            c.chrome, c.complete, c.score = True, False, c.score * CHROME_FACTOR  # after every content hit
        if not per_passage and key in first:  # one result per section: its other passages ride along
            head = first[key]
            if c.complete and not head.complete and not head.chrome:
                # The section has every word, in this passage: it stands for the section (as a complete hit) and
                # the better-scored partial one rides along. Dropped with the partial ones otherwise.
                c.riders, head.riders = [head, *head.riders], []
                done[done.index(head)] = first[key] = c
            else:
                head.riders.append(c)
            continue
        first.setdefault(key, c)
        c.score *= REPEAT_DECAY ** seen.get(key, 0)
        seen[key] = seen.get(key, 0) + 1
        done.append(c)
    done.sort(key=lambda c: (c.chrome, not c.complete, -c.score, c.doc))
    return [c for c in done if c.complete or partial or c.chrome][:limit]


def coverer(group_needs: list[list[Need]]) -> Cover:
    """terms -> [coverage(needs, terms) per group with needs], remembered per distinct set of matched terms (the
    candidates of one query share a few)."""
    memo: dict[frozenset[str], list[tuple[float, float, bool]]] = {}

    def cover(terms: set[str]) -> list[tuple[float, float, bool]]:
        key = frozenset(terms)
        got = memo.get(key)
        if got is None:
            got = memo[key] = [coverage(needs, terms) for needs in group_needs if needs]
        return got
    return cover


def _rescored(scored: list[tuple[float, int]], terms: dict[int, set[str]],
              group_needs: list[list[Need]], cover: Cover | None = None) -> list[Candidate]:
    """Each candidate's BM25F x coverage^COVERAGE_POWER x (1 + exact-form bonus), by its best group."""
    pre: list[Candidate] = []
    cover = cover or coverer(group_needs)
    for base, d in scored:
        share, bonus, complete = max(cover(terms[d]), default=(1.0, 0.0, True))
        pre.append(Candidate(base * (share ** COVERAGE_POWER) * (1.0 + bonus), d, {}, complete))
    return pre


def _filled(done: list[Candidate], score: float, *, want_complete: int, want_partial: int, n_complete: int) -> bool:
    """Whether the candidates read so far settle the list: decay only lowers scores, so once enough of them score
    above `score` (the best unread candidate's), no unread candidate can take their places."""
    if sum(1 for x in done if x.complete and x.score > score) < want_complete:
        return False
    done_complete = sum(1 for x in done if x.complete)
    if done_complete < want_complete:
        return False
    if want_partial == 0:
        return True
    settled_partial = sum(1 for x in done if not x.complete and x.score > score)
    return done_complete == n_complete and settled_partial >= want_partial


def engine_for(searcher: Any) -> Engine:
    """The searcher's scoring engine, made once per searcher (its caches live as long as the searcher)."""
    eng = getattr(searcher, "_kb_engine", None)
    if eng is None or eng.lean == EXHAUSTIVE or eng.use_impacts != IMPACTS or eng.dense != DENSE:
        eng = Engine(searcher, K1=BM25_K1, B=BM25_B, field_B=FIELD_B, lean=not EXHAUSTIVE, impacts=IMPACTS)
        eng.dense = DENSE
        searcher._kb_engine = eng
    return eng


def run(searcher: Any, query: str, *, limit: int = 10, per_passage: bool = False, tips: bool = True) -> SearchResult:
    """Search (after typo correction) for sections with every word, then fill up with the best partial matches.

    Every matching passage gets its BM25F score from the posting lists; the best CANDIDATES get the proximity
    bonus and the coverage re-rank (`rank`), which puts complete matches first. Without FILL_WITH_PARTIAL, partial
    matches are shown only when no section has every word. One hit per section unless `per_passage`; with no hit
    at all, `tips` lists looser queries that have some.
    """
    return with_tips(searcher, query, _lexical(searcher, query, limit=limit, per_passage=per_passage), tips=tips)


def with_tips(searcher: Any, query: str, result: SearchResult, *, tips: bool = True) -> SearchResult:
    """With no hit at all, `tips` lists looser queries that have some (found by `finds_any`, without scoring).
    Then the searcher has answered a search (_vector's choice of numpy counts answers)."""
    if tips and not result.hits and result.searched:
        from dataclasses import replace

        result = replace(result, tips=looser(searcher, query))
    engine_for(searcher).searched += 1
    return result


def looser(searcher: Any, query: str, *, most: int = 2) -> tuple[str, ...]:
    """Queries a little looser than one that found nothing, each tried and kept only if it finds something."""
    parsed = parse(query)
    found: list[str] = []
    for attempt in relaxations(parsed):
        if attempt != parsed.text() and attempt not in found and finds_any(searcher, attempt):
            found.append(attempt)
            if len(found) >= most:
                break
    return tuple(found)


def finds_any(searcher: Any, query: str) -> bool:
    """Whether a search for `query` has any hit, which is all a tip needs to know: the documents its scoring would
    pool, found as sets of ids without being scored (a query with no hit tries up to five looser ones for its
    tips, and scoring every posting of their words cost a first search at 10,000 pages more than the search itself).

    A search has a hit exactly when its pool has a document: the pool's best are ranked, and ranking keeps partial
    matches when nothing matches completely (see _lexical and rank); tests/test_search_exhaustive.py compares the
    two."""
    parsed = parse(query)
    if not parsed.positive:
        return False
    engine = engine_for(searcher)
    fixed, changed = corrected(searcher.reader(), parsed, engine.corrections, frequency=engine.doc_frequency)
    plans = QueryBuilder(engine, prefix_last=PREFIX_LAST).build(fixed if changed else parsed)
    return any(_group_has_docs(engine, g) for g in plans)


def _group_has_docs(engine: Engine, g: GroupPlan) -> bool:
    """Whether _group_docs would find any document, without making its sets where it need not: a group without
    filters or exclusions has one when any of its clauses has one (the sets of a common word's ~20,000 ids, made
    and merged, were most of a search's tips)."""
    if g.filters or g.negatives:
        return bool(_group_docs(engine, g))
    return any(_plan_has_docs(engine, plan) for plan in g.positives)


def _plan_has_docs(engine: Engine, plan: Plan) -> bool:
    """Whether _plan_docs would find any document: a one-slot clause when a list of its slot has a posting; else
    the smaller slots' documents met (as _plan_docs does) and the largest slot's lists looked up in them, stopping
    at the first one found."""
    if plan.phrase is not None or not plan.required:
        return bool(_plan_docs(engine, plan))
    slots = _by_postings(engine, plan)
    if len(slots) == 1:
        return any(engine.doc_ids(f, t) for f, t, _boost in slots[0])
    docs = _plan_docs(engine, Plan(slots[:-1], []))
    return any(not docs.isdisjoint(engine.doc_ids(f, t)) for f, t, _boost in slots[-1])


def _by_postings(engine: Engine, plan: Plan) -> list[list[Ref]]:
    """A clause's required slots, the one holding the fewest postings (by document frequency) first."""
    return sorted(plan.required, key=lambda slot: sum(engine.doc_frequency(f, t) for f, t, _boost in slot))


def _group_docs(engine: Engine, g: GroupPlan) -> set[int]:
    """The documents _group_scores scores, without their scores."""
    docs: set[int] = set().union(*(_plan_docs(engine, plan) for plan in g.positives))
    if g.filters:
        allowed = set.intersection(*g.filters)
        docs = docs & allowed if g.positives else set(allowed)
    for plan in g.negatives:
        docs -= _plan_docs(engine, plan)
    return docs


def _plan_docs(engine: Engine, plan: Plan) -> set[int]:
    """The documents _satisfying finds for a clause (one alternative of every required slot), without scores.

    The slot holding the fewest postings (by document frequency, from the term index) is made a set; each other
    slot's lists are then only looked up in it, never made sets of their own: a common word's ~20,000 ids cost
    a lookup each in C instead of an insertion each, so a query's tips (up to five looser queries) cost less."""
    if plan.phrase is not None:
        return set(_phrase_docs(engine, plan.phrase, slop=0))
    docs: set[int] | None = None
    for slot in _by_postings(engine, plan):
        lists = [engine.doc_ids(f, t) for f, t, _boost in slot]
        docs = set().union(*lists) if docs is None else set().union(*(docs.intersection(ids) for ids in lists))
        if not docs:
            return set()
    return docs or set()


def relaxations(parsed: ParsedQuery) -> list[str]:
    """Looser forms of a query, mildest first: phrases unquoted, filters and exclusions dropped, words as prefixes."""
    def text(groups: list[list[Clause]]) -> str:
        return " OR ".join(" ".join(render(c) for c in g) for g in groups if g)

    groups = [list(g) for g in parsed.groups]
    unquoted = [[Clause("word", w, c.field, c.negated) for c in g for w in
                 (c.text.split() if c.kind == "phrase" else [c.text])] if any(c.kind == "phrase" for c in g)
                else g for g in groups]
    unfiltered = [[c for c in g if c.field not in FILTERS] for g in unquoted]
    included = [[c for c in g if not c.negated] for g in unfiltered]
    prefixed = [[Clause("prefix", fold(c.text)[:max(PREFIX_MIN + 1, len(c.text) - 3)], c.field)
                 if c.kind == "word" and fold(c.text).isalpha() and len(c.text) > PREFIX_MIN + 1 else c
                 for c in g] for g in included]
    words = [c for g in included for c in g if c.kind in ("word", "prefix")]
    singles = [render(c) for c in words] if len(words) > 1 else []
    return [t for t in [text(unquoted), text(unfiltered), text(included), text(prefixed), *singles] if t]


def _lexical(searcher: Any, query: str, *, limit: int, per_passage: bool = False) -> SearchResult:
    parsed = parse(query)
    if not parsed.positive:
        return SearchResult(query=query, total=0, suggestion=None, hits=(), searched="")
    reader = searcher.reader()
    engine = engine_for(searcher)
    suggestion = None
    fixed, changed = corrected(reader, parsed, engine.corrections, frequency=engine.doc_frequency)
    if changed:
        suggestion = fixed.text()
        parsed = fixed
    builder = QueryBuilder(engine, prefix_last=PREFIX_LAST)
    fetch = max(limit * 3, CANDIDATES)
    plans = builder.build(parsed)
    if not plans:
        return SearchResult(query=query, total=0, suggestion=suggestion, hits=(), searched=parsed.text())
    vector = _vector(engine, plans)  # numpy or dicts, chosen before scoring
    # The pool: the best-scored passages, and the best complete matches among them, which the candidates must not
    # miss (a section with every word but a lower score, lost to sections with one word many times: found only at
    # larger limits, "or" reported meanwhile).
    if vector is not None:
        total, scores, complete = _dense_pool(vector, engine, plans, parsed.dropped, fetch * PROXIMITY_POOL, fetch)
    else:
        total, scores, complete = _dict_pool(engine, plans, parsed.dropped, fetch * PROXIMITY_POOL, fetch)
    # The proximity bonus (words within PROXIMITY_SLOP) needs positions: read them for the best few only.
    pool = list(scores.items())
    if any(g.proximity for g in plans):
        among = {d for d, _ in pool}
        for g in plans:
            if g.proximity:
                phrase = (g.proximity, list(range(len(g.proximity))), PHRASE_FIELDS)
                for d, s in _phrase_docs(engine, phrase, slop=PROXIMITY_SLOP - 1, among=among,
                                         weight=PHRASE_BONUS).items():
                    scores[d] += s
        pool = [(d, scores[d]) for d, _ in pool]
    top = heapq.nlargest(fetch, pool, key=lambda kv: (kv[1], -kv[0]))
    if complete:  # the best complete matches join the candidates wherever their scores put them
        chosen = {d for d, _ in top}
        top += heapq.nlargest(fetch, ((d, scores[d]) for d in complete if d not in chosen),
                              key=lambda kv: (kv[1], -kv[0]))
    docs = [d for d, _ in top]
    terms = _hit_terms(engine, builder.refs, docs, vector)
    cover = coverer(builder.group_needs)
    n_complete = 0
    for d, _s in top:
        n_complete += max((c[2] for c in cover(terms[d])), default=True)
    partial = not n_complete or (n_complete < limit and FILL_WITH_PARTIAL)
    ranked = rank(engine, [(s, d) for d, s in top], terms, builder.group_needs, limit=limit, partial=partial,
                  per_passage=per_passage, cover=cover)
    fallback = None
    if n_complete:
        if total <= fetch:
            # What a search without a limit would list: with FILL_WITH_PARTIAL the partial matches too, whatever
            # this search's limit (they fill only a list the complete ones leave short, so `total` counted them
            # only then: "sms oauth" gave 5 up to --limit 5 and 38 from 6 on).
            listed = partial or FILL_WITH_PARTIAL
            total = len(top) if listed else n_complete
            if not per_passage:
                counted = top if listed else [(d, s) for d, s in top if any(c[2] for c in cover(terms[d]))]
                total = len({(engine.stored(d)["path"], engine.stored(d)["anchor"]) for d, _ in counted})
    elif len(parsed.positive) > 1:
        fallback = "or"
    matcher = matcher_for(parsed)
    hits = tuple(_hit(n, c, matcher) for n, c in enumerate(ranked[:limit], 1))
    return SearchResult(query=query, total=max(total, len(hits)), suggestion=suggestion, hits=hits,
                        searched=parsed.text(), fallback=fallback if hits else None)


def _dict_pool(engine: Engine, plans: list[GroupPlan], dropped: tuple[str, ...], k: int, complete: int = 0
               ) -> tuple[int, dict[int, float], list[int]]:
    """(passages matched, the best k with their scores, and the best `complete` complete matches among those k):
    every matching passage scored in dicts. A complete match holds every clause of a group of several (a group of
    one clause has no partial matches to lose its complete ones among). Complete matches outside the k best are
    left out: pulled in from anywhere, incidental ones (long pages holding every common word of a question) beat
    the answer (a paraphrase benchmark lost a first place)."""
    scores: dict[int, float] = {}
    whole: set[int] | None = set() if complete else None
    for n, g in enumerate(plans):
        found = _group_scores(engine, g, whole)
        if n == 0:
            scores = found
            continue
        for d, s in found.items():
            scores[d] = scores.get(d, 0.0) + s
    soft_boost(engine, scores, dropped)
    pool = {d: scores[d] for d in best_docs(scores, k, exhaustive=not engine.lean)}
    best: list[int] = []
    if whole:
        matched = {d: scores[d] for d in scores if d in whole and d in pool}  # (in the dict's order, for ties)
        best = best_docs(matched, complete, exhaustive=not engine.lean)
    return len(scores), pool, best


def _vector(engine: Engine, plans: list[GroupPlan]) -> Dense | None:
    """kb/dense.py's numpy scoring for this query, or None for the dicts: the same results, so a question of cost.

    numpy saves ~0.2-0.35 CPU-ms per 1,000 postings scored, but its import costs ~0.1-0.14 CPU-s, what scoring
    ~400,000 postings in dicts costs more than with numpy (docs/performance.md). So with DENSE None a lean search
    uses numpy when its lists hold at least DENSE_MIN postings and numpy is imported already (the semantic extra,
    an earlier search) or the searcher has answered a search before (a long-lived process: the API, `kb serve`,
    `kb mcp`, where the import pays over the searches to come); in a process's first search (a one-shot `kb search`)
    only from DENSE_IMPORT_MIN postings (common words at 10,000 pages), not counting a quoted phrase's lists: its
    time goes to reading positions, which numpy does not shorten, so the import never paid for one (measured). The
    lists are decoded here to be counted; scoring needs them anyway.
    """
    global _NO_NUMPY
    if DENSE is False or not engine.lean or _NO_NUMPY:
        return None
    if DENSE is None:
        first = not engine.searched and not _numpy_imported()
        if not _large(engine, plans, DENSE_IMPORT_MIN if first else DENSE_MIN, phrases=not first):
            return None
    try:
        from .dense import Dense
    except ImportError:  # numpy is not installed: the dicts, from now on
        _NO_NUMPY = True
        return None
    return Dense(engine)


_NO_NUMPY = False  # numpy's import failed once: not tried again


def _numpy_imported() -> bool:
    return "numpy" in sys.modules


def _large(engine: Engine, plans: list[GroupPlan], limit: int, *, phrases: bool = True) -> bool:
    """Whether the lists the plans score (with or without quoted phrases') hold at least `limit` postings."""
    held = 0
    for f, t in _scored_refs(plans, phrases=phrases):
        held += len(engine.postings(f, t)[0])
        if held >= limit:
            return True
    return False


def _scored_refs(plans: list[GroupPlan], *, phrases: bool = True) -> Iterator[tuple[str, str]]:
    """The (field, term) lists the plans score, in about the order scoring reads them."""
    for g in plans:
        for plan in g.positives + g.negatives:
            if plan.phrase is not None and phrases:
                tokens, _offsets, fields = plan.phrase
                yield from ((f, t) for f in fields for t in tokens)
            for f, t, _boost in [r for slot in plan.required for r in slot] + plan.optional:
                yield f, t


def _dense_pool(vector: Dense, engine: Engine, plans: list[GroupPlan], dropped: tuple[str, ...], k: int,
                complete: int = 0) -> tuple[int, dict[int, float], list[int]]:
    """_dict_pool with numpy: the same scores, total, pool and complete matches in it (see kb/dense.py)."""
    groups = [_dense_group(vector, engine, g, whole=bool(complete)) for g in plans]
    scores = vector.union([scores for scores, _whole in groups])
    for f, t, boost in _soft_refs(dropped):
        vector.add(scores, f, t, boost)
    total, pool = vector.best(scores, k)
    masks = [whole for _scores, whole in groups if whole is not None]
    best = vector.best_of(scores, masks, complete, pool) if masks else []
    return total, pool, best


def _dense_group(vector: Dense, engine: Engine, g: GroupPlan, *, whole: bool = False) -> tuple[Scores, Any]:
    """_group_scores with numpy, and with `whole` (and several positive clauses) the mask of its complete
    matches."""
    parts = [_dense_satisfying(vector, engine, plan) for plan in g.positives]
    scores = vector.union(parts) if parts else vector.empty()
    if g.filters:
        allowed = set.intersection(*g.filters)
        scores = vector.keep(scores, allowed) if g.positives else vector.from_dict(dict.fromkeys(allowed, 1.0))
    for plan in g.negatives:
        scores = vector.drop(scores, _dense_satisfying(vector, engine, plan, score=False))
    return scores, (vector.every(parts, scores) if whole and len(parts) > 1 else None)


def _dense_satisfying(vector: Dense, engine: Engine, plan: Plan, *, score: bool = True) -> Scores:
    """_satisfying with numpy (a quoted phrase is found by _phrase_docs and taken as it is)."""
    if plan.phrase is not None:
        return vector.from_dict(_phrase_docs(engine, plan.phrase, slop=0, vector=vector))
    docs: Scores | None = None
    for slot in plan.required:
        acc = vector.sum(slot)
        docs = acc if docs is None else vector.both(docs, acc)
        if not docs.count:
            return vector.empty()
    if docs is None:
        return vector.empty()
    if score:
        for f, t, boost in plan.optional:
            vector.add(docs, f, t, boost)
    return docs


def best_docs(scores: dict[int, float], k: int, *, exhaustive: bool = False) -> list[int]:
    """The k best-scored documents; on a tie at the k-th score the earlier in `scores` wins (as heapq.nlargest).

    The k-th best score is found over the bare values (no key function per document), then one pass keeps the
    documents at or above it: the same set as nlargest by key, in a different order (callers do not need one).
    """
    if exhaustive:
        return heapq.nlargest(k, scores, key=scores.__getitem__)
    if len(scores) <= k:
        return list(scores)
    kth = heapq.nlargest(k, scores.values())[-1]
    above = [d for d, s in scores.items() if s >= kth]
    if len(above) > k:  # ties at the k-th score: keep those above it and the first tied ones
        n_tied = k - sum(1 for d in above if scores[d] > kth)
        above = [d for d in above if scores[d] > kth or ((n_tied := n_tied - 1) >= 0)]
    return above


def soft_boost(engine: Engine, scores: dict[int, float], dropped: tuple[str, ...]) -> None:
    """Question words left out of the query still count where they name something: a title, heading or code.

    "where" is dropped from "how does where filter pages" so that it does not narrow the search, but a docs site
    with a `where` function has it in that page's title and code, and that page should win.
    """
    if not scores:
        return
    for f, t, boost in _soft_refs(dropped):
        for d, s in engine.score_docs(scores, f, t, boost).items():
            scores[d] += s


def _soft_refs(dropped: tuple[str, ...]) -> Iterator[tuple[str, str, float]]:
    """(field, term, boost) that soft_boost adds, in its order: each dropped word's tokens once, per soft field."""
    for t in dict.fromkeys(tok.text for w in dropped for tok in ANALYZER(w)):
        for f in SOFT_FIELDS:
            yield f, t, FIELD_WEIGHTS[f] * SOFT_WEIGHT


def _excerpt(c: Candidate, matcher: Matcher) -> Excerpt:
    snippet, highlights = _snippet(c.fields, matcher)
    return Excerpt(snippet=snippet, highlights=highlights, line=int(c.fields.get("line", 1)),
                   part=int(c.fields.get("part", 0)))


def _snippet(fields: dict[str, Any], matcher: Matcher) -> tuple[str, tuple[tuple[int, int], ...]]:
    snippet, highlights = make_snippet(fields.get("body", ""), matcher)
    if not highlights and fields.get("code"):
        code_snippet, code_hl = make_snippet(fields["code"], matcher)
        if code_hl or not snippet:
            snippet, highlights = code_snippet, code_hl
    if not snippet:
        # A section that is only a heading (its content was a component or an image): its heading is what it says.
        snippet, highlights = make_snippet(fields.get("section", ""), matcher)
    return snippet, tuple(highlights)


def _hit(rank: int, c: Candidate, matcher: Matcher) -> Hit:
    fields = c.fields
    snippet, highlights = _snippet(fields, matcher)
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
        source=fields.get("source", ""),
        url=fields.get("route") or None,  # the route for now: KnowledgeBase.search makes it a full URL
        passages=tuple(_excerpt(r, matcher) for r in c.riders),
    )


def weighting() -> Any:
    from whoosh.scoring import BM25F

    return BM25F(B=BM25_B, K1=BM25_K1, **{f"{f}_B": b for f, b in FIELD_B.items()})


__all__ = ["run", "weighting"]
