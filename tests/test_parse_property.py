"""Hypothesis: the page parser never raises and always yields sections with unique anchors, whatever it is fed."""

from __future__ import annotations

import datetime as dt

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kb.parse import Skip, parse_bytes
from kb.sections import build_page

# Fragments of the syntax real folders mix, so random pages hit the interesting paths often.
PIECES = ["# ", "## ", "### ", "#### ", "\n", "\n\n", "```", "~~~", ":::", ":::tip ", "::::", "{#", "}", "<", ">",
          "</", "/>", "<Tabs>", "<TabItem value='a' label=\"A\">", "</TabItem>", "<details>", "<summary>", "---",
          "===", "- ", "1. ", "> ", "|", "| --- |", "[", "](", ")", "![", "**", "_", "`", "{/*", "*/}", "<!--",
          "-->", "import x from 'y';", "export const a = {", "&amp;", "&#", "\t", "    ", "\r\n", "\ufeff",
          "Overview", "overview", "\ue000", "\ue001", "\ue002", "[ref]: http://x"]

markdownish = st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=12)), max_size=60).map("".join)

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=20),
                    st.dates(), st.datetimes(min_value=dt.datetime(1900, 1, 1)))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                      max_leaves=10)
keys = st.sampled_from(["title", "id", "slug", "tags", "keywords", "description", "sidebar_label", "draft",
                        "unlisted", "date", "authors"]) | st.text(max_size=10)
frontmatter = st.dictionaries(keys, values, max_size=8)


def assert_sane(data: bytes) -> None:
    try:
        raw = parse_bytes(data, "docs/page.md")
    except Skip:
        return
    page = build_page(raw)
    anchors = [s.anchor for s in page.sections]
    assert len(anchors) == len(set(anchors))
    assert page.sections, "every page yields at least one section"
    assert all(p.anchor in set(anchors) for p in page.passages)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(markdownish)
def test_arbitrary_markdown_never_raises(text: str) -> None:
    assert_sane(text.encode("utf-8", errors="surrogatepass"))


@settings(max_examples=100, deadline=None)
@given(st.text())
def test_arbitrary_text_never_raises(text: str) -> None:
    assert_sane(text.encode("utf-8", errors="surrogatepass"))


@settings(max_examples=150, deadline=None)
@given(frontmatter, markdownish)
def test_arbitrary_frontmatter_never_raises(meta: dict, body: str) -> None:
    try:
        head = yaml.safe_dump(meta, allow_unicode=True)
    except yaml.YAMLError:
        return
    assert_sane(f"---\n{head}---\n{body}".encode("utf-8", errors="surrogatepass"))


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    assert_sane(b"---\n" + data if data[:1] == b"t" else data)
