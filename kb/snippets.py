"""Cut the best fragment of a passage around the query's matches and say where the matches are.

We highlight ourselves rather than with whoosh.highlight because the JSON contract needs character offsets into
the snippet string, and because matching must use the same analysis as the index (stems, folded accents,
identifier parts) so "partnered" lights up for the query "partners".
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right, insort
from dataclasses import dataclass

from .analysis import ANALYZER, fold, word_regex

SNIPPET_CHARS = 240
CONTEXT_BEFORE = 60
ELLIPSIS = "…"
WORD_CACHE = 50000  # surface words whose analysis is remembered (vocabulary is Zipfian: most repeat)

_RUN = r"[\w’'ʼʻ.\-]"  # the characters a WORD_PATTERN token is made of
FIND_MOST = 32  # occurrences of a query's word heads in a text up to which _runs finds them one by one
FIND_LONGEST = 4096  # characters of a text up to which it does (passages are shorter; code can be far longer)
_tokens_of: dict[str, tuple[tuple[str, int, int], ...]] = {}


def word_tokens(word: str) -> tuple[tuple[str, int, int], ...]:
    """Index terms of one tokenizer word with their offsets inside it (the analyzer is per-word, context-free)."""
    got = _tokens_of.get(word)
    if got is None:
        got = tuple((t.text, t.startchar, t.endchar) for t in ANALYZER(word, chars=True, removestops=True))
        if len(_tokens_of) >= WORD_CACHE:
            _tokens_of.clear()
        _tokens_of[word] = got
    return got


@dataclass(frozen=True)
class Matcher:
    """The analysed forms a query looks for: exact index terms and unstemmed prefixes."""

    terms: frozenset[str]
    prefixes: tuple[str, ...] = ()

    def matches(self, token_text: str, surface: str) -> bool:
        if token_text in self.terms:
            return True
        if self.prefixes:
            folded = fold(surface)
            return any(folded.startswith(p) for p in self.prefixes)
        return False


def _keys(matcher: Matcher) -> tuple[str, ...]:
    """Heads every word holding a query term contains: stemming only rewrites a word's last letter or adds one
    (happy -> happi, hoping -> hope, sensibility -> sensibl), so a term without its last letter appears in any
    surface word that analyses to it (checked over the 49,743 distinct words of the development corpora). The
    stemmer's only exceptions: dying/lying/tying -> die/lie/tie, whose words hold `dy`, `ly`, `ty`. The longer the
    heads, the fewer words of a passage are analysed only to find they do not match (was: two letters)."""
    keys = {t[: max(1, len(t) - 1)] for t in matcher.terms} | set(matcher.prefixes)
    keys.update(t[0] + "y" for t in matcher.terms if len(t) == 3 and t.endswith("ie"))
    return tuple(keys)


def _runs(text: str, keys: tuple[str, ...]) -> list[tuple[int, int]]:
    """(start, end) of the runs of word characters that contain a key; the whole text when it is not ASCII
    (folding could then change lengths, and offsets must stay those of `text`).

    Keys made of run characters alone (all of them but for odd prefixes) that occur at most FIND_MOST times in a
    text of at most FIND_LONGEST characters are found with `str.find`, each grown to its run by one precompiled
    pattern, forwards and over the reversed text backwards: the pattern of `_keyed_runs` would be compiled for every
    query (its keys), ~0.25 ms of a search's ~5. Past FIND_MOST occurrences (a prefix such as `sta*` in most words)
    that pattern's one pass costs less than a step in Python per run, and over a long text (a code block with a
    minified line) less than a `find` and a `count` per key; the same spans come out either way (a run holds a key
    exactly when a match of that pattern starts at the run's start and ends at its end)."""
    if not text.isascii():
        return [(0, len(text))]
    low = text.lower()
    along = _along()
    if (not keys or len(low) > FIND_LONGEST or not all(k and along.fullmatch(k) for k in keys)
            or sum(map(low.count, keys)) > FIND_MOST):
        return _keyed_runs(low, keys)
    n = len(low)
    back = ""
    starts: list[int] = []  # of the runs found so far, ascending
    ends: dict[int, int] = {}
    for k in keys:
        at = low.find(k)
        while at >= 0:
            i = bisect_right(starts, at) - 1
            if i >= 0 and at < ends[starts[i]]:  # inside a run found already: each run is scanned once
                at = low.find(k, ends[starts[i]])
                continue
            back = back or low[::-1]
            start = at - (_run_end(along, back, n - at) - (n - at))  # the run characters just before the key
            ends[start] = end = _run_end(along, low, at)
            insort(starts, start)
            at = low.find(k, end)  # the rest of this run holds nothing new
    return [(start, ends[start]) for start in starts]


def _run_end(along: re.Pattern[str], text: str, at: int) -> int:
    """Where the run characters from `at` on end (`along` matches everywhere, if only the empty string)."""
    got = along.match(text, at)
    return at if got is None else got.end()


_ALONG: re.Pattern[str] | None = None


def _along() -> re.Pattern[str]:
    """Run characters, as many as there are (compiled on first use: a cold search without hits never needs it)."""
    global _ALONG
    if _ALONG is None:
        _ALONG = re.compile(_RUN + "*")
    return _ALONG


def _keyed_runs(low: str, keys: tuple[str, ...]) -> list[tuple[int, int]]:
    """_runs by one pattern of the keys: for keys holding a character no run does (or none at all), and for keys
    that occur often.

    A match may start only where a run starts (the lookbehind) and reaches its key lazily: the plain
    `RUN*(?:keys)RUN*` was tried from every character inside every run, backtracking over the rest of the run
    each time (a quarter of the time on real snippets; the same spans)."""
    pattern = re.compile("(?<!" + _RUN + ")" + _RUN + "*?(?:"
                         + "|".join(re.escape(k) for k in sorted(keys, key=len, reverse=True)) + ")" + _RUN + "*")
    return [m.span() for m in pattern.finditer(low)]


def match_spans(text: str, matcher: Matcher) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    keys = _keys(matcher)
    if not keys:
        return spans
    # Only runs of word characters holding a key can hold a query term: the rest is never tokenized.
    for run_start, run_end in _runs(text, keys):
        for m in word_regex(text).finditer(text, run_start, run_end):
            word = m.group()
            if word not in _tokens_of:
                low = fold(word)
                if not any(k in low for k in keys):
                    continue  # cannot hold a query term: spare analysing (stemming) it
            base = m.start()
            for term, start, end in word_tokens(word):
                if matcher.matches(term, text[base + start: base + end]):
                    spans.append((base + start, base + end))
    spans.sort()
    merged: list[tuple[int, int]] = []
    for s, e in spans:
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], e))
        else:
            merged.append((s, e))
    return merged


def make_snippet(text: str, matcher: Matcher, *, size: int = SNIPPET_CHARS) -> tuple[str, tuple[tuple[int, int], ...]]:
    """Best window of `text` (at most about `size` chars) and the [start, end) offsets of matches inside it."""
    text = " ".join(text.split())
    if not text:
        return "", ()
    spans = match_spans(text, matcher)
    if len(text) <= size:
        return text, tuple(spans)
    start = _best_start(text, spans, size)
    end = min(len(text), start + size)
    if end < len(text):
        cut = text.rfind(" ", start + size // 2, end)
        end = cut if cut > 0 else end
    if start > 0:
        sp = text.find(" ", start, start + 20)
        start = sp + 1 if sp != -1 else start
    prefix = ELLIPSIS + " " if start > 0 else ""
    suffix = " " + ELLIPSIS if end < len(text) else ""
    body = text[start:end]
    shift = len(prefix) - start
    highlights = tuple((s + shift, e + shift) for s, e in spans if s >= start and e <= end)
    return prefix + body + suffix, highlights


def _best_start(text: str, spans: list[tuple[int, int]], size: int) -> int:
    """Start the window so it covers the most matches (distinct words first), with a little context before."""
    if not spans:
        return 0
    # The spans are sorted and disjoint (match_spans merges them), so their ends ascend too: the spans inside a
    # window are one slice, found by bisection, not by testing every span for every window.
    starts = [a for a, _b in spans]
    ends = [b for _a, b in spans]
    words = [text[a:b].lower() for a, b in spans]
    best, best_score = 0, (-1, -1)
    for s, _e in spans:
        start = max(0, s - CONTEXT_BEFORE)
        lo, hi = bisect_left(starts, start), bisect_right(ends, start + size)
        inside = words[lo:hi]
        score = (len(set(inside)), len(inside))
        if score > best_score:
            best, best_score = start, score
    first_match = min(s for s, _ in spans if s >= best)
    dot = text.rfind(". ", 0, first_match)
    if dot != -1 and best - CONTEXT_BEFORE <= dot + 2 <= first_match:
        best = dot + 2  # start at the beginning of the sentence that holds the first match
    return best
