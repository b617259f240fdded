"""The snippet window (kb/snippets.py `_best_start`) found by bisection over the sorted match spans is the one the
plain scan of every span for every window finds; the runs of word characters worth tokenizing (`_runs`) are those
a run-by-run scan finds."""

from __future__ import annotations

import re
from unittest.mock import patch

from hypothesis import given, settings
from hypothesis import strategies as st

from kb import snippets
from kb.snippets import _RUN, CONTEXT_BEFORE, _best_start, _keyed_runs, _runs


def _scan(text: str, spans: list[tuple[int, int]], size: int) -> int:
    """The window choice as it was written first: every span tested for every window."""
    best, best_score = 0, (-1, -1)
    for s, _e in spans:
        start = max(0, s - CONTEXT_BEFORE)
        inside = [text[a:b].lower() for a, b in spans if a >= start and b <= start + size]
        score = (len(set(inside)), len(inside))
        if score > best_score:
            best, best_score = start, score
    return best


@st.composite
def texts_with_spans(draw: st.DrawFn) -> tuple[str, list[tuple[int, int]], int]:
    words = draw(st.lists(st.sampled_from(["Alpha", "alpha", "beta", "gamma.", "x", "Delta", "to"]), min_size=1,
                          max_size=120))
    text = " ".join(words)
    spans, at = [], 0
    for w in words:
        if draw(st.booleans()):
            spans.append((at, at + len(w.rstrip("."))))
        at += len(w) + 1
    return text, spans, draw(st.sampled_from([20, 60, 240]))


@settings(max_examples=200, deadline=None)
@given(texts_with_spans())
def test_window_is_the_plain_scans(case: tuple[str, list[tuple[int, int]], int]) -> None:
    text, spans, size = case
    if not spans:
        assert _best_start(text, spans, size) == 0
        return
    expected = _scan(text, spans, size)
    first_match = min(s for s, _ in spans if s >= expected)
    dot = text.rfind(". ", 0, first_match)
    if dot != -1 and expected - CONTEXT_BEFORE <= dot + 2 <= first_match:
        expected = dot + 2
    assert _best_start(text, spans, size) == expected


_RUN_OF_WORD_CHARACTERS = re.compile(_RUN + "+")


@given(st.text(alphabet="abcdeXY01_'.- ,;", max_size=80),
       st.lists(st.text(alphabet="abcde01", min_size=1, max_size=3), min_size=1, max_size=4))
@settings(max_examples=400, deadline=None)
def test_runs_holding_a_key_are_those_the_plain_scan_finds(text: str, keys: list[str]) -> None:
    """kb/snippets.py `_runs` (one regex, starting only at runs) gives every whole run of word characters that
    holds a key, and only those: each run tested in turn."""
    expected = [m.span() for m in _RUN_OF_WORD_CHARACTERS.finditer(text.lower())
                if any(k in m.group() for k in keys)]
    assert _runs(text, tuple(keys)) == expected


@given(st.text(alphabet="abcdeXY01_'.- ,;+#", max_size=80),
       st.lists(st.text(alphabet="abcde01+# .", max_size=3), max_size=6))
@settings(max_examples=400, deadline=None)
def test_runs_are_the_keys_patterns_whatever_the_keys(text: str, keys: list[str]) -> None:
    """`_runs` finds keys of run characters by `str.find` and grows each to its run: the spans of the one pattern
    of the keys (`_keyed_runs`, compiled per query) for any keys, an empty one or one holding a character no run
    holds included (those go to the pattern itself), and none at all, on either side of FIND_MOST."""
    for most, longest in ((0, 4096), (3, 4096), (10**6, 4096), (10**6, 20)):
        with patch.object(snippets, "FIND_MOST", most), patch.object(snippets, "FIND_LONGEST", longest):
            assert _runs(text, tuple(keys)) == _keyed_runs(text.lower(), tuple(keys))


def test_keys_inside_one_long_run_scan_it_once() -> None:
    """Many heads inside one long run of word characters (a minified line in a code block) are grown to that run
    once, not once each (30 heads at the end of a 1 MB run: 126 ms, against 8 ms for the heads' pattern)."""
    keys = tuple(f"q{i:02d}z" for i in range(30))
    text = "x" * 20_000 + "".join(keys) + " end"
    scans: list[int] = []
    along = snippets._along()

    class Counting:
        def match(self, s: str, pos: int = 0) -> re.Match[str] | None:
            scans.append(pos)
            return along.match(s, pos)

        def fullmatch(self, s: str) -> re.Match[str] | None:
            return along.fullmatch(s)

    with patch.object(snippets, "_along", lambda: Counting()), patch.object(snippets, "FIND_LONGEST", 10**6):
        assert _runs(text, keys) == [(0, len(text) - 4)]
    assert len(scans) == 2  # one run: once backwards, once forwards
