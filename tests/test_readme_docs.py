"""The README tells the truth: every CLI command and option is in it, and its Python example runs as written."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import click
import pytest

from kb.cli import cli
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def commands() -> dict[str, click.Command]:
    assert isinstance(cli, click.Group)
    return dict(cli.commands)


def long_options(command: click.Command) -> list[str]:
    found: list[str] = []
    for param in command.params:
        if isinstance(param, click.Option):
            found.extend(o for o in param.opts + param.secondary_opts if o.startswith("--") and o != "--help")
    return found


@pytest.mark.parametrize("name", sorted(commands()))
def test_every_command_is_in_the_readme(name: str) -> None:
    assert f"kb {name}" in README


@pytest.mark.parametrize("option", sorted({f"{name} {o}" for name, c in commands().items() for o in long_options(c)}
                                          | {f"(global) {o}" for o in long_options(cli)}))
def test_every_option_is_in_the_readme(option: str) -> None:
    flag = option.split()[-1]
    assert re.search(rf"{re.escape(flag)}(?![\w-])", README), f"{option} is not documented in README.md"


def python_examples() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README, re.S)


def test_the_python_example_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Run in a folder holding a copy of the shipped content, as the README's reader would (from the clone)."""
    examples = python_examples()
    assert examples
    shutil.copytree(ROOT / "content", tmp_path / "content")
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        for code in examples:
            namespace: dict[str, object] = {"__name__": "__readme__"}
            exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 - the README's own example
    finally:
        os.chdir(cwd)
    out = capsys.readouterr().out
    assert "introduction.md#" in out  # it printed hits
    assert (tmp_path / "index").is_dir()
