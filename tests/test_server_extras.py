"""Without the optional extras, `kb serve` and `kb mcp` fail with one line naming the install command."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.serve_support import write_pages


@pytest.mark.parametrize(("command", "blocked", "extra"), [
    (["serve"], "fastapi", "server"),
    (["serve", "--watch"], "watchfiles", "server"),
    (["mcp"], "mcp", "mcp"),
    (["reindex", "--watch"], "watchfiles", "watch"),
])
def test_missing_extra_is_a_one_line_error(tmp_path: Path, command: list[str], blocked: str, extra: str) -> None:
    content = write_pages(tmp_path / "content")
    code = ("import sys\n"
            f"sys.modules[{blocked!r}] = None  # as if not installed\n"
            "from kb.cli import main\n"
            f"sys.argv = ['kb', '--content', {str(content)!r}, '--index', {str(tmp_path / 'index')!r}, "
            f"*{command!r}]\n"
            "main()\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert f"pip install 'kb-docs-search[{extra}]'" in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) <= 2
