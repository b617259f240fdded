"""The query language, parsed by hand so that no input can make it fail.

Whoosh's own parser raises or silently changes meaning on unbalanced quotes, lone operators and unknown fields;
users type all of those. Here every string parses: what is not syntax is a word.

Syntax: words (all must match; if none match together, any may), "quoted phrases", `OR` between words,
`-word` or `NOT word` to exclude, `word*` for a prefix, and `tag:`, `page:`, `title:`, `path:`, `source:` filters.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from .limits import MAX_CLAUSES, MAX_QUERY_CHARS

FILTER_FIELDS = {"tag": "tag", "tags": "tag", "page": "page", "title": "title", "path": "path", "in": "title",
                 "source": "source"}
# Words that ask a question rather than name a subject. Dropped when the query has other words.
QUESTION_WORDS = frozenset(
    "how many much do does did i can could should would what whats which who whom whose where when why is are was were "
    "the a an to of our my your we you me us it its there please tell about explain show find get".split()
)

# Of those, the ones that name a subject when they follow one ("join tables where", "use get"): only a leading
# run of question words is dropped, so that `where` after a subject stays a word to find.
LEADING_ONLY = frozenset("how many much what whats which who whom whose where when why tell about explain show find get"
                         .split())

_TOKEN = re.compile(r'"[^"]*"?|\S+')
# Lucene's boost and fuzzy/proximity suffixes (`sms^5`, `colour~`, `"a b"~3`, which leaves `~3` a token of its
# own): not kb's syntax, and searched as words they required a "5" or a "3" that no page has.
_LUCENE_SUFFIX = re.compile(r'^(-?(?:[A-Za-z]+:)?(?:"[^"]*"|[^\W\d_][\w.\-]+))([\^~]\d*(?:\.\d+)?)$')
_LUCENE_ALONE = re.compile(r"^[\^~]\d*(?:\.\d+)?$")


@dataclass(frozen=True)
class Clause:
    """One thing the user asked for: a word, a phrase or a prefix, maybe limited to a field, maybe excluded."""

    kind: str  # "word" | "phrase" | "prefix"
    text: str
    field: str | None = None
    negated: bool = False


@dataclass(frozen=True)
class ParsedQuery:
    """Clauses in OR-groups: the query matches when every clause of any one group matches."""

    groups: tuple[tuple[Clause, ...], ...]
    dropped: tuple[str, ...] = field(default_factory=tuple)
    ignored: tuple[str, ...] = field(default_factory=tuple)  # cut by the limits, or refused: reported to the user

    @property
    def clauses(self) -> tuple[Clause, ...]:
        return tuple(c for g in self.groups for c in g)

    @property
    def positive(self) -> tuple[Clause, ...]:
        return tuple(c for c in self.clauses if not c.negated)

    def text(self) -> str:
        return " OR ".join(" ".join(render(c) for c in g) for g in self.groups)


def render(c: Clause) -> str:
    body = f'"{c.text}"' if c.kind == "phrase" else (c.text + "*" if c.kind == "prefix" else c.text)
    if c.field:
        body = f"{c.field}:{body}"
    return ("-" if c.negated else "") + body


def clean(query: str) -> str:
    """Drop control characters and bound the length; a pasted paragraph is still a query."""
    query = "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in query[: MAX_QUERY_CHARS * 4])
    return " ".join(query.split())[:MAX_QUERY_CHARS]


MAX_IGNORED_LISTED = 20


def parse(query: str) -> ParsedQuery:
    text = clean(query)
    ignored: list[str] = []
    whole = " ".join("".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in query).split())
    if len(whole) > len(text):
        tail = whole[len(text):]
        cut = f"{tail[:40]}..." if len(tail) > 40 else tail
        ignored.append(f"{cut} ({len(tail):,} characters past the {MAX_QUERY_CHARS:,}-character limit)")
    groups: list[list[Clause]] = [[]]
    negate_next = False
    count = 0
    tokens = _TOKEN.findall(text)
    for n, raw in enumerate(tokens):
        if count >= MAX_CLAUSES:
            rest = [t for t in tokens[n:] if t not in ("OR", "||", "|", "AND", "&&", "+", "NOT")]
            if rest:
                listed = " ".join(rest[:MAX_IGNORED_LISTED]) + (" ..." if len(rest) > MAX_IGNORED_LISTED else "")
                ignored.insert(0, f"{listed} (past the {MAX_CLAUSES}-term limit)")
            break
        lucene = _LUCENE_SUFFIX.match(raw)
        if lucene or (_LUCENE_ALONE.match(raw) and n and tokens[n - 1].endswith('"')):
            ignored.append(f"{lucene.group(2) if lucene else raw} (Lucene's boost and fuzzy operators are not kb's "
                           "syntax; searched without it)")
            if not lucene:
                continue
            raw = lucene.group(1)
        if raw.endswith("*") and _short_prefix(raw):
            ignored.append(f"{raw} (a prefix needs at least {MIN_PREFIX} letters; searched as a word)")
        if raw in ("OR", "||", "|"):
            if groups[-1]:
                groups.append([])
            continue
        if raw in ("AND", "&&", "+"):
            continue
        if raw == "NOT":
            negate_next = True
            continue
        clause = _clause(raw, negate_next)
        negate_next = False
        if clause is not None:
            groups[-1].append(clause)
            count += 1
    groups = [g for g in groups if g]
    parsed = _drop_question_words(ParsedQuery(tuple(tuple(g) for g in groups)))
    return ParsedQuery(parsed.groups, parsed.dropped, tuple(ignored))


MIN_PREFIX = 2


def _short_prefix(raw: str) -> bool:
    """`a*`: too short a stem to expand; the clause falls back to the plain word (see `_clause`)."""
    stem = raw.lstrip("-+").split(":", 1)[-1] if re.match(r"^-?[A-Za-z]+:", raw.lstrip("-+")) else raw.lstrip("-+")
    stem = stem.strip("()[]{}<>,;!?~^'\"").rstrip(":").rstrip("*").strip("*")
    return _has_word(stem) and len(stem) < MIN_PREFIX


def _clause(raw: str, negated: bool) -> Clause | None:
    if raw.startswith("--"):  # a command-line flag (`serve --port`): the word, not an exclusion of it
        raw = raw.lstrip("-")
    elif raw.startswith("-") and len(raw) > 1:
        negated, raw = True, raw[1:]
    elif raw.startswith("+") and len(raw) > 1:
        raw = raw[1:]
    fieldname = None
    m = re.match(r"^([A-Za-z]+):(.+)$", raw)
    if m and m.group(1).lower() in FILTER_FIELDS:
        fieldname, raw = FILTER_FIELDS[m.group(1).lower()], m.group(2)
    if raw.startswith('"'):
        inner = raw[1:-1] if raw.endswith('"') and len(raw) > 1 else raw[1:]
        inner = " ".join(inner.split())
        if not _has_word(inner):
            return None
        kind = "phrase" if len(inner.split()) > 1 else "word"
        return Clause(kind, inner, fieldname, negated)
    raw = raw.strip("()[]{}<>,;!?~^'\"").rstrip(":")
    if raw.endswith("*"):
        stem = raw.rstrip("*").strip("*")
        if len(stem) >= MIN_PREFIX and _has_word(stem):
            return Clause("prefix", stem, fieldname, negated)
        raw = stem
    raw = raw.replace("*", " ").replace("?", " ").strip()
    if not _has_word(raw):
        return None
    return Clause("word", raw, fieldname, negated)


def _has_word(text: str) -> bool:
    return any(ch.isalnum() for ch in text)


def _drop_question_words(q: ParsedQuery) -> ParsedQuery:
    """'how do I forward calls' searches 'forward calls': question words only ever narrow a search to nothing.

    A question word after the subject has begun ("filter pages where", "join where") may be the subject itself and
    stays; the dropped ones still count a little where they name something (search.soft_boost).
    """
    groups = []
    dropped: list[str] = []
    for g in q.groups:
        keep: list[Clause] = []
        leading = True
        for c in g:
            word = c.kind == "word" and not c.field and not c.negated
            question = word and c.text.lower() in QUESTION_WORDS
            if question and (leading or c.text.lower() not in LEADING_ONLY):
                continue
            leading = leading and (c.negated or bool(c.field))
            keep.append(c)
        if any(not c.negated for c in keep):
            dropped.extend(c.text for c in g if c not in keep)
            groups.append(tuple(keep))
        else:
            groups.append(g)
    return ParsedQuery(tuple(groups), tuple(dropped))
