"""A two-source knowledge base from one kb.toml, through the CLI: pages of redux-docs (Docusaurus) and jekyll-docs
(Jekyll), copied from the shared corpora into tmp_path (a sample of each, so the test stays quick).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from kb.cli import cli

CORPUS = Path(__file__).resolve().parent.parent.parent / "shared" / "corpus"
REDUX = ["introduction/GettingStarted.md", "introduction/README.md", "introduction/CoreConcepts.md",
         "usage/ConfiguringYourStore.md", "api/Store.md", "api/createStore.md", "api/applyMiddleware.md",
         "faq/Performance.md", "usage/writing-logic-thunks.mdx", "FAQ.md"]
JEKYLL = ["_config.yml", "_docs/configuration.md", "_docs/installation/other-linux.md", "_docs/plugins.md",
          "_docs/step-by-step/01-setup.md", "_posts/2019-07-02-jekyll-3-8-6-released.markdown",
          "_tutorials/cache-api.md", "pages/team.md", "readme.md"]
ENV = {"KB_CONTENT": None, "KB_INDEX": None, "KB_CONFIG": None, "KB_BASE_URL": None}

if not (CORPUS / "redux-docs").is_dir() or not (CORPUS / "jekyll-docs").is_dir():
    pytest.skip(f"the shared corpora are not at {CORPUS}", allow_module_level=True)


def copy(src: Path, dst: Path, rels: list[str]) -> None:
    for rel in rels:
        (dst / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src / rel, dst / rel)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("two")
    copy(CORPUS / "redux-docs" / "docs", root / "redux", REDUX)
    copy(CORPUS / "jekyll-docs" / "docs", root / "jekyll", JEKYLL)
    (root / "kb.toml").write_text(
        '# one knowledge base over two doc sites\n'
        '[[source]]\nname = "redux"\npath = "redux"\ndialect = "docusaurus"\nbase_url = "https://redux.js.org/"\n\n'
        '[[source]]\nname = "jekyll"\npath = "jekyll"\nexclude = ["pages/"]\n', encoding="utf-8")
    yield root


def kb(root: Path, *args: str) -> Any:
    old = os.getcwd()
    os.chdir(root)
    try:
        return CliRunner().invoke(cli, list(args), env=ENV, catch_exceptions=False)
    finally:
        os.chdir(old)


def test_search_spans_both_sources_with_urls(site: Path) -> None:
    result = kb(site, "search", "configuration", "-n", "20", "--json")
    assert result.exit_code == 0, result.output
    hits = json.loads(result.stdout)["hits"]
    assert {h["source"] for h in hits} == {"redux", "jekyll"}
    for h in hits:
        assert h["path"].startswith(h["source"] + "/") and h["page"].startswith(h["source"] + "/")
    urls = {h["path"]: h["url"] for h in hits}
    assert urls["jekyll/_docs/configuration.md"].startswith("https://jekyllrb.com/docs/configuration/")
    assert urls["redux/usage/ConfiguringYourStore.md"].startswith(
        "https://redux.js.org/usage/configuring-your-store#")
    assert not any(h["path"].startswith("jekyll/pages/") for h in hits)  # excluded by the source's glob


def test_source_filter(site: Path) -> None:
    for name in ("redux", "jekyll"):
        hits = json.loads(kb(site, "search", "store", f"source:{name}", "-n", "20", "--json").stdout)["hits"]
        assert hits and {h["source"] for h in hits} == {name}
    assert kb(site, "search", "store", "source:nope").exit_code == 1


def test_show_accepts_every_printed_address(site: Path) -> None:
    plain = kb(site, "search", "store", "-n", "6")
    assert plain.exit_code == 0
    blocks = [b.splitlines() for b in plain.stdout.strip().split("\n\n")]
    data = json.loads(kb(site, "search", "store", "-n", "6", "--json").stdout)["hits"]
    vim = kb(site, "search", "store", "-n", "6", "--vimgrep").stdout.splitlines()
    assert len(blocks) == len(data) == len(vim) == 6
    for block, hit, vimline in zip(blocks, data, vim, strict=True):
        where = block[1].split()
        address, url = where[0], where[1]
        assert address == f"{hit['path']}:{hit['line']}" + (f"#{hit['anchor']}" if hit["anchor"] else "")
        assert url == hit["url"]
        vim_address = re.match(r"^(.+?:\d+:\d+):", vimline).group(1)
        head = " › ".join(hit["breadcrumb"])
        for target in (address, f"{hit['path']}:{hit['line']}", f"{hit['page']}#{hit['anchor']}", url,
                       vim_address):
            shown = kb(site, "show", target)
            assert shown.exit_code == 0, (target, shown.output)
            assert shown.stdout.splitlines()[0].startswith(head + "  ("), target
        whole = kb(site, "show", hit["path"])
        assert whole.exit_code == 0 and head in whole.stdout
        assert (site / vim_address.split(":")[0]).is_file()  # an editor can open it from here


def test_show_finds_a_page_named_without_its_source(site: Path) -> None:
    shown = kb(site, "show", "api/store#store")
    assert shown.exit_code == 0 and "(redux/api/Store.md:" in shown.stdout.splitlines()[0]
    assert kb(site, "show", "nowhere/nothing").exit_code == 1


def test_check_reads_every_source(site: Path) -> None:
    result = kb(site, "check", "--json")
    paths = {p["path"] for p in json.loads(result.stdout)["pages"]}
    assert {p.split("/")[0] for p in paths} == {"redux", "jekyll"}
    assert len(paths) == len(REDUX) + len(JEKYLL) - 2  # less _config.yml and the excluded pages/


def test_unknown_url_is_one_line_not_found(site: Path) -> None:
    result = kb(site, "show", "https://redux.js.org/no/such/page")
    assert result.exit_code == 1 and "no page in the index is published at" in result.stderr


def test_incremental_reindex_per_source_and_a_missing_source(site: Path, tmp_path: Path) -> None:
    root = tmp_path / "copy"
    shutil.copytree(site, root, ignore=shutil.ignore_patterns("index"))
    assert kb(root, "reindex").exit_code == 0
    page = root / "jekyll" / "_docs" / "plugins.md"
    page.write_text(page.read_text() + "\n\n## Zanzibar\n\nA quokka plugin.\n")
    report = json.loads(kb(root, "reindex", "--json").stdout)
    assert (report["added"], report["updated"], report["removed"]) == (0, 1, 0)
    assert report["unchanged"] == len(REDUX) + len(JEKYLL) - 1 - 1 - 1  # less: _config.yml, the changed page, pages/
    hit = json.loads(kb(root, "search", "quokka", "--json").stdout)["hits"][0]
    assert hit["url"] == "https://jekyllrb.com/docs/plugins/#zanzibar"

    shutil.move(root / "redux", root / "redux-gone")
    result = kb(root, "search", "plugin", "--json")
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stderr.splitlines() if "redux" in line]
    assert len(warnings) == 1 and "does not exist" in warnings[0]
    assert {h["source"] for h in json.loads(result.stdout)["hits"]} == {"jekyll"}
    shutil.move(root / "redux-gone", root / "redux")
    back = kb(root, "search", "store", "source:redux", "--json")
    assert back.exit_code == 0 and json.loads(back.stdout)["hits"]
