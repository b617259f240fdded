"""The snippet window (kb/snippets.py `_best_start`) found by bisection over the sorted match spans is the one the
plain scan of every span for every window finds."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from kb.snippets import CONTEXT_BEFORE, _best_start


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
