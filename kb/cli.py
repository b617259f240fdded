"""The `kb` command's entry point.

A plain `kb [global options] search QUERY [options]` is read by kb/fastcli.py without importing click (click and
what it imports are a third of a cold search); every other command line (other commands, help, completion, usage
errors, anything the small reader does not fully understand) goes to the click commands in kb/commands.py. The
choice is made once, from the command line, before anything runs, and both paths print the same bytes and exit with
the same status (tests/test_fastcli.py).

`from kb.cli import cli` (and the other names of kb/commands.py) still works: they are loaded on first use.
"""

from __future__ import annotations

import sys
from typing import Any


def main() -> None:
    from .fastcli import EXIT_INTERRUPTED, read_search

    try:
        line = read_search(sys.argv[1:])
        if line is not None:
            from .fastcli import run_search

            sys.exit(run_search(line))
    except KeyboardInterrupt:  # Ctrl-C before the search started (while importing)
        sys.exit(EXIT_INTERRUPTED)
    from .commands import main as click_main

    click_main()


def __getattr__(name: str) -> Any:
    if name.startswith("__"):  # the import system asks for __path__ and the like: not a command's name
        raise AttributeError(f"module 'kb.cli' has no attribute {name!r}")
    from . import commands

    try:
        return getattr(commands, name)
    except AttributeError:
        raise AttributeError(f"module 'kb.cli' has no attribute {name!r}") from None
