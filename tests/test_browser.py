"""The search page in headless Chromium (Debian's `chromium`, driven by Playwright, never a downloaded browser).

Skipped, with the reason, when Playwright or Chromium is missing; .ci/browser-deps.sh installs both.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi", reason="kb serve needs the server extra: pip install 'kb-docs-search[server]'")
pytest.importorskip("playwright.sync_api",
                    reason="the browser test needs Playwright for Python: run .ci/browser-deps.sh")

from playwright.sync_api import expect, sync_playwright  # noqa: E402

from tests.serve_support import Server, get_json, start_server, write_pages  # noqa: E402

CHROMIUM = os.environ.get("KB_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]

if not Path(CHROMIUM).is_file():
    pytest.skip(f"Chromium not found at {CHROMIUM}: install Debian's chromium (.ci/browser-deps.sh) or set "
                "KB_CHROMIUM", allow_module_level=True)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("kbbrowser")
    srv = start_server(write_pages(root / "content"), root / "index")
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    # Playwright's launch() always starts from a fresh temporary profile (its own --user-data-dir).
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    pg = context.new_page()
    problems: list[str] = []
    pg.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: problems.append(str(e)))
    pg.problems = problems
    yield pg
    context.close()


def test_type_see_highlights_and_follow_a_result_with_the_keyboard(server: Server, page: Any) -> None:
    page.goto(server.base + "/")
    box = page.locator("#q")
    expect(box).to_be_focused()
    box.press_sequentially("webhook signature", delay=40)
    results = page.locator("#results a")
    expect(results.first).to_contain_text("Configure webhooks")
    _status, api = get_json(server.url("/api/search?q=webhook+signature&limit=20"))
    top = api["hits"][0]
    marks = page.locator("#results a").first.locator("mark")
    # Retried until the last keystroke's results replace an earlier prefix's (they name the same section first).
    expect(marks).to_have_text([top["snippet"][s:e] for s, e in top["highlights"]])
    assert {m.lower().rstrip("s") for m in marks.all_inner_texts()} == {"webhook", "signature"}
    expect(results.first.locator(".snippet")).to_have_text(top["snippet"])
    expect(results.first.locator(".where")).to_have_text(f"getting-started.md:{top['line']}#configure-webhooks")
    assert "q=webhook+signature" in page.url

    box.press("ArrowDown")
    expect(results.first).to_be_focused()
    page.keyboard.press("Enter")
    reader = page.locator("#reader")
    expect(reader).to_be_visible()
    expect(page.locator("#reader-text")).to_contain_text("retried with exponential backoff")
    expect(page.locator("#reader-crumbs")).to_have_text("Getting started›Configure webhooks")
    assert "page=getting-started" in page.url and "anchor=configure-webhooks" in page.url

    page.keyboard.press("Escape")  # back to the results, the query kept
    expect(reader).to_be_hidden()
    expect(box).to_have_value("webhook signature")
    expect(results.first).to_contain_text("Configure webhooks")
    assert page.problems == []


def test_arrow_keys_move_between_results_and_back_to_the_box(server: Server, page: Any) -> None:
    page.goto(server.base + "/?q=zebrafish")
    results = page.locator("#results a")
    expect(results).to_have_count(2)
    page.locator("#q").press("ArrowDown")
    expect(results.nth(0)).to_be_focused()
    page.keyboard.press("ArrowDown")
    expect(results.nth(1)).to_be_focused()
    page.keyboard.press("ArrowDown")  # stays on the last
    expect(results.nth(1)).to_be_focused()
    page.keyboard.press("ArrowUp")
    page.keyboard.press("ArrowUp")
    expect(page.locator("#q")).to_be_focused()
    page.keyboard.press("Escape")
    expect(page.locator("#q")).to_have_value("")
    expect(results).to_have_count(0)


def test_markup_in_page_text_renders_as_text(server: Server, page: Any) -> None:
    page.goto(server.base + "/")
    page.locator("#q").press_sequentially("dangerous markup", delay=20)
    hit = page.locator("#results a").first
    expect(hit).to_contain_text("<script>window.__pwned = 1</script>")
    expect(hit).to_contain_text('<img src=x onerror="window.__pwned = 2">')
    assert page.locator("#results script, #results img").count() == 0
    hit.click()
    text = page.locator("#reader-text")
    expect(text).to_contain_text("<script>window.__pwned = 1</script>")
    expect(text).to_contain_text('<img src=x onerror="window.__pwned = 2">')
    assert page.locator("main script, main img").count() == 0
    assert page.evaluate("window.__pwned") is None
    assert page.problems == []


def test_no_match_and_did_you_mean(server: Server, page: Any) -> None:
    page.goto(server.base + "/?q=xylophonequartz")
    expect(page.locator("#status")).to_contain_text("No results for “xylophonequartz”")
    expect(page.locator("#results a")).to_have_count(0)


def test_fits_a_phone_screen(server: Server, browser: Any) -> None:
    context = browser.new_context(viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True,
                                  device_scale_factor=2)
    try:
        pg = context.new_page()
        pg.goto(server.base + "/?q=webhook")
        expect(pg.locator("#results a").first).to_be_visible()
        assert pg.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        box = pg.locator("#q").bounding_box()
        assert box is not None and box["width"] > 300
    finally:
        context.close()
