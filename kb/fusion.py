"""Hybrid search: the lexical ranking and the nearest passage vectors, fused into one list of sections.

The two rankings are fused by reciprocal rank (RRF): a section scores sum(weight / (K + rank)) over the lists it
appears in. Scores of BM25 and cosine are on unrelated scales and their spread varies per query; ranks are not, so
RRF needs no per-corpus calibration. docs/ranking.md has the measurements that chose it over a normalised linear
mix and over re-ranking only the lexical candidates.

Query operators keep their meaning: a semantic hit must pass the query's filters (tag:, page:, path:), must not
hold an excluded word, and must hold every quoted phrase of its OR-group; so the model only ever adds or reorders
sections the query allows.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from .chrome import is_chrome
from .model import Hit, SearchResult
from .query import ParsedQuery, parse
from .search import FILTERS, Candidate, QueryBuilder, _hit, _lexical, _satisfying, engine_for, matcher_for, with_tips

FUSION = "rrf"  # rrf | linear | rerank (docs/ranking.md: measured)
LINEAR_ALPHA = 0.5
RRF_K = 10.0
LEXICAL_WEIGHT = 2.0  # lexical evidence counts double: keywords and identifiers stay on top (measured)
SEMANTIC_WEIGHT = 1.0
POOL = 50  # sections taken from each ranking
MIN_SIMILARITY = 0.2  # cosine below which a passage is not a semantic hit at all
ALONE_SIMILARITY = 0.35  # when no word matched: nonsense queries reached 0.33 on docs.wgtwo.com, answers 0.36+
MIN_WORDS = 2  # a one-word query is a keyword search: the model joins in only when the words found nothing
NEAREST = 200  # passages read from the vectors (several may share a section; some fail the filters)


def query_text(parsed: ParsedQuery, original: str) -> str:
    """What the model reads: the words as typed (question words help it), minus filters, exclusions and syntax."""
    words = [c.text for g in parsed.groups for c in g if not c.negated and c.field in (None, "title")]
    return " ".join(words) or original


def allowed(searcher: Any, parsed: ParsedQuery) -> Any:
    """A test a semantic hit must pass: in some OR-group's filters, holding its phrases, holding no excluded word."""
    engine = engine_for(searcher)
    builder = QueryBuilder(engine)
    rules: list[tuple[set[int] | None, set[int] | None, set[int]]] = []
    for g in parsed.groups:
        filters = [builder.filter(c) for c in g if not c.negated and c.field in FILTERS]
        within = set.intersection(*filters) if filters else None
        phrases = [p for c in g if not c.negated and c.kind == "phrase"
                   for p in [builder.clause(c)] if p is not None and p.phrase is not None]
        holding = set.intersection(*(set(_satisfying(engine, p)) for p in phrases)) if phrases else None
        excluded: set[int] = set()
        for c in g:
            if c.negated and c.field not in FILTERS:
                plan = builder.clause(c)
                if plan is not None:
                    excluded.update(_satisfying(engine, plan, score=False))
        rules.append((within, holding, excluded))

    def ok(doc: int) -> bool:
        return any((w is None or doc in w) and (h is None or doc in h) and doc not in x for w, h, x in rules)
    return ok


def nearest_sections(searcher: Any, semantic: Any, parsed: ParsedQuery, query: str, *, per_passage: bool,
                     floor: float = MIN_SIMILARITY) -> list[tuple[int, float, list[int]]]:
    """Sections nearest the query: (best passage's document, cosine, the section's other near passages)."""
    engine = engine_for(searcher)
    vec = semantic.embed_query(query_text(parsed, query))
    ok = allowed(searcher, parsed)
    out: list[tuple[int, float, list[int]]] = []
    where: dict[tuple[str, str], int] = {}
    for doc, sim in semantic.vectors.top(vec, NEAREST):
        if sim < floor:
            break
        if not ok(doc):
            continue
        fields = engine.stored(doc)
        key = (fields["path"], fields["anchor"]) if not per_passage else (str(doc), "")
        if key in where:
            out[where[key]][2].append(doc)
            continue
        where[key] = len(out)
        out.append((doc, sim, []))
        if len(out) >= POOL:
            break
    return out


def fuse(searcher: Any, query: str, lexical: SearchResult, semantic: Any, *, limit: int, per_passage: bool,
         mode: str) -> SearchResult:
    """Hybrid (or semantic-only) hits for a query whose lexical result is `lexical` (ranked, up to POOL hits)."""
    parsed = parse(query)
    words = len(query_text(parsed, "").split())
    if not words or (words < MIN_WORDS and lexical.hits and mode == "hybrid"):
        return replace(lexical, hits=lexical.hits[:limit], mode="lexical")  # nothing (or too little) to embed
    engine = engine_for(searcher)
    floor = MIN_SIMILARITY if lexical.hits or mode == "semantic" else ALONE_SIMILARITY
    near = nearest_sections(searcher, semantic, parsed, query, per_passage=per_passage, floor=floor)
    matcher = matcher_for(parsed)
    scores: dict[tuple[str, str, int], float] = {}
    made: dict[tuple[str, str, int], Hit] = {}

    def key(h: Hit) -> tuple[str, str, int]:
        return (h.path, h.anchor, h.part if per_passage else 0)

    lex_rank = {key(h): n for n, h in enumerate(lexical.hits, 1)} if mode == "hybrid" else {}
    top_lex = max((h.score for h in lexical.hits), default=0.0) or 1.0
    lex_score = {key(h): h.score / top_lex for h in lexical.hits}
    sem_rank: dict[tuple[str, str, int], int] = {}
    sem_score: dict[tuple[str, str, int], float] = {}
    if mode == "hybrid":
        made.update((key(h), h) for h in lexical.hits)
    for rank, (doc, sim, more) in enumerate(near, 1):
        fields = engine.stored(doc)
        h = _hit(0, Candidate(sim, doc, fields, riders=[Candidate(0.0, d, engine.stored(d)) for d in more]),
                 matcher)
        sem_rank[key(h)] = rank
        sem_score[key(h)] = sim
        made.setdefault(key(h), h)
    for k in made:
        if FUSION == "linear" and mode == "hybrid":
            scores[k] = LINEAR_ALPHA * lex_score.get(k, 0.0) + (1 - LINEAR_ALPHA) * max(0.0, sem_score.get(k, 0.0))
        else:
            scores[k] = (LEXICAL_WEIGHT / (RRF_K + lex_rank[k]) if k in lex_rank else 0.0) + \
                (SEMANTIC_WEIGHT / (RRF_K + sem_rank[k]) if k in sem_rank else 0.0)
    if FUSION == "rerank" and mode == "hybrid" and lex_rank:
        # Semantic evidence reorders the lexical candidates; sections only the model found come after them.
        for k in scores:
            scores[k] += 1.0 if k in lex_rank else 0.0
    chrome = {k for k, h in made.items() if is_chrome({"title": h.title, "section": h.section, "path": h.path,
                                                       "anchor": h.anchor, "body": h.snippet})}
    order = sorted(scores, key=lambda k: (k in chrome, -scores[k]))  # chrome after content, as in lexical
    hits = tuple(replace(made[k], rank=n, score=round(scores[k] * 1000, 3)) for n, k in enumerate(order[:limit], 1))
    total = max(lexical.total, len(order)) if mode == "hybrid" else len(order)
    return replace(lexical, hits=hits, total=max(total, len(hits)), mode=mode,
                   fallback=lexical.fallback if mode == "hybrid" and hits else None, tips=() if hits else lexical.tips)


def run(searcher: Any, query: str, semantic: Any, *, limit: int = 10, per_passage: bool = False, tips: bool = True,
        mode: str = "hybrid") -> SearchResult:
    """kb.search.run with the model's nearest passages fused in (`mode` hybrid or semantic): the lexical ranking
    is taken deeper (POOL hits) so that fusion can reorder it."""
    lexical = _lexical(searcher, query, limit=max(limit, POOL), per_passage=per_passage)
    result = fuse(searcher, query, lexical, semantic, limit=limit, per_passage=per_passage, mode=mode)
    return with_tips(searcher, query, result, tips=tips)
