"""Routing and address lookup never fail on odd input: a route is None or a path from the site root."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from kb.config import DIALECTS
from kb.urls import Routing, full_url, route

SEGMENT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="/\x00"), min_size=1, max_size=12)
REL = st.lists(SEGMENT, min_size=1, max_size=4).map("/".join).map(lambda p: p + ".md")
META = st.dictionaries(st.sampled_from(["slug", "id", "permalink", "url", "date", "categories", "headless"]),
                       st.one_of(st.text(max_size=20), st.integers(), st.booleans(), st.none(),
                                 st.lists(st.text(max_size=8), max_size=3)), max_size=4)


@given(st.sampled_from(DIALECTS), REL, META, st.booleans())
@settings(max_examples=400, deadline=None)
def test_route_is_none_or_a_rooted_path(dialect: str, rel: str, meta: dict, flag: bool) -> None:
    routing = Routing(dialect, directory_urls=flag, lower_paths=flag, permalink="pretty" if flag else "",
                      collections=(("docs", "/:collection/:path/", True),))
    r = route(routing, rel, meta)
    assert r is None or r.startswith("/")
    if r is not None:
        url = full_url("https://d.example/base/", r, "anchor")
        assert url.startswith("https://d.example/base/") and url.endswith("#anchor")
        assert not any(ch in url for ch in ' "<>\n')
