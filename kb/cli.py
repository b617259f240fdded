"""The `kb` commands (click): a thin adapter that parses options, calls the library and formats what comes back.

Library errors (kb.errors) are turned into one-line messages with their exit status in exactly one place,
`KbGroup.invoke` (worded by kb/fastcli.py, which runs plain `kb search` command lines without click); nothing here
catches anything else, and no traceback reaches the user. The `kb` command's entry point is `main` in
kb/__main__.py, which runs a plain `kb search` through kb/fastcli.py and hands every other command line to `main`
here.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click

from . import __version__
from .errors import KbError
from .fastcli import (  # noqa: F401 - kb.cli's names
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_NO_MATCH,
    EXIT_USAGE,
    FIXES,
    INTERRUPTED,
    error_message,
    excluded_word,
    internal_error,
    search_command,
    write_failed,
)


def echo(message: str | None = None, *, err: bool = False) -> None:
    """click.echo; a failed write to standard output (a full disk, a device error) is kb.errors.OutputError, which
    the commands report as they report every error, instead of an internal error."""
    try:
        click.echo(message, err=err)
    except OSError as exc:
        write_failed(exc, err=err)


EPILOG = """\b
Examples:
  kb search "who are our partners"        ranked sections with their path:line#anchor and URL
  kb search thunk source:redux --json     one source of several, as JSON
  kb show introduction.md:7#about-us      print what a hit points at
  kb reindex                              bring the index up to date (only changed pages)
  kb search cache --content docs --index /tmp/kb-index

\b
Settings: option > environment (KB_CONTENT, KB_INDEX, KB_CONFIG, ...) > config file (kb.toml, or [tool.kb] in
pyproject.toml, found in this folder or a parent) > default. Shell completion: eval "$(_KB_COMPLETE=bash_source kb)"
(zsh_source, fish_source for other shells). Exit status: 0 results, 1 no match, 2 usage or config error, 3 index
locked."""

SEARCH_EPILOG = """\b
Query syntax:
  word word           every word must match (stemmed: "calls" finds "call")
  "a phrase"          the words side by side
  a OR b              either
  -word, NOT word     leave out sections with the word
  word*               a prefix (at least 2 letters)
  title:word          the word in a page title
  tag:name            pages tagged `name` in their front matter
  page:id             one page, or every page under a folder of ids (page:tutorials)
  path:folder/        pages whose path starts with this
  source:name         pages of one source (several content folders, see kb.toml)

\b
Examples:
  kb search "forward calls"
  kb search '"mobile core"' -n 3
  kb search webhook tag:events --json
  kb search reducer source:redux path:usage/
  kb search thunk --vimgrep               file:line:col: lines for vim's quickfix (:cexpr system(...))"""


class _GlobalOptions:
    """`params` with the global options after the command's own, made the first time anything reads them (only the
    commands a run parses do: a cold `kb search` builds two sets of nine options, not one per command)."""

    _kb_params: list[click.Parameter]

    @property
    def params(self) -> list[click.Parameter]:
        if not self.__dict__.get("_kb_globals", True):
            self.__dict__["_kb_globals"] = True
            self._kb_params.extend(global_options())
        return self._kb_params

    @params.setter
    def params(self, value: list[click.Parameter]) -> None:
        self._kb_params = value
        self.__dict__.setdefault("_kb_globals", False)  # only click's __init__ sets them before they are added


class KbCommand(_GlobalOptions, click.Command):
    """A command that also accepts the global options (--content, --index, --config, ...) after its name.

    Every command made with `@cli.command()` is one (KbGroup.command_class), so commands added later get the
    global options without doing anything. The knowledge base is opened just before the command runs, from the
    options given before and after the command name, the environment and the config file (kb/settings.py).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.short_help = self.short_help or _first_paragraph(self.help)

    def invoke(self, ctx: click.Context) -> Any:
        if self.name != "version":
            from .settings import open_kb

            ctx.obj = open_kb(ctx.meta.get(GIVEN, {}), on_note=_note)
            ctx.call_on_close(ctx.obj.close)  # release searchers (and their hold on old index generations)
        return super().invoke(ctx)


class KbGroup(_GlobalOptions, click.Group):
    command_class = KbCommand
    group_class = type  # sub-groups are KbGroups too, whose commands are KbCommands

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KbError as exc:
            err = click.ClickException(error_message(exc))
            err.exit_code = exc.exit_code  # type: ignore[misc]  # click declares it on the class only
            raise err from None
        except KeyboardInterrupt:
            # A reindex that is interrupted never publishes a half-built generation, so this is always true.
            click.echo(INTERRUPTED, err=True)
            ctx.exit(EXIT_INTERRUPTED)
        except BrokenPipeError:
            sys.stderr.close()
            ctx.exit(0)
        except (click.exceptions.Exit, click.ClickException, click.exceptions.Abort, SystemExit):
            raise
        except Exception as exc:  # noqa: BLE001 - the promise is: no traceback ever reaches a user
            click.echo(internal_error(exc), err=True)
            ctx.exit(EXIT_INTERNAL)


class SearchCommand(KbCommand):
    """`kb search`: a `-word` argument is an excluded word (kb/fastcli.py, excluded_word), marked for click's parser
    with a NUL (which no command-line argument holds) and unmarked by the query's callback."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        takes_value = {o for p in self.params if isinstance(p, click.Option) and not p.is_flag for o in p.opts}
        marked = [f"\0{a}" if excluded_word(a) and (i == 0 or args[i - 1] not in takes_value) else a
                  for i, a in enumerate(args)]
        return super().parse_args(ctx, marked)


def _unmark(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(word.removeprefix("\0") for word in value)


GIVEN = "kb.given"  # ctx.meta key: the global options given on the command line, by name


def _remember(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """Record a global option only when typed on the command line: the environment, the config file and the
    defaults are weighed later, in that order (kb/settings.py), so an option after the command wins over one
    before it only by being typed later."""
    from click.core import ParameterSource

    if param.name and ctx.get_parameter_source(param.name) == ParameterSource.COMMANDLINE:
        ctx.meta.setdefault(GIVEN, {})[param.name] = value
    return value


def global_options() -> list[click.Option]:
    """The options every command accepts, before or after its name (fresh objects: click binds them per command)."""
    from .config import NUMBERS

    path = click.Path(path_type=Path)
    common: dict[str, Any] = {"expose_value": False, "callback": _remember, "is_eager": True}
    return [
        click.Option(["--config"], type=path, metavar="FILE", help="Config file (env KB_CONFIG; default: the "
                     "nearest kb.toml, or pyproject.toml with [tool.kb], in this folder or a parent).", **common),
        click.Option(["--content"], type=path, metavar="DIR",
                     help="Folder of Markdown pages (env KB_CONTENT; config `content`; default: content).", **common),
        click.Option(["--index", "index_dir"], type=path, metavar="DIR",
                     help="Folder for the search index (env KB_INDEX; config `index`; default: index).", **common),
        click.Option(["--base-url"], metavar="URL", help="Where the content folder is published, for each hit's "
                     "URL (env KB_BASE_URL; config `base_url`; default: read from the site's own config).", **common),
        click.Option(["--include-drafts"], is_flag=True, default=None,
                     help="Index pages marked `draft: true` or `unlisted: true` too (env KB_INCLUDE_DRAFTS).",
                     **common),
        click.Option(["--max-file-size"], type=click.FloatRange(*NUMBERS["max_file_size"]), metavar="MB",
                     help="Skip page files larger than this many MB, with a warning (env KB_MAX_FILE_SIZE; "
                     "default: 5).", **common),
        click.Option(["--lock-timeout"], type=click.FloatRange(*NUMBERS["lock_timeout"]), metavar="SECONDS",
                     help="Seconds to wait for another reindex to finish (env KB_LOCK_TIMEOUT; default: 10).",
                     **common),
        click.Option(["--model"], metavar="MODEL", help="Embedding model for semantic search (extra 'semantic'): a "
                     "folder, a name, or 'none' (env KB_MODEL; config `model`; default: all-MiniLM-L6-v2 when "
                     "installed).", **common),
        click.Option(["--dialect"], metavar="NAME", help="How the pages are written: docusaurus, mkdocs, hugo, "
                     "jekyll, obsidian, github, or auto (detected from the site's config or pages; env KB_DIALECT; "
                     "config `dialect`; default: auto).", **common),
    ]


def _first_paragraph(text: str | None) -> str | None:
    """A command's whole first paragraph for `kb --help` (click would cut it mid-sentence)."""
    return " ".join(text.strip().split("\n\n")[0].split()) if text else None


def _note(message: str) -> None:
    from .present import term_safe

    click.echo(f"kb: {term_safe(message)}", err=True)


@click.group(cls=KbGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 120},
             epilog=EPILOG)
@click.version_option(__version__, "-V", "--version", prog_name="kb", message="kb %(version)s")
def cli() -> None:
    """kb: search your Markdown knowledge base, section by section.

    Global options (--config, --content, --index, ...) go before or after the command. Settings come from the
    command line, then the environment, then the config file (kb.toml), then the defaults.
    """


@cli.command(cls=SearchCommand, context_settings={"ignore_unknown_options": True},  # `-routing` excludes a word
             epilog=SEARCH_EPILOG)
@click.argument("query", nargs=-1, required=True, callback=_unmark)
@click.option("--limit", "-n", type=click.IntRange(1, 1000), default=10, show_default=True, help="Hits to show.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (the documented contract).")
@click.option("--no-refresh", is_flag=True, help="Answer from the index as it is; skip the freshness check.")
@click.option("--group", type=click.Choice(["page"]), default=None, help="Best section per page, others beneath.")
@click.option("--vimgrep", is_flag=True,
              help="One `file:line:col: breadcrumb: snippet` line per hit, for editors' quickfix lists.")
@click.option("--passages", is_flag=True, help="One hit per matching passage, not one per section.")
@click.option("--mode", type=click.Choice(["lexical", "semantic", "hybrid"]), default=None,
              help="Words only, meaning only (extra 'semantic'), or both.  [default: hybrid with a model]")
@click.pass_obj
def search(kb: Any, query: tuple[str, ...], limit: int, as_json: bool, no_refresh: bool, group: str | None,
           vimgrep: bool, passages: bool, mode: str | None) -> None:
    """Search the knowledge base and print the best sections: breadcrumb, path:line#anchor, URL and snippet.

    All words must match (sections with only some of them follow when too few have all); see the query
    syntax below.
    """
    search_command(kb, query, limit=limit, as_json=as_json, no_refresh=no_refresh, group=group, vimgrep=vimgrep,
                   passages=passages, mode=mode, echo=echo)


@cli.command(epilog="""\b
Examples:
  kb reindex                      only changed, added and removed pages
  kb reindex --full --json        rebuild from scratch; the report as JSON
  kb reindex --watch              then keep the index in step as pages are saved""")
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
        echo(json.dumps(asdict(report), ensure_ascii=False))
    else:
        for w in report.warnings:
            _note(f"warning: {w}")
        echo(report.summary())
    if watch:
        from .watch import watch as watch_content

        _note(f"watching {', '.join(str(s.path) for s in kb.sources)} for changes; Ctrl-C stops")
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
            if total < 500 or sys.stderr is None or not sys.stderr.isatty():  # None: stderr closed (2>&-)
                return
            self._bar = click.progressbar(length=total, label="indexing", file=sys.stderr)
            self._bar.__enter__()
        self._bar.update(1)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)


@cli.command()
@click.argument("target", metavar="ADDRESS")
@click.option("--json", "as_json", is_flag=True, help="Print the page or section as JSON.")
@click.pass_obj
def show(kb: Any, target: str, as_json: bool) -> None:
    """Print a page, or one section of it, given any address kb prints.

    \b
    TARGET is one of:
      introduction                     a page id
      introduction.md                  a page's path (relative to its source folder)
      introduction.md:7                a path and line: the section holding that line
      introduction.md:7#about-us       what `kb search` prints
      introduction#about-us            a page id and a section anchor
      content/introduction.md:7:1      a file on disk, as --vimgrep prints it
      https://docs.example.com/intro   a published URL kb printed

    \b
    Examples:
      kb show introduction.md:7#about-us
      kb show introduction --json
    """
    from .model import SectionText

    obj: Any = kb.lookup(target)
    sections = [obj] if isinstance(obj, SectionText) else list(obj.sections)
    if as_json:
        echo(json.dumps(asdict(obj), ensure_ascii=False))
        return
    from .present import term_safe

    for s in sections:
        echo(term_safe(f"{' › '.join(s.breadcrumb)}  ({s.path}:{s.line}{'#' + s.anchor if s.anchor else ''})"))
        if s.url:
            echo(term_safe(s.url))
        if s.text:
            echo(term_safe(s.text, keep_newlines=True))
        if s.code:
            echo(term_safe(s.code, keep_newlines=True))
        echo()


@cli.command(epilog="""\b
Examples:
  kb check                        the content folder: pages, sections, leftovers
  kb check website/docs -q        another folder, warnings and totals only""")
@click.argument("content_dir", required=False, type=click.Path(path_type=Path))
@click.option("--quiet", "-q", is_flag=True, help="Print only warnings, leftovers and the totals line.")
@click.option("--json", "as_json", is_flag=True, help="Print pages, sections, warnings and leftovers as JSON.")
@click.pass_obj
def check(kb: Any, content_dir: Path | None, quiet: bool, as_json: bool) -> None:
    """Parse CONTENT_DIR (default: every source) without indexing; list pages, sections and leftover markup.

    Exits 1 when any snippet text, heading or breadcrumb still holds Markdown/MDX/HTML syntax.
    """
    from .check import check_folder, format_report

    forced = kb.settings.dialect if kb.settings.dialect != "auto" else ""
    if content_dir:
        report = check_folder(content_dir, include_drafts=kb.settings.include_drafts,
                              max_file_bytes=kb.settings.max_file_bytes, dialect=forced)
    else:  # every source, globs applied, each in its own dialect
        from .sources import discover_all

        report = check_folder(kb.content_dir, discover_pages=lambda: discover_all(kb.sources),
                              settings=kb.indexer().parse_settings(), dialect=forced)
    if as_json:
        echo(json.dumps({
            "pages": [{"path": p.path, "id": p.id, "title": p.title,
                       "sections": [{"anchor": s.anchor, "heading": s.heading, "breadcrumb": list(s.breadcrumb),
                                     "line": s.line} for s in p.sections]} for p in report.pages],
            "skipped": list(report.skipped),
            "dialect": report.dialect,
            "warnings": [asdict(w) for w in report.problems],
            "leftovers": [asdict(x) for x in report.leftovers],
        }, ensure_ascii=False))
    else:
        for w in report.problems:
            _note(f"warning: {w}")
        for x in report.leftovers:
            _note(f"leftover: {x}")
        from .present import term_safe

        lines = format_report(report, verbose=not quiet)
        echo("\n".join(term_safe(line) for line in lines))
    if report.leftovers:
        sys.exit(1)


def _needs_extra(module: str, extra: str, what: str) -> None:
    """Fail with one line naming the install command when an optional extra is missing."""
    import importlib.util

    if importlib.util.find_spec(module) is None:
        err = click.ClickException(f"{what} needs the optional '{extra}' extra ({module} is not installed): "
                                   f"pip install 'kb-docs-search[{extra}]'")
        err.exit_code = EXIT_USAGE  # type: ignore[misc]
        raise err


@cli.command(epilog="""\b
Examples:
  kb serve                        http://127.0.0.1:8000/ (search page and /api/search)
  kb serve --port 0 --watch       any free port; reindex as pages are saved""")
@click.option("--host", default="127.0.0.1", show_default=True, envvar="KB_HOST",
              help="Address to listen on; anything but loopback exposes the knowledge base to the network.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True, envvar="KB_PORT",
              help="Port to listen on (0 picks a free one and prints it).")
@click.option("--cors-origin", "cors_origins", multiple=True, metavar="ORIGIN",
              help="Allow browser pages from this origin (e.g. https://docs.example.com) to call the API; repeatable.")
@click.option("--watch", is_flag=True, help="Update the index as pages are saved.")
@click.option("--access-log/--no-access-log", default=True, show_default=True, help="Log one line per request.")
@click.option("--workers", default="1", show_default=True, metavar="N|auto", envvar="KB_WORKERS",
              help="Server processes sharing the port and the index (auto: one per core).")
@click.option("--read-only", is_flag=True,
              help="Serve the index as it is (e.g. one from `kb index import`): no content folder, never writes.")
@click.pass_obj
def serve(kb: Any, host: str, port: int, cors_origins: tuple[str, ...], watch: bool, access_log: bool,
          workers: str, read_only: bool) -> None:
    """Serve a read-only JSON API (/api/search, /api/pages/...) and a search page at /."""
    _needs_extra("fastapi", "server", "`kb serve`")
    _needs_extra("uvicorn", "server", "`kb serve`")
    if watch:
        _needs_extra("watchfiles", "server", "`kb serve --watch`")
    from .server import serve as run_server
    from .serving import read_only as read_only_kb
    from .serving import worker_count

    try:
        processes = worker_count(workers)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--workers") from None
    if read_only:
        if watch:
            raise click.UsageError("--read-only serves the index as it is; it cannot --watch the content")
        kb = read_only_kb(kb)
        if kb.store.live() is None:
            _note(f"no index in {kb.index_dir} yet; answering 503 until `kb index import` publishes one")
    else:
        kb.refresh()
    run_server(kb, host=host, port=port, cors_origins=cors_origins, watch=watch, access_log=access_log,
               note=_note, workers=processes)


@cli.group("index", short_help="Ship the index as one file: build once (e.g. in CI), serve anywhere with "
                                "`kb serve --read-only`.")
def index_group() -> None:
    """Ship the index as one file: build once (e.g. in CI), serve anywhere with `kb serve --read-only`."""


@index_group.command("export", epilog="""\b
Examples:
  kb index export site-index.tar.gz       in CI, after `kb reindex`
  kb --index /srv/kb index export /tmp/kb.tar.gz""")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.pass_obj
def index_export(kb: Any, file: Path) -> None:
    """Write the live index generation to FILE (.tar.gz) with a manifest and checksums; no content needed."""
    from .artifact import export_generation

    report = export_generation(kb.store, file)
    echo(f"exported {report.generation} ({report.pages} pages, {report.sections} sections, built "
         f"{report.built}) to {file}: " + (f"{report.bytes / 1048576:.1f} MB" if report.bytes >= 1048576
                                            else f"{report.bytes / 1024:.0f} KB"))


@index_group.command("import", epilog="""\b
Examples:
  kb --index /srv/kb index import site-index.tar.gz     on each replica; then `kb serve --read-only`""")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.pass_obj
def index_import(kb: Any, file: Path) -> None:
    """Verify an archive from `kb index export` and publish it atomically as the live index."""
    from .artifact import import_generation

    report = import_generation(kb.store, file, lock_timeout=kb.lock_timeout, note=_note)
    if not report.published:
        echo(f"{report.generation} from {file} is already the live index; nothing to do")
        return
    echo(f"imported {report.generation} ({report.pages} pages, {report.sections} sections, built "
         f"{report.built}); it is now live, {report.removed} old generation(s) removed")
    if report.kept:
        _note(f"{report.kept} old generation(s) are still open by a running server; "
              "the next import or reindex removes them")


@cli.command("export", epilog="""\b
Examples:
  kb export > passages.ndjson             every passage, one JSON object a line
  kb export -o passages.ndjson            the same, to a file""")
@click.option("--format", "fmt", type=click.Choice(["ndjson"]), default="ndjson", show_default=True,
              help="One JSON object per passage and line (for _bulk loaders and RAG pipelines).")
@click.option("--output", "-o", type=click.Path(path_type=Path, dir_okay=False, allow_dash=True), default="-",
              show_default=True, help="File to write (- is standard output).")
@click.option("--no-refresh", is_flag=True, help="Export the index as it is; skip the freshness check.")
@click.pass_obj
def export(kb: Any, fmt: str, output: Path, no_refresh: bool) -> None:
    """Write every passage with its fields (page, path, title, breadcrumb, anchor, line, text, tags...)."""
    from .export import write_ndjson

    if not no_refresh:
        kb.refresh()
    with click.open_file(str(output), "w", encoding="utf-8", atomic=str(output) != "-") as out:
        count = write_ndjson(kb, out)
    if str(output) != "-":
        _note(f"{count} passages written to {output}")


@cli.command(epilog="""\b
Example (an assistant's MCP configuration):
  {"mcpServers": {"kb": {"command": "/path/to/kb", "args": ["--config", "/path/to/kb.toml", "mcp"]}}}""")
@click.pass_obj
def mcp(kb: Any) -> None:
    """Run an MCP server on stdin/stdout with `search` and `read_section` tools, for AI assistants."""
    _needs_extra("mcp", "mcp", "`kb mcp`")
    from .mcp_server import run as run_mcp

    kb.refresh()
    run_mcp(kb)


@cli.command()
def version() -> None:
    """Print kb's version (the same as `kb -V`)."""
    from . import __version__

    echo(f"kb {__version__}")


def main() -> None:
    from .fastcli import lenient_streams

    lenient_streams()
    try:
        cli(prog_name="kb")
    except KeyboardInterrupt:  # Ctrl-C before a command started (while importing)
        sys.exit(EXIT_INTERRUPTED)
