"""`kb search` read and run without click: a cold search is mostly start-up, and click with what it imports (inspect,
gettext, uuid, platform...) cost about as much as the search itself on a small site.

`read_search` accepts only the plainest command lines, `kb [global options] search WORDS [options]` with values
that click would take as they are, and returns None for anything else (help, completion, `--`, unknown or odd
options, a value click would refuse or read differently, a terminal click would re-wrap): those go to click
(kb/cli.py), which prints its help and errors. What both paths then run is the same code, `search_command`,
and a library error is worded here for both (`failure`), so they print the same bytes and exit with the same status
(tests/test_fastcli.py compares them over many command lines). The options are declared here once, as data, and the
click options are checked against these tables by the tests.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

TYPE_CHECKING = False  # rather than typing's: a cold search does not import typing (kb/__init__.py)
if TYPE_CHECKING:
    from typing import Any, NoReturn

EXIT_NO_MATCH = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_INTERNAL = 70
# How to fix a library error (KbError.fix), in the CLI's terms.
FIXES = {
    "content": "pass --content DIR (or set KB_CONTENT)",
    "index": "fix its permissions or pass --index DIR",
    "reindex": "run `kb reindex`",
    "lock_timeout": "wait for it to finish or raise --lock-timeout",
    "search": "`kb search` finds pages by words, or check the id",
    "show": "`kb show PAGE` lists its sections",
    "index_folder": "pass --index with a new or empty folder outside the content folder",
    "config": "pass an existing --config FILE or unset KB_CONFIG",
    "url": "`kb search` prints each hit's URL",
    "archive": "pass an archive written by `kb index export`",
    "import": "publish one with `kb index import FILE`",
    "workers": "run with --workers 1 (one process; behind a proxy for more)",
    "port": "pass another --port",
    "model": "pass --model FOLDER (or set KB_MODEL), or --mode lexical",
    "output": "free space where the output goes, or redirect it elsewhere",
}

# The global options (kb/cli.py, global_options): option -> (setting name, kind). Kinds: "path", "text",
# "flag", and the smallest accepted number for the numeric ones.
GLOBAL_OPTIONS: dict[str, tuple[str, Any]] = {
    "--config": ("config", "path"),
    "--content": ("content", "path"),
    "--index": ("index_dir", "path"),
    "--base-url": ("base_url", "text"),
    "--include-drafts": ("include_drafts", "flag"),
    "--max-file-size": ("max_file_size", 0.001),
    "--lock-timeout": ("lock_timeout", 0.0),
    "--model": ("model", "text"),
    "--dialect": ("dialect", "text"),
}
# `kb search`'s own options: option -> (parameter, kind); a tuple kind is a choice, an int range is (low, high).
SEARCH_OPTIONS: dict[str, tuple[str, Any]] = {
    "--limit": ("limit", range(1, 1001)),
    "-n": ("limit", range(1, 1001)),
    "--json": ("as_json", "flag"),
    "--no-refresh": ("no_refresh", "flag"),
    "--group": ("group", ("page",)),
    "--vimgrep": ("vimgrep", "flag"),
    "--passages": ("passages", "flag"),
    "--mode": ("mode", ("lexical", "semantic", "hybrid")),
}
SEARCH_DEFAULTS: dict[str, Any] = {"limit": 10, "as_json": False, "no_refresh": False, "group": None,
                                   "vimgrep": False, "passages": False, "mode": None}


class SearchLine:
    """A `kb search` command line as click would read it: the global options typed, the query words, the options.
    (A plain class: a NamedTuple compiles its string annotations at import, ~10 M instructions.)"""

    __slots__ = ("given", "query", "options")

    def __init__(self, given: dict[str, Any], query: tuple[str, ...], options: dict[str, Any]) -> None:
        self.given, self.query, self.options = given, query, options


def read_search(argv: list[str]) -> SearchLine | None:
    """The command line when it is a plain search this module runs exactly as click would, else None."""
    if os.name == "nt" or "_KB_COMPLETE" in os.environ or not (_plain(sys.stdout) and _plain(sys.stderr)):
        return None  # Windows argument expansion, shell completion, streams click would re-wrap: click's business
    if any("\0" in arg for arg in argv):
        return None  # no real command line holds a NUL (kb/cli.py marks excluded words with one): click's business
    given: dict[str, Any] = {}
    options = dict(SEARCH_DEFAULTS)
    query: list[str] = []
    args = list(argv)
    command = False
    while args:
        arg = args.pop(0)
        if not command:
            if arg == "search":
                command = True
                continue
            if not _option(arg, args, given, GLOBAL_OPTIONS, _convert_global):
                return None
            continue
        if arg.startswith("--"):
            if not _option(arg, args, given, GLOBAL_OPTIONS, _convert_global) and \
                    not _option(arg, args, options, SEARCH_OPTIONS, _convert_search):
                return None  # `--` itself, --help, an unknown option, a bad value
        elif arg.startswith("-") and len(arg) > 1:
            if arg == "-n" or (arg.startswith("-n") and arg[2:].isdigit() and arg[2:].isascii()):
                if not _option("-n", [arg[2:]] if len(arg) > 2 else args, options, SEARCH_OPTIONS,
                               _convert_search):
                    return None
            elif not excluded_word(arg):
                return None  # -h, or -n with a number click reads (-n٣)
            else:
                query.append(arg)  # an excluded word (`-word`, `-routing`): kb/cli.py's SearchCommand keeps it
        else:
            query.append(arg)
    if not command or not query:
        return None
    return SearchLine(given, tuple(query), options)


def lenient_streams() -> None:
    """Print a character the terminal cannot encode as "?", as click does on an ASCII terminal only: on a Latin-1
    one (LANG=de_DE.ISO-8859-1), every hit's breadcrumb (›) was an internal error. Both entry points call this."""
    for stream in (sys.stdout, sys.stderr):
        if getattr(stream, "errors", None) == "strict" and hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="replace")


def excluded_word(arg: str) -> bool:
    """`-word` in `kb search`'s arguments: an excluded word, not short options, even with an n or h in it (`-telenor`
    would be -t -e -l -e -n "or" to click); only -h, -n and -n with a number are options."""
    return arg.startswith("-") and not arg.startswith("--") and len(arg) > 1 and arg not in ("-h", "-n") and \
        not (arg.startswith("-n") and arg[2:].isdigit())


def _plain(stream: Any) -> bool:
    """A text stream that click.echo writes to as it is (not re-wrapped for an ASCII encoding)."""
    import codecs
    import io

    if not isinstance(stream, io.TextIOWrapper) or stream.errors is None or not stream.encoding:
        return False
    try:
        return codecs.lookup(stream.encoding).name != "ascii"
    except LookupError:
        return False


def _option(arg: str, rest: list[str], into: dict[str, Any], table: dict[str, tuple[str, Any]],
            convert: Callable[[Any, str], Any]) -> bool:
    """Read one option (and its value from `rest`) into `into`; False when click would read it otherwise."""
    name, eq, inline = arg.partition("=")
    if name not in table:
        return False
    dest, kind = table[name]
    if kind == "flag":
        if eq:
            return False  # click: "Option does not take a value"
        into[dest] = True
        return True
    if eq:
        value = inline
    elif rest and not rest[0].startswith("-"):
        value = rest.pop(0)
    else:
        return False  # no value, or one starting with a dash: left to click
    converted = convert(kind, value)
    if converted is None:
        return False
    into[dest] = converted
    return True


def _convert_global(kind: Any, value: str) -> Any:
    from pathlib import Path

    if kind == "path":
        try:
            os.stat(value)
        except OSError:
            return Path(value)
        except ValueError:
            return None
        return Path(value) if os.access(value, os.R_OK) else None  # click refuses an unreadable path
    if kind == "text":
        return value
    if not value.isascii() or not value.replace(".", "", 1).isdigit():
        return None  # click's float() takes more ("1e3", " 5", "nan"): leave those to it
    number = float(value)
    return number if number >= kind else None


def _convert_search(kind: Any, value: str) -> Any:
    if isinstance(kind, range):
        if not value.isascii() or not value.isdigit() or len(value) > 6:
            return None
        return int(value) if int(value) in kind else None
    return value if value in kind else None


# -- running ----------------------------------------------------------------------------------------------------

_ANSI = None


def echo(message: str, *, err: bool = False) -> None:
    """click.echo for the plain streams `read_search` accepts: a newline, styles stripped unless the stream is a
    terminal, flushed at once (so that stdout and stderr interleave as click's do)."""
    global _ANSI
    stream = sys.stderr if err else sys.stdout
    out = f"{message}\n"
    try:
        tty = stream.isatty()
    except Exception:  # noqa: BLE001 - click.echo treats any failure of isatty() as "not a terminal"
        tty = False
    if not tty and "\x1b" in out:
        if _ANSI is None:
            import re

            _ANSI = re.compile(r"\033\[[0-?]*[ -/]*[@-~]")  # click._compat._ansi_re
        out = _ANSI.sub("", out)
    try:
        stream.write(out)
        stream.flush()
    except OSError as exc:
        write_failed(exc, err=err)


def write_failed(exc: OSError, *, err: bool) -> NoReturn:
    """A failed write to standard output raised as the kb.errors.OutputError the entry points report (both
    echoes, this one and kb/cli.py's over click.echo). A broken pipe (the reader went away: `| head`) and a failed
    write to stderr are raised as they are: the entry points end quietly on the one and cannot report the other."""
    if err or isinstance(exc, BrokenPipeError):
        raise exc
    from .errors import OutputError

    raise OutputError(f"cannot write the output: {exc.strerror or exc}", fix="output") from None


def one_line(text: str) -> str:
    from .present import term_safe

    return term_safe(" ".join(text.split()))


def error_message(exc: Any) -> str:
    """A library error (kb.errors.KbError) as the CLI words it: one line, with how to fix it in the CLI's terms."""
    fix = f"; {FIXES[exc.fix]}" if exc.fix in FIXES else ""
    return one_line(str(exc) + fix)


def internal_error(exc: BaseException) -> str:
    return (f"kb: internal error ({type(exc).__name__}: {one_line(str(exc))[:300]}); "
            "please report it with the command that caused it")


INTERRUPTED = "kb: interrupted; the index still answers searches as before"


def search_command(kb: Any, query: tuple[str, ...], *, limit: int, as_json: bool, no_refresh: bool,
                   group: str | None, vimgrep: bool, passages: bool, mode: str | None,
                   echo: Callable[..., None]) -> None:
    """What `kb search` does once its options are read (both paths run this, each with its own echo)."""
    import json

    from .present import term_safe

    def note(message: str) -> None:
        echo(f"kb: {term_safe(message)}", err=True)

    text = " ".join(query)
    if mode in ("semantic", "hybrid") and kb.model is None:
        from .semantic import missing_model

        raise missing_model(mode)  # before any refresh: the index stays as it is
    if not no_refresh:
        kb.refresh()
    result = kb.search(text, limit=limit, group=group, passages=passages, mode=mode)
    if result.ignored and not as_json:
        note(f"not searched: {'; '.join(result.ignored)}")
    if as_json:
        from dataclasses import asdict

        echo(json.dumps(asdict(result), ensure_ascii=False))
    elif vimgrep:
        from .present import format_vimgrep

        for line in format_vimgrep(result, kb.file_path):
            echo(line)
    else:
        from .present import format_header, format_result, use_color

        header = format_header(result)
        if header:
            echo(header, err=not result.hits)
        if result.hits:
            echo(format_result(result, color=use_color(sys.stdout is not None and sys.stdout.isatty())))
        else:
            shown = text if len(text) <= 80 else text[:77] + "..."
            echo(f"No results for {shown!r}.", err=True)
            from .present import format_tips

            echo(format_tips(result), err=True)
    if not result.hits:
        sys.exit(EXIT_NO_MATCH)


def run_search(line: SearchLine) -> int:
    """Run a command line `read_search` accepted as click would (kb/cli.py, KbGroup and KbCommand): the exit
    status, or SystemExit from the command itself.

    The cyclic garbage collector is paused meanwhile, as Mercurial does around its bulk work: a one-shot search
    makes little cyclic garbage (peak RSS unchanged at 10,000 pages), but the collector's passes over every object
    the imports created cost ~12 M instructions, 4% of the `import whoosh.index` floor."""
    import gc

    paused = gc.isenabled()
    gc.disable()
    try:
        return _run_search(line)
    finally:
        if paused:
            gc.enable()


def exit_now(status: int) -> None:
    """End the process after a one-shot search without the interpreter's teardown, as mypy does (`hard_exit`):
    freeing every module and object one by one costs ~38 M instructions, 14% of the `import whoosh.index` floor,
    and a process that ends frees them all at once.

    What a normal exit does that matters still happens: the atexit functions run (the dataclass code cache is saved
    there) and both streams are flushed. The normal exit is taken instead, chosen before anything is skipped, when
    that cannot be promised: another thread still running (a normal exit waits for it), a Python without
    `atexit._run_exitfuncs`, or a stream that fails to flush (closed, a broken pipe, a full disk), whose error a normal
    exit reports as it always did. Returns only in those cases; the caller then exits normally."""
    import atexit
    import threading

    run_exit_functions = getattr(atexit, "_run_exitfuncs", None)
    if run_exit_functions is None or threading.active_count() > 1 or not _flushed():
        return
    run_exit_functions()
    if threading.active_count() == 1 and _flushed():
        os._exit(status)


def _flushed() -> bool:
    """Whether both standard streams flushed (or are not there)."""
    for stream in (sys.stdout, sys.stderr):
        if stream is None:
            continue
        try:
            stream.flush()
        except (OSError, ValueError):  # ValueError: closed (a broken pipe's stderr is closed by run_search)
            return False
    return True


def _run_search(line: SearchLine) -> int:
    from .standins import import_dataclasses_for_search

    import_dataclasses_for_search()
    from .errors import KbError
    from .present import term_safe
    from .settings import open_kb

    try:
        kb = open_kb(line.given, on_note=lambda m: echo(f"kb: {term_safe(m)}", err=True))
        try:
            search_command(kb, line.query, echo=echo, **line.options)
        finally:
            kb.close()
    except KbError as exc:
        echo(f"Error: {error_message(exc)}", err=True)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        echo(INTERRUPTED, err=True)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        sys.stderr.close()
        return 0
    except Exception as exc:  # noqa: BLE001 - the promise is: no traceback ever reaches a user
        echo(internal_error(exc), err=True)
        return EXIT_INTERNAL
    return 0
