"""The `kb` command as a user runs it: CliRunner on content built in tmp_path."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from kb.cli import cli
from tests.conftest import SEED, write_pages


@pytest.fixture
def run(tmp_path: Path):
    content = tmp_path / "content"
    content.mkdir()
    shutil.copy(SEED, content / "introduction.md")
    runner = CliRunner()

    def invoke(*args: str, env: dict[str, str] | None = None):
        return runner.invoke(cli, ["--content", str(content), "--index", str(tmp_path / "index"), *args],
                             env=env, catch_exceptions=False)

    invoke.content = content  # type: ignore[attr-defined]
    return invoke


def test_search_prints_breadcrumb_address_and_snippet(run) -> None:
    result = run("search", "Mobi")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == "1. wgtwo - Working Group Two › About Us"
    assert lines[1].strip() == "introduction.md:7#about-us"
    assert "Mobi" in lines[2]
    assert "\x1b[" not in result.output  # not a terminal: no colour


def test_search_json_is_one_object(run) -> None:
    result = run("search", "Mobi", "--json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["query"] == "Mobi"
    assert data["hits"][0]["anchor"] == "about-us"
    assert data["hits"][0]["line"] == 7


def test_search_builds_missing_index_with_a_note(run) -> None:
    result = run("search", "goal", "--json")
    assert "index built" in result.stderr
    assert json.loads(result.stdout)["hits"][0]["breadcrumb"][-1] == "Our goal"


def test_no_match_exits_1(run) -> None:
    result = run("search", "xylophonic")
    assert result.exit_code == 1
    assert "No results" in result.stderr


def test_did_you_mean(run) -> None:
    result = run("search", "Mobbi")
    assert result.exit_code == 0
    assert result.stdout.splitlines()[0] == "Did you mean: mobi"
    assert json.loads(run("search", "Mobbi", "--json").stdout)["suggestion"] == "mobi"


def test_unparseable_queries_never_traceback(run) -> None:
    for query in ['"unbalanced', "AND", "*", "((", "title:"]:
        result = run("search", query)
        assert result.exit_code in (0, 1, 2), query
        assert "Traceback" not in result.output


def test_stale_index_is_refreshed_by_search(run) -> None:
    run("reindex")
    write_pages(run.content, {"zoo.md": "# Zoo\n\nZebras live here.\n"})
    result = run("search", "zebras", "--json")
    assert "index updated: 1 added" in result.stderr
    assert json.loads(result.stdout)["hits"][0]["path"] == "zoo.md"
    (run.content / "zoo.md").unlink()
    assert run("search", "zebras").exit_code == 1


def test_no_refresh_answers_from_the_index_as_it_is(run) -> None:
    run("reindex")
    write_pages(run.content, {"zoo.md": "# Zoo\n\nZebras live here.\n"})
    assert run("search", "zebras", "--no-refresh").exit_code == 1
    assert run("search", "zebras").exit_code == 0


def test_reindex_summary_and_json(run) -> None:
    first = run("reindex")
    assert first.exit_code == 0
    assert first.output.startswith("1 added, 0 updated, 0 removed, 0 unchanged; 1 pages, 2 sections")
    again = run("reindex", "--json")
    report = json.loads(again.stdout)
    assert (report["added"], report["updated"], report["removed"], report["unchanged"]) == (0, 0, 0, 1)
    assert report["warnings"] == []
    full = json.loads(run("reindex", "--full", "--json").stdout)
    assert full["full"] is True and full["pages"] == 1


def test_show_section_and_page(run) -> None:
    section = run("show", "introduction#the-man-behind-the-name")
    assert section.exit_code == 0
    assert "Torleiv Maseng" in section.output
    assert "introduction.md:38#the-man-behind-the-name" in section.output
    page = run("show", "introduction.md")
    assert "About Us" in page.output and "The man behind the name" in page.output
    missing = run("show", "introduction#nope")
    assert missing.exit_code == 1
    assert missing.stderr.strip().startswith("Error: page 'introduction' has no section #nope")


def test_missing_content_folder_is_a_one_line_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["--content", str(tmp_path / "nope"), "--index", str(tmp_path / "ix"),
                                      "search", "x"])
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "does not exist" in result.stderr and "--content" in result.stderr


def test_environment_variables_choose_folders(tmp_path: Path) -> None:
    content = write_pages(tmp_path / "kbdocs", {"p.md": "# P\n\nPelicans.\n"})
    result = CliRunner().invoke(cli, ["search", "pelicans", "--json"],
                                env={"KB_CONTENT": str(content), "KB_INDEX": str(tmp_path / "kbix")})
    assert result.exit_code == 0
    assert json.loads(result.stdout)["hits"][0]["path"] == "p.md"
    assert (tmp_path / "kbix" / "CURRENT").exists()


def test_colour_only_on_a_terminal_and_never_with_no_color(run) -> None:
    from kb.present import use_color

    assert use_color(True) is True
    assert use_color(False) is False
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NO_COLOR", "1")
        assert use_color(True) is False


def test_group_by_page(run) -> None:
    data = json.loads(run("search", "mobile", "--group", "page", "--json").stdout)
    assert data["total"] == 1
    assert len(data["hits"]) == 1
    assert data["hits"][0]["path"] == "introduction.md"


def test_no_results_message_stays_short_and_says_what_to_try(run) -> None:
    result = run("search", "zq" * 50_000)
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()[-2:]
    assert lines[0].startswith("No results for") and lines[1].startswith("Try")
    assert all(len(line) < 140 for line in lines)


def test_the_progress_bar_stays_off_when_stderr_is_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    """`kb reindex 2>&-`: Python sets sys.stderr to None; a reindex of 500+ pages asked it whether it is a terminal
    ("internal error (AttributeError ...)")."""
    from kb.cli import _ProgressBar

    monkeypatch.setattr(sys, "stderr", None)
    bar = _ProgressBar()
    bar.update(1, 600)
    bar.close()
    assert bar._bar is None
