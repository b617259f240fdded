"""The `kb` command's entry point (also `python -m kb`): a plain `kb search` runs without click (kb/fastcli.py); every
other command line goes to the click commands (kb/cli.py). The choice is made once, from the command line, before
anything runs, and both paths print the same bytes and exit with the same status (tests/test_fastcli.py)."""

from __future__ import annotations

import sys


def main() -> None:
    from .fastcli import EXIT_INTERRUPTED, lenient_streams, read_search, run_search

    lenient_streams()
    try:
        line = read_search(sys.argv[1:])
        if line is not None:
            sys.exit(run_search(line))
    except KeyboardInterrupt:  # Ctrl-C before the search started (while importing)
        sys.exit(EXIT_INTERRUPTED)
    from .cli import main as click_main

    click_main()


if __name__ == "__main__":
    main()
