"""kb/fastcli.py reads plain `kb search` command lines without click: it must read them exactly as click does, hand
everything else to click, and print the same bytes with the same exit status."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import click
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import kb.__main__
import kb.cli
from kb import KnowledgeBase
from kb.cli import GIVEN, cli
from kb.fastcli import GLOBAL_OPTIONS, SEARCH_DEFAULTS, SEARCH_OPTIONS, read_search
from kb.present import style


def streams() -> tuple[io.TextIOWrapper, io.TextIOWrapper]:
    return (io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="strict"),
            io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="strict"))


def click_reads(argv: list[str]) -> tuple[dict[str, Any], tuple[str, ...], dict[str, Any]] | None:
    """What click makes of a command line when it is a search it would run; None when it would not."""
    try:
        ctx = cli.make_context("kb", list(argv))
        name, cmd, rest = cli.resolve_command(ctx, [*ctx._protected_args, *ctx.args])
        if name != "search" or cmd is None:
            return None
        sub = cmd.make_context(name, rest, parent=ctx)
    except (click.exceptions.Exit, click.ClickException):
        return None
    params = dict(sub.params)
    return dict(sub.meta.get(GIVEN, {})), tuple(params.pop("query")), params


def test_the_tables_match_the_click_options() -> None:
    search = cli.commands["search"]
    options = {o: p for p in search.params if isinstance(p, click.Option) for o in p.opts}
    assert set(options) == set(GLOBAL_OPTIONS) | set(SEARCH_OPTIONS)  # help is added per context
    for table in (GLOBAL_OPTIONS, SEARCH_OPTIONS):
        for opt, (dest, kind) in table.items():
            param = options[opt]
            assert param.name == dest and param.is_flag == (kind == "flag") and not param.multiple, opt
            if isinstance(kind, tuple):
                assert isinstance(param.type, click.Choice) and tuple(param.type.choices) == kind
            elif isinstance(kind, range):
                assert isinstance(param.type, click.IntRange)
                assert (param.type.min, param.type.max) == (kind.start, kind.stop - 1)
            elif isinstance(kind, float):
                assert isinstance(param.type, click.FloatRange) and param.type.min == kind
                assert not param.type.min_open
            elif kind == "path":
                assert isinstance(param.type, click.Path)
    assert {p.name for p in search.params if isinstance(p, click.Argument)} == {"query"}
    assert click_reads(["search", "x"]) == ({}, ("x",), SEARCH_DEFAULTS)
    assert not {o for p in cli.params for o in p.opts} - set(GLOBAL_OPTIONS) - {"-V", "--version"}


TOKENS = ["search", "search", "gateway", "partners", "a b", "-", "--", "-h", "--help", "-V", "--version", "show",
          "reindex", "-routing", "-word", "-x=y", "-nn", "-n", "-n5", "-n0", "-n-1", "-n 3", "5", "0", "1001",
          "10", "007", "1_0", "+5", " 5", "1e3", "0.5", "nan", ".5", "5.", "page", "Page", "lexical", "hybrid",
          "semantic", "--limit", "--limit=3", "--limit=", "--json", "--json=1", "--no-refresh", "--group",
          "--group=page", "--vimgrep", "--passages", "--mode", "--mode=lexical", "--mode=x", "--content",
          "--content=docs", "--content=", "--index", "--config", "--base-url", "--base-url=http://x",
          "--include-drafts", "--include-drafts=1", "--max-file-size", "--max-file-size=0", "--lock-timeout",
          "--model", "--dialect", "--unknown", "--cont", "ünï", "", "title:x", '"phrase q"', "conf*", "-telenor",
          "-hash", "-night", "-n٣", "-n5x", "-\0x", "\0", "\0x"]


WORD = st.sampled_from(TOKENS) | st.text(max_size=6)
BEFORE = st.lists(st.sampled_from(["--content", "--index=x", "--include-drafts", "--model", "none", "c", "-n"]),
                  max_size=3)
LINES = st.lists(WORD, max_size=9) | st.builds(lambda a, b: [*a, "search", *b], BEFORE, st.lists(WORD, max_size=7))


@settings(max_examples=500, deadline=None)
@given(LINES)
def test_a_command_line_is_read_as_click_reads_it_or_left_to_click(argv: list[str]) -> None:
    out, err = streams()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sys, "stdout", out)
        mp.setattr(sys, "stderr", err)
        mine = read_search(argv)
        if mine is None:
            return
        theirs = click_reads(argv)
    assert theirs is not None, argv
    assert (mine.given, mine.query, mine.options) == theirs, argv


@pytest.mark.parametrize("argv", [
    ["search", "gateway"], ["--content", "c", "search", "a", "b", "-n", "3", "--json"],
    ["search", "gateway", "-roads", "--index=i", "--limit=5", "-n7", "--group", "page", "--mode", "lexical"],
    ["--include-drafts", "--max-file-size", "2.5", "search", "x", "--lock-timeout", "0", "--vimgrep"],
    ["search", "x", "-routing-n"], ["search", "x", "-hash"],
])
def test_plain_searches_take_the_fast_path(argv: list[str]) -> None:
    assert read_search(argv) is not None


@pytest.mark.parametrize("argv", [
    ["search"], ["search", "--help"], ["search", "x", "-h"], ["--help", "search", "x"], ["search", "--", "-x"],
    ["show", "x"], ["-V"], [], ["search", "x", "-n٣"], ["search", "x", "--limit", "0"],
    ["search", "x", "--unknown"], ["search", "x", "--json=yes"], ["--json", "search", "x"],
    ["search", "x", "--content"], ["search", "x", "--mode", "Lexical"],
])
def test_anything_else_goes_to_click(argv: list[str]) -> None:
    assert read_search(argv) is None


def test_shell_completion_and_ascii_streams_go_to_click(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("_KB_COMPLETE", "bash_source")
    assert read_search(["search", "x"]) is None
    monkeypatch.delenv("_KB_COMPLETE")
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(io.BytesIO(), encoding="ascii"))
    assert read_search(["search", "x"]) is None


def test_styles_are_clicks() -> None:
    for kw in ({"bold": True, "fg": "yellow"}, {"bold": True}, {"fg": "cyan"}):
        assert style("a b", **kw) == click.style("a b", **kw)


def run(main: Any, argv: list[str], monkeypatch: pytest.MonkeyPatch, *, fast: bool) -> tuple[int, bytes, bytes]:
    out, err = streams()
    code: Any = 0
    with monkeypatch.context() as mp:
        mp.setattr(sys, "argv", ["kb", *argv])
        mp.setattr(sys, "stdout", out)
        mp.setattr(sys, "stderr", err)
        assert (read_search(argv) is not None) == fast, argv
        try:
            main()
        except SystemExit as exc:
            code = exc.code
    out.flush()
    err.flush()
    return code, out.buffer.getvalue(), err.buffer.getvalue()  # type: ignore[attr-defined]


def test_both_paths_print_the_same_bytes_and_exit_the_same(seed_kb: KnowledgeBase, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    where = ["--content", str(seed_kb.content_dir), "--index", str(seed_kb.index_dir)]
    page = seed_kb.content_dir / "introduction.md"
    lines = [
        ["search", "partners"], ["search", "partners", "--json"], ["search", "partners", "--vimgrep"],
        ["search", "partners", "--group", "page", "-n", "2"], ["search", "partners", "--passages", "-n1"],
        ["search", "zzzxqy"], ["search", "zzzxqy", "--json"], ["search", "partnrs"], ["search", "partners", "-atos"],
        ["search", "partners", "gateway", "qqqq"], ["search", "!!!"], ["search", "partners", "--mode", "semantic"],
        ["search", "partners", "--mode", "lexical", "--no-refresh"], ["search", "partners", "--dialect", "bogus"],
        ["search", "partners", "--base-url", "https://docs.example.com/x"], ["search", "partners", "--config",
                                                                            str(tmp_path / "none.toml")],
        ["search", "partners", "--lock-timeout", "1", "--include-drafts"], ["search", "p" * 200],
        ["search", "title:", "tag:"], ["search", "partners", "--index", str(tmp_path / "content")],
        ["search", "partners", "-telenor", "-hash", "-n2"], ["search", "-night", "partners", "-n5x"],
    ]
    text, indexed = page.read_text(encoding="utf-8"), page.stat()
    saved = tmp_path / "saved-index"
    shutil.copytree(seed_kb.index_dir, saved)
    missing = ["--content", str(tmp_path / "missing"), "--index", str(tmp_path / "i2"), "search", "x"]
    for n, argv in enumerate([*[where + a for a in lines], *[a + where for a in lines[:3]], missing]):
        done = []
        for main in (kb.cli.main, kb.__main__.main):  # each from the same state (some options rebuild the index)
            shutil.rmtree(seed_kb.index_dir)
            shutil.copytree(saved, seed_kb.index_dir)
            if n < 3:  # an edited page: the refresh's note is printed too
                page.write_text(text + "\nEdited.\n", encoding="utf-8")
                os.utime(page, (1_700_000_000, 1_700_000_000))
            else:  # the page as indexed: the index is fresh
                page.write_text(text, encoding="utf-8")
                os.utime(page, ns=(indexed.st_atime_ns, indexed.st_mtime_ns))
            done.append(run(main, argv, monkeypatch, fast=True))
        assert done[0] == done[1], argv
        assert done[0][0] in (0, 1, 2), (argv, done[0])


def test_a_closed_stdout_is_no_internal_error(seed_kb: KnowledgeBase, monkeypatch: pytest.MonkeyPatch) -> None:
    """`kb search partners >&-`: Python sets sys.stdout to None; click.echo then prints nothing, and neither may the
    colour check fail (it did: "internal error (AttributeError: 'NoneType' object has no attribute 'isatty')")."""
    where = ["--content", str(seed_kb.content_dir), "--index", str(seed_kb.index_dir)]
    for main in (kb.cli.main, kb.__main__.main):
        for argv, status in ((["search", "partners"], 0), (["search", "zzzxqy"], 1)):
            err = streams()[1]
            monkeypatch.setattr(sys, "argv", ["kb", *where, *argv])
            monkeypatch.setattr(sys, "stdout", None)
            monkeypatch.setattr(sys, "stderr", err)
            with pytest.raises(SystemExit) as exit_:
                main()
            err.flush()
            assert exit_.value.code == status, (main, argv, err.buffer.getvalue())  # type: ignore[attr-defined]
            assert b"internal error" not in err.buffer.getvalue()  # type: ignore[attr-defined]


@pytest.mark.parametrize("encoding", ["latin-1", "cp1252"])
def test_a_stream_that_cannot_encode_a_character_is_no_internal_error(
        encoding: str, seed_kb: KnowledgeBase, monkeypatch: pytest.MonkeyPatch) -> None:
    """A Latin-1 terminal (LANG=de_DE.ISO-8859-1, PYTHONIOENCODING=latin-1): the breadcrumb's › cannot be encoded.
    Both paths printed "kb: internal error (UnicodeEncodeError ...)" and exited 70 for every search with a hit;
    they replace it with ? as click does on an ASCII terminal, and still print the same bytes."""
    where = ["--content", str(seed_kb.content_dir), "--index", str(seed_kb.index_dir)]
    done = []
    for main in (kb.cli.main, kb.__main__.main):
        out = io.TextIOWrapper(io.BytesIO(), encoding=encoding, errors="strict")
        err = io.TextIOWrapper(io.BytesIO(), encoding=encoding, errors="strict")
        monkeypatch.setattr(sys, "argv", ["kb", *where, "search", "partners", "日本"])
        monkeypatch.setattr(sys, "stdout", out)
        monkeypatch.setattr(sys, "stderr", err)
        with pytest.raises(SystemExit) as exit_:
            main()
        out.flush()
        err.flush()
        done.append((exit_.value.code, out.buffer.getvalue(), err.buffer.getvalue()))  # type: ignore[attr-defined]
    assert done[0] == done[1]
    assert done[0][0] in (0, 1) and b"internal error" not in done[0][2], done[0]


def test_an_excluded_word_with_an_n_or_h_is_a_word() -> None:
    """README's `-telenor`: click read it as -t -e -l -e -n "or" ("Invalid value for '--limit'"), and `-hash` as
    --help; both paths now read them as excluded words, and -h, -n 3 and -n3 as options."""
    assert click_reads(["search", "partners", "-telenor", "-hash", "-n3"]) == (
        {}, ("partners", "-telenor", "-hash"), {**SEARCH_DEFAULTS, "limit": 3})
    assert click_reads(["search", "partners", "--", "-telenor"]) == ({}, ("partners", "-telenor"), SEARCH_DEFAULTS)
    assert click_reads(["search", "partners", "-h"]) is None


@pytest.mark.parametrize("found", [True, False])
def test_the_garbage_collector_is_paused_for_a_search_and_restored_after(seed_kb: KnowledgeBase, found: bool,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import gc

    import kb.fastcli

    seen: list[bool] = []
    real = kb.fastcli.search_command

    def spy(*args: Any, **kwargs: Any) -> None:
        seen.append(gc.isenabled())
        real(*args, **kwargs)

    monkeypatch.setattr(kb.fastcli, "search_command", spy)
    line = read_search(["--content", str(seed_kb.content_dir), "--index", str(seed_kb.index_dir), "search",
                        "partners" if found else "zzzqqq", "--json"])
    assert line is not None and gc.isenabled()
    if found:
        assert kb.fastcli.run_search(line) == 0
    else:  # no hit: the command exits 1 through SystemExit
        with pytest.raises(SystemExit):
            kb.fastcli.run_search(line)
    assert seen == [False] and gc.isenabled()
    gc.disable()
    try:  # a caller's choice is left as it was
        with pytest.raises(SystemExit) if not found else contextlib.nullcontext():
            kb.fastcli.run_search(line)
        assert not gc.isenabled()
    finally:
        gc.enable()


# A `kb search` run as the console script runs it (`console`), with a witness object whose finaliser runs only in the
# interpreter's teardown, an atexit function of the caller's, and optionally a thread still running at the end.
EXIT_SCRIPT = """
import atexit, gc, sys, threading, time
class Witness:
    def __del__(self):
        sys.stderr.write("teardown ran\\n")
witness = Witness()
atexit.register(lambda: sys.stderr.write(f"atexit ran, collector {'on' if gc.isenabled() else 'paused'}\\n"))
def until_shutdown():  # still running when the search decides how to end, whatever the machine's speed
    while threading.main_thread().is_alive():
        time.sleep(0.01)
    sys.stderr.write("thread ended\\n")
if sys.argv[1] == "thread":
    threading.Thread(target=until_shutdown).start()
sys.argv = ["kb"] + sys.argv[2:]
from kb.__main__ import console
console()
"""


@pytest.mark.parametrize("query,status", [("partners", 0), ("zzzqqq", 1)])
def test_a_search_ends_without_teardown_after_flushing_and_atexit(seed_kb: KnowledgeBase, query: str,
                                                                   status: int) -> None:
    import json
    import subprocess

    argv = ["--content", str(seed_kb.content_dir), "--index", str(seed_kb.index_dir), "search", query, "--json"]
    done = subprocess.run([sys.executable, "-c", EXIT_SCRIPT, "-", *argv], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "KB_MODEL": "none"})
    assert done.returncode == status, done.stderr
    assert bool(json.loads(done.stdout)["hits"]) == (status == 0)  # all of stdout arrived
    assert "atexit ran" in done.stderr and "teardown ran" not in done.stderr
    # Left paused to the end: re-enabled, the collector would pass over every object of the search just before
    # the process frees them all at once.
    assert "collector paused" in done.stderr


def test_a_search_exits_normally_while_another_thread_runs(seed_kb: KnowledgeBase) -> None:
    import subprocess

    argv = ["--content", str(seed_kb.content_dir), "--index", str(seed_kb.index_dir), "search", "partners"]
    done = subprocess.run([sys.executable, "-c", EXIT_SCRIPT, "thread", *argv], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "KB_MODEL": "none"})
    assert done.returncode == 0, done.stderr
    assert "Atos" in done.stdout
    assert "thread ended" in done.stderr and "teardown ran" in done.stderr and "atexit ran" in done.stderr


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_output_that_cannot_be_written_ends_as_with_a_normal_exit(seed_kb: KnowledgeBase) -> None:
    """A full disk: the same status and message whichever way the process ends (a thread forces the normal way)."""
    import subprocess

    argv = ["--content", str(seed_kb.content_dir), "--index", str(seed_kb.index_dir), "search", "partners"]
    ends = []
    for mode in ("-", "thread"):
        with open("/dev/full", "w") as full:
            done = subprocess.run([sys.executable, "-c", EXIT_SCRIPT, mode, *argv], stdout=full,
                                  stderr=subprocess.PIPE, text=True, timeout=60, env={**os.environ, "KB_MODEL": "none"})
        kb_lines = [line for line in done.stderr.splitlines() if line.startswith(("kb", "Error"))]
        ends.append((done.returncode, kb_lines))
    assert ends[0] == ends[1]
    assert ends[0][0] != 0 and ends[0][1]


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize("command", [["search", "partners"], ["search", "partners", "--json"],
                                     ["show", "introduction.md"], ["reindex", "--json"]])
def test_output_that_cannot_be_written_is_said_in_one_line_not_as_an_internal_error(
        seed_kb: KnowledgeBase, command: list[str]) -> None:
    """A full disk behind stdout is the user's to fix, not a kb bug: one line saying so, exit status 74 (EX_IOERR),
    on the fast search path and on click's."""
    import subprocess

    argv = ["--content", str(seed_kb.content_dir), "--index", str(seed_kb.index_dir), *command]
    with open("/dev/full", "w") as full:
        done = subprocess.run([sys.executable, "-m", "kb", *argv], stdout=full, stderr=subprocess.PIPE, text=True,
                              timeout=60, env={**os.environ, "KB_MODEL": "none"})
    assert done.returncode == 74, done.stderr
    assert done.stderr.splitlines() == ["Error: cannot write the output: No space left on device; free space where "
                                        "the output goes, or redirect it elsewhere"]


def test_main_called_inside_a_process_returns_through_system_exit(seed_kb: KnowledgeBase) -> None:
    """Only `console` may end its process early: `main` inside someone else's process (a test runner) must not."""
    import subprocess

    code = ("import sys\n"
            "from kb.__main__ import main\n"
            f"sys.argv = ['kb', '--content', {str(seed_kb.content_dir)!r}, '--index', {str(seed_kb.index_dir)!r}, "
            "'search', 'partners']\n"
            "try:\n"
            "    main()\n"
            "except SystemExit as done:\n"
            "    print('returned', done.code)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "KB_MODEL": "none"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.rstrip().endswith("returned 0")
