"""The config file through the CLI: found upward, [tool.kb], --config/KB_CONFIG, precedence, and strict errors."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from kb.cli import cli
from kb.config import find_config, load_config
from kb.errors import ConfigError
from kb.settings import resolve
from tests.conftest import SEED

ENV = {"KB_CONTENT": None, "KB_INDEX": None, "KB_CONFIG": None, "KB_BASE_URL": None, "KB_INCLUDE_DRAFTS": None,
       "KB_MAX_FILE_SIZE": None, "KB_LOCK_TIMEOUT": None}


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    docs = tmp_path / "proj" / "docs"
    docs.mkdir(parents=True)
    shutil.copy(SEED, docs / "introduction.md")
    (tmp_path / "proj" / "sub" / "deeper").mkdir(parents=True)
    return tmp_path / "proj"


def kb(*args: str, cwd: Path, env: dict[str, str | None] | None = None):
    old = os.getcwd()
    os.chdir(cwd)
    try:
        return CliRunner().invoke(cli, list(args), env={**ENV, **(env or {})}, catch_exceptions=False)
    finally:
        os.chdir(old)


def test_kb_toml_is_found_from_a_subfolder(project: Path) -> None:
    (project / "kb.toml").write_text('content = "docs"\nindex = ".kb-index"\nbase_url = "https://d.example/"\n')
    result = kb("search", "Mobi", "--json", cwd=project / "sub" / "deeper")
    assert result.exit_code == 0, result.output
    hit = json.loads(result.stdout)["hits"][0]
    assert hit["url"] == "https://d.example/introduction#about-us"
    assert (project / ".kb-index").is_dir()  # relative to the config file, not to the working folder


def test_pyproject_tool_kb_is_a_config(project: Path) -> None:
    (project / "pyproject.toml").write_text('[project]\nname = "x"\n\n[tool.kb]\ncontent = "docs"\n')
    assert find_config(project / "sub") == project / "pyproject.toml"
    result = kb("search", "Mobi", cwd=project / "sub")
    assert result.exit_code == 0, result.output
    (project / "pyproject.toml").write_text('[project]\nname = "x"\n')
    assert find_config(project / "sub") is None


def test_config_option_and_env(project: Path, tmp_path: Path) -> None:
    other = tmp_path / "elsewhere.toml"
    other.write_text(f'content = "{project / "docs"}"\nindex = "{tmp_path / "idx"}"\n')
    assert kb("--config", str(other), "search", "Mobi", cwd=tmp_path).exit_code == 0
    assert kb("search", "Mobi", "--config", str(other), cwd=tmp_path).exit_code == 0
    assert kb("search", "Mobi", cwd=tmp_path, env={"KB_CONFIG": str(other)}).exit_code == 0
    missing = kb("search", "Mobi", "--config", str(tmp_path / "nope.toml"), cwd=tmp_path)
    assert missing.exit_code == 2 and "nope.toml does not exist" in missing.stderr


def test_precedence_option_env_config_default(project: Path) -> None:
    (project / "kb.toml").write_text('content = "docs"\nlock_timeout = 3\nmax_file_size = 2\n')
    os.chdir(project)
    try:
        assert resolve({}).lock_timeout == 3.0  # config over default
        assert resolve({}).max_file_size == 2.0
        os.environ["KB_LOCK_TIMEOUT"] = "4"
        try:
            assert resolve({}).lock_timeout == 4.0  # environment over config
            assert resolve({"lock_timeout": 5.0}).lock_timeout == 5.0  # option over environment
        finally:
            del os.environ["KB_LOCK_TIMEOUT"]
        (project / "kb.toml").write_text('content = "docs"\n')
        assert resolve({}).lock_timeout == 10.0  # default
    finally:
        os.chdir(Path(__file__).parent)


@pytest.mark.parametrize("text, key, line, why", [
    ('content = "docs"\ncolour = "red"\n', "colour", 2, "unknown key"),
    ('content = "docs"\n\nlock_timeout = "soon"\n', "lock_timeout", 3, "expected a number"),
    ('include_drafts = "yes"\n', "include_drafts", 1, "expected true or false"),
    ('base_url = "docs.example.com"\n', "base_url", 1, "http(s) URL"),
    ('[[source]]\nname = "a"\npath = "docs"\n\n[[source]]\nname = "b"\npath = "docs"\nglobs = ["*"]\n',
     "globs", 8, "unknown key"),
    ('[[source]]\nname = "a"\npath = "docs"\ndialect = "sphinx"\n', "dialect", 4, "one of docusaurus"),
    ('[[source]]\nname = "a"\n', "path", 1, "missing"),
    ('[[source]]\nname = "a"\npath = "x"\n[[source]]\nname = "a"\npath = "y"\n', "name", 5, "used twice"),
    ('max_file_size = inf\n', "max_file_size", 1, "from 0.001 to 1,000,000"),
    ('index = "\\u0000x"\n', "index", 1, "NUL character"),
    ('[[source]]\nname = "a"\npath = "docs\\u0000"\n', "path", 3, "NUL character"),
    ('content = "docs"\nlock_timeout = nan\n', "lock_timeout", 2, "from 0 to 1,000,000"),
])
def test_bad_config_names_file_key_and_line(project: Path, text: str, key: str, line: int, why: str) -> None:
    path = project / "kb.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    message = str(err.value)
    assert f"{path}:{line}:" in message and repr(key) in message and why in message
    result = kb("search", "Mobi", cwd=project)
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and f"kb.toml:{line}" in result.stderr and "Traceback" not in result.output


def test_bad_config_in_pyproject_counts_lines_of_the_whole_file(project: Path) -> None:
    path = project / "pyproject.toml"
    path.write_text('[project]\nname = "x"\n\n[tool.kb]\ncontent = "docs"\nwhatever = 1\n')
    with pytest.raises(ConfigError, match=r"pyproject.toml:6: key 'whatever': unknown key"):
        load_config(path)


def test_invalid_toml_is_one_line(project: Path) -> None:
    (project / "kb.toml").write_text('content = "docs\n')
    result = kb("search", "Mobi", cwd=project)
    assert result.exit_code == 2 and "invalid TOML" in result.stderr and "line 1" in result.stderr


def test_bad_environment_value_is_a_usage_error(project: Path) -> None:
    (project / "kb.toml").write_text('content = "docs"\n')
    result = kb("search", "Mobi", cwd=project, env={"KB_LOCK_TIMEOUT": "soon"})
    assert result.exit_code == 2 and "KB_LOCK_TIMEOUT" in result.stderr



@pytest.mark.parametrize("args, env", [
    (["--max-file-size", "inf"], {}), (["--max-file-size", "nan"], {}), (["--max-file-size", "1" * 400], {}),
    (["--lock-timeout", "nan"], {}), ([], {"KB_MAX_FILE_SIZE": "nan"}), ([], {"KB_MAX_FILE_SIZE": "1e308"}),
    ([], {"KB_LOCK_TIMEOUT": "inf"})])
def test_a_number_out_of_range_or_not_a_number_is_a_usage_error(project: Path, args: list[str],
                                                                env: dict[str, str]) -> None:
    """inf, NaN and 1e308 are floats too: they were "internal errors" where a size became bytes (OverflowError,
    ValueError), or a NaN lock timeout did not wait at all."""
    (project / "kb.toml").write_text('content = "docs"\n')
    result = kb(*args, "search", "Mobi", cwd=project, env=env)
    named = args[0] if args else next(iter(env))
    last = result.stderr.splitlines()[-1]
    assert result.exit_code == 2 and last.startswith("Error: ") and named in last and "1" in last


def test_readme_config_example_is_valid(tmp_path: Path) -> None:
    from tests.conftest import ROOT

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    example = readme.split("### Several sources", 1)[1].split("```toml\n", 1)[1].split("```", 1)[0]
    (tmp_path / "kb.toml").write_text(example, encoding="utf-8")
    config = load_config(tmp_path / "kb.toml")
    assert [s.name for s in config.sources] == ["docs", "handbook"]
    assert config.sources[1].exclude == ("drafts/", "*.tmp.md")
    assert config.index == tmp_path / ".kb-index"
