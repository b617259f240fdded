"""The `kb` command: a thin adapter that parses options, calls the library and formats what comes back.

Library errors (kb.errors) are turned into one-line messages with their exit status in exactly one place,
`KbGroup.invoke`; nothing here catches anything else, and no traceback reaches the user.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click

from .errors import KbError

EXIT_NO_MATCH = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_INTERNAL = 70


class KbGroup(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KbError as exc:
            err = click.ClickException(_one_line(str(exc)))
            err.exit_code = exc.exit_code
            raise err from None
        except KeyboardInterrupt:
            # A reindex that is interrupted never publishes a half-built generation, so this is always true.
            click.echo("kb: interrupted; the index still answers searches as before", err=True)
            ctx.exit(EXIT_INTERRUPTED)
        except BrokenPipeError:
            sys.stderr.close()
            ctx.exit(0)
        except (click.exceptions.Exit, click.ClickException, click.exceptions.Abort, SystemExit):
            raise
        except Exception as exc:  # noqa: BLE001 - the promise is: no traceback ever reaches a user
            click.echo(f"kb: internal error ({type(exc).__name__}: {_one_line(str(exc))[:300]}); "
                       "please report it with the command that caused it", err=True)
            ctx.exit(EXIT_INTERNAL)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _note(message: str) -> None:
    click.echo(f"kb: {message}", err=True)


@click.group(cls=KbGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--content", type=click.Path(path_type=Path), envvar="KB_CONTENT", default="content",
              show_default=True, help="Folder of Markdown pages (env KB_CONTENT).")
@click.option("--index", "index_dir", type=click.Path(path_type=Path), envvar="KB_INDEX", default="index",
              show_default=True, help="Folder for the search index (env KB_INDEX).")
@click.option("--include-drafts", is_flag=True, envvar="KB_INCLUDE_DRAFTS",
              help="Index pages marked `draft: true` or `unlisted: true` too.")
@click.option("--max-file-size", type=click.FloatRange(min=0.001), default=5.0, show_default=True,
              envvar="KB_MAX_FILE_SIZE", help="Skip page files larger than this many MB, with a warning.")
@click.option("--lock-timeout", type=click.FloatRange(min=0), default=10.0, show_default=True,
              envvar="KB_LOCK_TIMEOUT", help="Seconds to wait for another reindex to finish.")
@click.option("--model", envvar="KB_MODEL", default=None,
              help="Embedding model for semantic search (extra 'semantic'): a folder, a name, or 'none' (env KB_MODEL)."
                   "  [default: all-MiniLM-L6-v2 when installed]")
@click.version_option(package_name="kb")
@click.pass_context
def cli(ctx: click.Context, content: Path, index_dir: Path, include_drafts: bool, max_file_size: float,
        lock_timeout: float, model: str | None) -> None:
    """kb: search your Markdown knowledge base, section by section."""
    from .api import KnowledgeBase

    ctx.obj = KnowledgeBase(content, index_dir, include_drafts=include_drafts,
                            max_file_bytes=int(max_file_size * 1024 * 1024), lock_timeout=lock_timeout,
                            on_note=_note, model=model)
    ctx.call_on_close(ctx.obj.close)  # release searchers (and their hold on old index generations)


@cli.command(context_settings={"ignore_unknown_options": True})  # `kb search gateway -routing` excludes a word
@click.argument("query", nargs=-1, required=True)
@click.option("--limit", "-n", type=click.IntRange(1, 1000), default=10, show_default=True, help="Hits to show.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (the documented contract).")
@click.option("--no-refresh", is_flag=True, help="Answer from the index as it is; skip the freshness check.")
@click.option("--group", type=click.Choice(["page"]), default=None, help="Best section per page, others beneath.")
@click.option("--passages", is_flag=True, help="One hit per matching passage, not one per section.")
@click.option("--mode", type=click.Choice(["lexical", "semantic", "hybrid"]), default=None,
              help="Words only, meaning only (extra 'semantic'), or both.  [default: hybrid with a model]")
@click.pass_obj
def search(kb: Any, query: tuple[str, ...], limit: int, as_json: bool, no_refresh: bool, group: str | None,
           passages: bool, mode: str | None) -> None:
    """Search the knowledge base. Words must all match; "quoted phrases", OR, -word, word*, tag:/page:/title:."""
    text = " ".join(query)
    if mode in ("semantic", "hybrid") and kb.model is None:
        from .semantic import missing_model

        raise missing_model(mode)  # before any refresh: the index stays as it is
    if not no_refresh:
        _refresh(kb)
    result = kb.search(text, limit=limit, group=group, passages=passages, mode=mode)
    if as_json:
        click.echo(json.dumps(asdict(result), ensure_ascii=False))
    else:
        from .present import format_header, format_result, use_color

        header = format_header(result)
        if header:
            click.echo(header, err=not result.hits)
        if result.hits:
            click.echo(format_result(result, color=use_color(sys.stdout.isatty())))
        else:
            shown = text if len(text) <= 80 else text[:77] + "..."
            click.echo(f"No results for {shown!r}.", err=True)
            from .present import format_tips

            click.echo(format_tips(result), err=True)
    if not result.hits:
        sys.exit(EXIT_NO_MATCH)


def _refresh(kb: Any) -> None:
    """Bring a missing or stale index up to date before answering, with one line on stderr; never waits."""
    from .errors import IndexLocked, IndexReadOnly

    try:
        report = kb.refresh()
    except IndexLocked as exc:
        if kb.store.live() is None:
            raise IndexLocked(f"no index yet: another reindex (pid {exc.pid}) is building it; "
                              "try again when it finishes", pid=exc.pid) from None
        _note(f"another reindex is running (pid {exc.pid}); answering from the index as it is")
        return
    except IndexReadOnly as exc:
        if kb.store.live() is None:
            raise
        _note(f"{exc}; answering from the index as it is, which may be stale")
        return
    if report is not None and report.changed:
        if report.full:
            _note(f"index built: {report.pages} pages, {report.sections} sections")
        else:
            _note(f"index updated: {report.added} added, {report.updated} updated, {report.removed} removed")
        for w in report.warnings:
            _note(f"warning: {w}")


@cli.command()
@click.option("--full", is_flag=True, help="Rebuild from scratch instead of updating changed pages only.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON object.")
@click.option("--strict", is_flag=True, help="Exit with status 1 when any page had a problem.")
@click.option("--verify", is_flag=True, help="Check the index files' checksums even when no page changed.")
@click.option("--watch", is_flag=True,
              help="Then keep watching the content folder and update the index as pages are saved (Ctrl-C stops).")
@click.pass_obj
def reindex(kb: Any, full: bool, as_json: bool, strict: bool, verify: bool, watch: bool) -> None:
    """Update the index from the content folder (only changed pages are re-parsed)."""
    if watch:
        _needs_extra("watchfiles", "watch", "--watch")
    bar = _ProgressBar()
    try:
        report = kb.reindex(full=full, verify=verify, progress=bar.update)
    finally:
        bar.close()
    if as_json:
        click.echo(json.dumps(asdict(report), ensure_ascii=False))
    else:
        for w in report.warnings:
            _note(f"warning: {w}")
        click.echo(report.summary())
    if watch:
        from .watch import watch as watch_content

        _note(f"watching {kb.content_dir} for changes; Ctrl-C stops")
        watch_content(kb, note=_note)
        return
    if strict and report.warnings:
        sys.exit(1)


class _ProgressBar:
    """A progress bar on stderr, only on a terminal and only when the work is long enough to watch."""

    def __init__(self) -> None:
        self._bar: Any = None

    def update(self, done: int, total: int) -> None:
        if self._bar is None:
            if total < 500 or not sys.stderr.isatty():
                return
            self._bar = click.progressbar(length=total, label="indexing", file=sys.stderr)
            self._bar.__enter__()
        self._bar.update(1)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)


@cli.command()
@click.argument("target")
@click.option("--json", "as_json", is_flag=True, help="Print the page or section as JSON.")
@click.pass_obj
def show(kb: Any, target: str, as_json: bool) -> None:
    """Print a page, or one section of it: PAGE or PAGE#ANCHOR (page id or path)."""
    page, _, anchor = target.partition("#")
    if "#" in target:
        obj: Any = kb.section(page, anchor)
        sections = [obj]
    else:
        obj = kb.page(page)
        sections = list(obj.sections)
    if as_json:
        click.echo(json.dumps(asdict(obj), ensure_ascii=False))
        return
    for s in sections:
        click.echo(f"{' › '.join(s.breadcrumb)}  ({s.path}:{s.line}{'#' + s.anchor if s.anchor else ''})")
        if s.text:
            click.echo(s.text)
        if s.code:
            click.echo(s.code)
        click.echo()


@cli.command()
@click.argument("content_dir", required=False, type=click.Path(path_type=Path))
@click.option("--quiet", "-q", is_flag=True, help="Print only warnings, leftovers and the totals line.")
@click.option("--json", "as_json", is_flag=True, help="Print pages, sections, warnings and leftovers as JSON.")
@click.pass_obj
def check(kb: Any, content_dir: Path | None, quiet: bool, as_json: bool) -> None:
    """Parse CONTENT_DIR (default: --content) without indexing; list pages, sections and leftover markup.

    Exits 1 when any snippet text, heading or breadcrumb still holds Markdown/MDX/HTML syntax.
    """
    from .check import check_folder, format_report

    report = check_folder(content_dir or kb.content_dir, include_drafts=kb.settings.include_drafts,
                          max_file_bytes=kb.settings.max_file_bytes)
    if as_json:
        click.echo(json.dumps({
            "pages": [{"path": p.path, "id": p.id, "title": p.title,
                       "sections": [{"anchor": s.anchor, "heading": s.heading, "breadcrumb": list(s.breadcrumb),
                                     "line": s.line} for s in p.sections]} for p in report.pages],
            "skipped": list(report.skipped),
            "warnings": [asdict(w) for w in report.problems],
            "leftovers": [asdict(x) for x in report.leftovers],
        }, ensure_ascii=False))
    else:
        for w in report.problems:
            _note(f"warning: {w}")
        for x in report.leftovers:
            _note(f"leftover: {x}")
        lines = format_report(report, verbose=not quiet)
        click.echo("\n".join(lines))
    if report.leftovers:
        sys.exit(1)


def _needs_extra(module: str, extra: str, what: str) -> None:
    """Fail with one line naming the install command when an optional extra is missing."""
    import importlib.util

    if importlib.util.find_spec(module) is None:
        err = click.ClickException(f"{what} needs the optional '{extra}' extra ({module} is not installed): "
                                   f"pip install 'kb[{extra}]'")
        err.exit_code = EXIT_USAGE
        raise err


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, envvar="KB_HOST",
              help="Address to listen on; anything but loopback exposes the knowledge base to the network.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True, envvar="KB_PORT",
              help="Port to listen on (0 picks a free one and prints it).")
@click.option("--cors-origin", "cors_origins", multiple=True, metavar="ORIGIN",
              help="Allow browser pages from this origin (e.g. https://docs.example.com) to call the API; repeatable.")
@click.option("--watch", is_flag=True, help="Update the index as pages are saved.")
@click.option("--access-log/--no-access-log", default=True, show_default=True, help="Log one line per request.")
@click.pass_obj
def serve(kb: Any, host: str, port: int, cors_origins: tuple[str, ...], watch: bool, access_log: bool) -> None:
    """Serve a read-only JSON API (/api/search, /api/pages/...) and a search page at /."""
    _needs_extra("fastapi", "server", "`kb serve`")
    _needs_extra("uvicorn", "server", "`kb serve`")
    if watch:
        _needs_extra("watchfiles", "server", "`kb serve --watch`")
    from .server import serve as run_server

    _refresh(kb)
    run_server(kb, host=host, port=port, cors_origins=cors_origins, watch=watch, access_log=access_log,
               note=_note)


@cli.command()
@click.pass_obj
def mcp(kb: Any) -> None:
    """Run an MCP server on stdin/stdout with `search` and `read_section` tools, for AI assistants."""
    _needs_extra("mcp", "mcp", "`kb mcp`")
    from .mcp_server import run as run_mcp

    _refresh(kb)
    run_mcp(kb)


def main() -> None:
    try:
        cli(prog_name="kb")
    except KeyboardInterrupt:  # Ctrl-C before a command started (while importing)
        sys.exit(EXIT_INTERRUPTED)
