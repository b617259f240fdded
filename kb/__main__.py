"""The `kb` command's entry point (also `python -m kb`): a plain `kb search` runs without click (kb/fastcli.py); every
other command line goes to the click commands (kb/cli.py). The choice is made once, from the command line, before
anything runs, and both paths print the same bytes and exit with the same status (tests/test_fastcli.py).

`console` is the command itself; `main` is the same for a caller that runs it inside a process of its own (tests,
embedding tools), which ends through SystemExit. Only `console` owns its process, so only there does a fast search
end without the interpreter's teardown (fastcli.exit_now)."""

from __future__ import annotations

import sys


def console() -> None:
    """The `kb` console script and `python -m kb`."""
    main(own_process=True)


def main(*, own_process: bool = False) -> None:
    from .fastcli import EXIT_INTERRUPTED, exit_now, lenient_streams, read_search, run_search

    lenient_streams()
    try:
        line = read_search(sys.argv[1:])
        if line is not None:
            if own_process:
                # The collector stays paused to the end (run_search pauses it while it runs). Re-enabled, it would
                # collect at the next allocation, over every object made since the pause, just before the process
                # ends and frees them all at once: 7.6-12.8 CPU-ms at 10,000 pages (the first allocation after
                # run_search, timed in the process), against 0.1 ms with the collector left paused.
                import gc

                gc.disable()
            try:
                status = run_search(line)
            except SystemExit as done:  # `kb search`'s own exit (1: no match)
                if not own_process or not isinstance(done.code, int):
                    raise
                status = done.code
            if own_process:
                exit_now(status)
            sys.exit(status)
    except KeyboardInterrupt:  # Ctrl-C before the search started (while importing)
        sys.exit(EXIT_INTERRUPTED)
    from .cli import main as click_main

    click_main()


if __name__ == "__main__":
    console()
