"""Every global option works before and after every command (commands added later are covered automatically)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

import kb.settings
from kb.cli import cli
from tests.conftest import SEED

# commands that need an argument to get as far as running
ARGS = {("search",): ["word"], ("show",): ["introduction"], ("index", "export"): ["ix.tar.gz"],
        ("index", "import"): ["ix.tar.gz"]}
ENV = {"KB_CONTENT": None, "KB_INDEX": None, "KB_CONFIG": None, "KB_BASE_URL": None, "KB_INCLUDE_DRAFTS": None,
       "KB_MAX_FILE_SIZE": None, "KB_LOCK_TIMEOUT": None}


def leaf_commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = []
    for name, cmd in sorted(group.commands.items()):
        if isinstance(cmd, click.Group):
            out += leaf_commands(cmd, prefix + (name,))
        else:
            out.append(prefix + (name,))
    return out


def options(tmp_path: Path) -> dict[str, tuple[list[str], Any]]:
    """option -> (its words on the command line, a check of what the command then runs with)."""
    config = tmp_path / "other.toml"
    config.write_text('lock_timeout = 7\n')
    return {
        "--config": ([f"--config={config}"], lambda r: r.config.path == config and r.lock_timeout == 7.0),
        "--content": (["--content", str(tmp_path / "pages")], lambda r: r.sources[0].path == tmp_path / "pages"),
        "--index": (["--index", str(tmp_path / "ix")], lambda r: r.index_dir == tmp_path / "ix"),
        "--base-url": (["--base-url", "https://x.example/"], lambda r: r.sources[0].base_url == "https://x.example/"),
        "--include-drafts": (["--include-drafts"], lambda r: r.include_drafts is True),
        "--max-file-size": (["--max-file-size", "3"], lambda r: r.max_file_size == 3.0),
        "--lock-timeout": (["--lock-timeout", "4"], lambda r: r.lock_timeout == 4.0),
    }


class Ran(Exception):
    pass


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[Any]:
    """Stop each command just before it runs, keeping the settings it would have run with."""
    seen: list[Any] = []

    def fake_open_kb(given: dict[str, Any], *, on_note: Any) -> Any:
        seen.append(kb.settings.resolve(given))
        raise click.exceptions.Exit(0)

    monkeypatch.setattr(kb.settings, "open_kb", fake_open_kb)
    monkeypatch.chdir(tmp_path)
    return seen


def test_every_global_option_before_and_after_every_command(tmp_path: Path, captured: list[Any]) -> None:
    runner = CliRunner()
    commands = leaf_commands(cli)
    assert {("search",), ("show",), ("reindex",), ("check",), ("serve",), ("mcp",)} <= set(commands)
    for command in commands:
        if command == ("version",):
            continue
        args = ARGS.get(command, [])
        for words, check in options(tmp_path).values():
            for line in ([*words, *command, *args], [*command, *args, *words]):
                captured.clear()
                result = runner.invoke(cli, line, env=ENV)
                assert result.exit_code == 0 and captured, (line, result.output)
                assert check(captured[0]), (line, captured[0])


def test_option_after_the_command_wins(tmp_path: Path, captured: list[Any]) -> None:
    result = CliRunner().invoke(cli, ["--index", "a", "search", "x", "--index", "b"], env=ENV)
    assert result.exit_code == 0 and captured[0].index_dir == Path("b")


def test_every_command_lists_the_global_options_in_its_help() -> None:
    for command in leaf_commands(cli):
        text = CliRunner().invoke(cli, [*command, "--help"]).output
        for name in ("--config", "--content", "--index", "--base-url", "--lock-timeout"):
            assert name in text, (command, name)


def test_real_commands_with_options_after_them(tmp_path: Path) -> None:
    content = tmp_path / "content"
    content.mkdir()
    shutil.copy(SEED, content / "introduction.md")
    runner = CliRunner()
    where = ["--content", str(content), "--index", str(tmp_path / "index")]
    assert runner.invoke(cli, ["reindex", *where], env=ENV).exit_code == 0
    found = runner.invoke(cli, ["search", "Mobi", "--json", *where, "--base-url", "https://w.example/"], env=ENV)
    assert found.exit_code == 0
    assert json.loads(found.stdout)["hits"][0]["url"] == "https://w.example/introduction#about-us"
    shown = runner.invoke(cli, ["show", "introduction.md:7#about-us", *where], env=ENV)
    assert shown.exit_code == 0 and shown.stdout.startswith("wgtwo - Working Group Two › About Us")
    assert runner.invoke(cli, ["check", *where], env=ENV).exit_code == 0


def test_version() -> None:
    for line in (["-V"], ["--version"], ["version"]):
        result = CliRunner().invoke(cli, line)
        assert result.exit_code == 0 and result.stdout.startswith("kb "), line


def test_help_texts_are_complete() -> None:
    top = CliRunner().invoke(cli, ["--help"], terminal_width=80).output
    listing = "".join(top.split("Commands:")[1].split("Examples")[0].split())  # wrapping aside
    for name, cmd in cli.commands.items():  # each description whole, never cut mid-sentence
        first = "".join((cmd.help or "").strip().split("\n\n")[0].split())
        assert f"{name}{first}" in listing, name
    search = CliRunner().invoke(cli, ["search", "--help"]).output
    for piece in ("path:", "source:", "tag:", "title:", '"a phrase"', "-word", "word*", "OR", "Examples:"):
        assert piece in search, piece
    assert "Examples:" in CliRunner().invoke(cli, ["show", "--help"]).output


def test_every_command_has_examples_in_its_help() -> None:
    for command in leaf_commands(cli):
        if command != ("version",):
            assert "Example" in CliRunner().invoke(cli, [*command, "--help"]).output, command


def test_terminal_output_links_the_url() -> None:
    from kb.model import Hit
    from kb.present import format_hit

    hit = Hit(rank=1, score=1.0, page="p", path="p.md", title="P", section="S", anchor="s", breadcrumb=("P", "S"),
              line=3, snippet="text", highlights=(), url="https://d.example/p#s")
    plain = format_hit(hit, color=False)[1]
    assert plain.split() == ["p.md:3#s", "https://d.example/p#s"]
    linked = format_hit(hit, color=True)[1]
    assert "\x1b]8;;https://d.example/p#s\x1b\\https://d.example/p#s\x1b]8;;\x1b\\" in linked  # OSC 8 hyperlink
