"""The search page's reader in headless Chromium, keyboard only: type, see results, open one, read the whole page
(lists, links, code, tables, highlighted words, the section in view), previous/next section, follow a link.

Skipped, with the reason, when Playwright or Chromium is missing (.ci/browser-deps.sh installs both).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("fastapi", reason="kb serve needs the server extra: pip install 'kb[server]'")
pytest.importorskip("playwright.sync_api",
                    reason="the browser test needs Playwright for Python: run .ci/browser-deps.sh")

from playwright.sync_api import expect  # noqa: E402

from tests.reader_pages import PAGES  # noqa: E402
from tests.serve_support import Server, start_server, write_pages  # noqa: E402
from tests.test_browser import browser, page  # noqa: E402,F401 - the same browser and page fixtures

SITE = "https://docs.example.com/"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("kbreader")
    srv = start_server(write_pages(root / "content", PAGES), root / "index", "--base-url", SITE)
    yield srv
    srv.stop()


def in_view(pg: Any, locator: Any) -> bool:
    box = locator.bounding_box()
    return box is not None and 0 <= box["y"] < pg.viewport_size["height"]


def test_reader_keyboard_only(server: Server, page: Any) -> None:  # noqa: F811 - the imported fixture
    visited: list[str] = []

    def published_site(route: Any) -> None:  # the published site, offline
        visited.append(route.request.url)
        route.fulfill(status=200, content_type="text/html", body="<title>published</title><p>the site</p>")

    page.route(SITE + "**", published_site)
    page.goto(server.base + "/")
    box = page.locator("#q")
    expect(box).to_be_focused()
    box.press_sequentially("quokka setup", delay=30)
    hits = page.locator("#results a.hit")
    # The whole query's results: an earlier prefix's ("quokka") show the same sections, and the reader opened from
    # them would highlight only its words.
    expect(hits.first).to_have_attribute("href", re.compile(r"[?&]q=quokka(\+|%20)setup(&|$)"))
    expect(hits.first).to_contain_text("Setup")
    expect(page.locator("#results a.published").first).to_have_attribute("href", SITE + "guide#setup")

    box.press("ArrowDown")
    expect(hits.first).to_be_focused()
    page.keyboard.press("Enter")
    text = page.locator("#reader-text")
    expect(page.locator("#reader")).to_be_visible()
    expect(text.locator("h3.current")).to_have_text("Setup")
    # the whole page, rendered as a reader expects
    expect(text).to_contain_text("Intro paragraph about the quokka tool.")
    expect(text).to_contain_text("When it breaks, read the logs.")
    expect(text.locator("ul > li")).to_have_count(3)
    expect(text.locator("ul > li strong")).to_have_text("quokka")
    expect(text.locator("pre code")).to_have_text("quokka --init")
    expect(text.locator("table th")).to_have_text(["flag", "meaning"])
    expect(text.locator("table td code")).to_have_text("--fast")
    expect(text.locator("a", has_text="the reference")).to_have_attribute("href", SITE + "reference#options")
    expect(text.locator("a", has_text="click this")).to_have_count(0)  # javascript: is never a link
    marks = [m.lower() for m in text.locator("mark").all_inner_texts()]
    assert "quokka" in marks and "setup" in marks and "quokkas" in marks
    expect(page.locator("#reader-where a.published")).to_have_attribute("href", SITE + "guide#setup")
    assert in_view(page, text.locator("h3.current"))  # the section is scrolled into view
    expect(text.locator("h3.current")).to_be_focused()

    page.keyboard.press("ArrowRight")  # next section
    expect(text.locator("h3.current")).to_have_text("Usage")
    assert "anchor=usage" in page.url
    expect(page.locator("#reader-crumbs")).to_have_text("Guide›Usage")
    assert in_view(page, text.locator("h3.current"))
    expect(page.locator("#prev")).to_have_text("← Setup")
    expect(page.locator("#next")).to_have_text("→ Troubleshooting")
    page.keyboard.press("ArrowLeft")  # previous section
    expect(text.locator("h3.current")).to_have_text("Setup")

    page.keyboard.press("Tab")  # from the section heading to its first link, then follow it
    expect(text.locator("a", has_text="the reference")).to_be_focused()
    page.keyboard.press("Enter")
    page.wait_for_url(SITE + "reference#options")
    assert visited == [SITE + "reference"]  # (a request carries no fragment)
    assert page.problems == []


def test_reader_without_a_published_site_links_within_kb(tmp_path_factory: pytest.TempPathFactory,
                                                         page: Any) -> None:  # noqa: F811
    root = tmp_path_factory.mktemp("kbreader-local")
    srv = start_server(write_pages(root / "content", PAGES), root / "index")
    try:
        page.goto(srv.base + "/?q=quokka&page=guide&anchor=setup")
        text = page.locator("#reader-text")
        expect(text.locator("h3.current")).to_have_text("Setup")
        expect(page.locator("#reader-where a.published")).to_have_count(0)
        link = text.locator("a", has_text="the reference")
        link.focus()
        page.keyboard.press("Enter")  # another page of the knowledge base, in the reader
        expect(text.locator("h3.current")).to_have_text("Options")
        assert "page=reference" in page.url and "anchor=options" in page.url
        expect(page.locator("#reader-crumbs")).to_have_text("Reference›Options")
        assert page.problems == []
    finally:
        srv.stop()
