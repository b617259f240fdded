"""`kb serve`: a read-only HTTP JSON API and a search page over one KnowledgeBase.

FastAPI is used for its typed query validation (422 with a JSON body) and the OpenAPI description it derives from
the handlers; Uvicorn runs it. Handlers are plain `def`s, so Starlette runs them in its worker-thread pool: every
worker thread gets its own Whoosh searcher from `KnowledgeBase` (searchers are per thread there), and each one is
reopened when a reindex publishes a new generation or commits an incremental update.

Nothing from a request is ever used as a file path: pages and sections are looked up in the index's stored
fields, and the search page's assets are served from a fixed table of names.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import asdict
from importlib import resources
from typing import Any, Literal

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from . import __version__
from .api import KnowledgeBase
from .errors import ContentError, IndexLocked, IndexUnusable, KbError, ModelError, NotFound, QueryError, ServeError
from .limits import MAX_LIMIT_HTTP, MAX_QUERY_CHARS
from .model import PageText, SearchResult, SectionText
from .serving import GENERATION_HEADER, generation_fields, one_generation

MAX_LIMIT = MAX_LIMIT_HTTP
# How to fix a library error (KbError.fix), in the API's terms.
FIXES = {"search": "/api/search finds pages by words", "show": "/api/pages/{page} lists its sections",
         "reindex": "it is being built or `kb reindex` has not run",
         "import": "publish one with `kb index import FILE`", "url": "/api/search gives each hit's URL"}
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})

# The search page: name -> (package file, media type). Requests name an entry here, never a file.
ASSETS: dict[str, tuple[str, str]] = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/static/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/static/app.css": ("app.css", "text/css; charset=utf-8"),
}

SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy",
     b"default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
     b"base-uri 'none'; form-action 'self'; frame-ancestors 'none'"),
]


# -- response models for the OpenAPI description: the result dataclasses themselves, plus these two -------------

class HealthOut(BaseModel):
    status: str
    version: str
    pages: int
    sections: int
    generation: str
    built: str
    reason: str | None = None  # with status "stale": why the index does not follow the pages
    age: float | None = None  # with status "stale": seconds since it stopped following them


class ErrorOut(BaseModel):
    error: str
    status: int


def _error(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, "status": status, **extra}, status_code=status)


ERRORS: dict[int | str, dict[str, Any]] = {404: {"model": ErrorOut, "description": "No such page or section"},
          422: {"model": ErrorOut, "description": "A parameter outside its documented limits"},
          503: {"model": ErrorOut, "description": "The index is missing or being rebuilt"}}


def create_app(kb: KnowledgeBase, *, cors_origins: Sequence[str] = (), allowed_hosts: Sequence[str] | None = None,
               lifespan: Callable[[FastAPI], Any] | None = None, watch_status: Any = None) -> FastAPI:
    """The ASGI app. `allowed_hosts` (None = any) guards a loopback server against DNS rebinding."""
    app = FastAPI(
        title="kb", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
        description=("Read-only search over a Markdown knowledge base. `/api/search` returns the same JSON as "
                     "`kb search --json`."),
    )

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(422, _validation_message(exc.errors()))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = "not found" if exc.status_code == 404 else str(exc.detail)
        return _error(exc.status_code, message)

    @app.exception_handler(KbError)
    async def _kb(_request: Request, exc: KbError) -> JSONResponse:
        message = str(exc) + (f"; {FIXES[exc.fix]}" if exc.fix in FIXES else "")
        if isinstance(exc, NotFound):
            return _error(404, message)
        if isinstance(exc, (QueryError, ModelError)):  # ModelError: a mode this server's install cannot serve
            return _error(422, message)
        if isinstance(exc, (IndexLocked, IndexUnusable, ContentError)):
            return _error(503, message)
        return _error(500, message)

    @app.exception_handler(Exception)
    async def _crash(_request: Request, _exc: Exception) -> JSONResponse:
        return _error(500, "internal error; the server log has the details")

    @app.get("/api/search", response_model=SearchResult, responses=ERRORS, tags=["search"])
    @one_generation(kb)
    def search(
        q: str = Query(..., min_length=1, max_length=MAX_QUERY_CHARS,
                       description=f"The query, as for `kb search` (at most {MAX_QUERY_CHARS} characters)."),
        limit: int = Query(10, ge=1, le=MAX_LIMIT, description=f"Hits to return, 1..{MAX_LIMIT}."),
        group: Literal["page"] | None = Query(None, description="`page`: best section per page, others nested "
                                                                 "under it (as `kb search --group page`)."),
        passages: bool = Query(False, description="One hit per matching passage (as `kb search --passages`)."),
        mode: Literal["lexical", "semantic", "hybrid"] | None = Query(
            None, description="As `kb search --mode`; default hybrid when the semantic extra and a model are there."),
    ) -> Response:
        """Ranked sections for a query: the JSON contract of `kb search --json`."""
        return _json(asdict(kb.search(q, limit=limit, group=group, passages=passages, mode=mode)))

    @app.get("/api/pages/{page:path}/sections/{anchor:path}", response_model=SectionText, responses=ERRORS,
             tags=["pages"])
    @one_generation(kb)
    def section(page: str, anchor: str) -> Response:
        """One section's full text; the anchor is empty for the text before a page's first heading."""
        return _json(asdict(_lookup(kb, f"{page}/sections/{anchor}")))

    @app.get("/api/documents/{page:path}", responses=ERRORS, tags=["pages"])
    def document(page: str) -> Response:
        """A whole page as blocks (headings with anchors, paragraphs, lists, code, tables, links) for a reader."""
        from .reader import page_document

        return _json(page_document(kb, page))

    @app.get("/api/pages/{page:path}", response_model=PageText, responses=ERRORS, tags=["pages"])
    @one_generation(kb)
    def page(page: str) -> Response:
        """A whole page by id or path, section by section."""
        return _json(asdict(_lookup(kb, page)))

    @app.get("/api/health", response_model=HealthOut, responses={503: ERRORS[503]}, tags=["health"])
    def health() -> Response:
        """Whether an index is live, its size, and which generation (id, build time) is live."""
        gen = kb.store.live()
        manifest = kb.store.manifest(gen) if gen is not None else None
        if gen is None or manifest is None:
            return _error(503, "no index yet; it is being built, or `kb reindex` (or `kb index import`) has not run")
        pages, sections = manifest.size()
        out: dict[str, Any] = {"status": "ok", "version": __version__, "pages": pages, "sections": sections,
                               **generation_fields(gen)}
        if watch_status is not None and watch_status.reason is not None:
            out.update(status="stale", reason=watch_status.reason, age=watch_status.age())
        response = _json(out)
        response.headers[GENERATION_HEADER] = gen.name
        return response

    for route, (name, media_type) in ASSETS.items():
        app.add_api_route(route, _asset(name, media_type), methods=["GET"], include_in_schema=False)

    if cors_origins:
        from starlette.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(cors_origins), allow_methods=["GET"],
                           allow_headers=[], max_age=600)
    app.add_middleware(GuardMiddleware, allowed_hosts=allowed_hosts)
    return app


def _lookup(kb: KnowledgeBase, rest: str) -> PageText | SectionText:
    """What `/api/pages/<rest>` names: a page, or `<page>/sections/<anchor>`, whatever folders the page id has.

    A page id may itself hold a `sections` folder (`guide/sections/intro`), so every `/sections/` in the path is
    tried as the split, the last first; a path that names no section of an existing page is tried as a page.
    """
    marker = "/sections/"
    splits = []
    at = rest.rfind(marker)
    while at >= 0:
        splits.append((rest[:at], rest[at + len(marker):]))
        at = rest.rfind(marker, 0, at)
    no_section: NotFound | None = None
    for page_id, anchor in splits:
        try:
            kb.resolve_page(page_id)
        except NotFound:
            continue
        try:
            return kb.section(page_id, anchor)
        except NotFound as exc:
            no_section = no_section or exc  # that page exists but has no such section
    try:
        return kb.page(rest)
    except NotFound as exc:
        raise (no_section or exc) from None


def _json(data: Any) -> Response:
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return Response(body, media_type="application/json")


def _validation_message(errors: Sequence[Any]) -> str:
    """One line naming the parameter and its limits, e.g. `limit: must be between 1 and 100`."""
    parts = []
    for err in errors:
        loc = err.get("loc", ())
        name = str(loc[-1]) if loc else "request"
        kind = err.get("type", "")
        if name == "q" and kind == "string_too_long":
            text = f"must be at most {MAX_QUERY_CHARS} characters"
        elif name == "limit" and kind in ("greater_than_equal", "less_than_equal", "int_parsing"):
            text = f"must be a whole number between 1 and {MAX_LIMIT}"
        elif kind == "missing":
            text = "is required"
        elif kind == "string_too_short":
            text = "must not be empty"
        else:
            text = str(err.get("msg", "is not valid")).rstrip(".")
        parts.append(f"{name}: {text}")
    return "; ".join(parts) or "invalid request"


def _asset(name: str, media_type: str) -> Callable[[], Awaitable[Response]]:
    body = (resources.files("kb") / "static" / name).read_bytes()

    async def serve_asset() -> Response:
        return Response(body, media_type=media_type, headers={"cache-control": "no-cache"})

    return serve_asset


class GuardMiddleware:
    """Adds security headers to every response and rejects Host headers outside `allowed_hosts`.

    A pure ASGI middleware (not BaseHTTPMiddleware) so it adds no task or buffering per request.
    """

    def __init__(self, app: Any, *, allowed_hosts: Sequence[str] | None) -> None:
        self.app = app
        self.allowed = None if allowed_hosts is None else frozenset(h.lower() for h in allowed_hosts)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.allowed is not None:
            host = _host_name(dict(scope["headers"]).get(b"host", b"").decode("latin-1"))
            if host not in self.allowed:
                response = _error(421, "this server answers only to the host names it is bound to; "
                                       "start it with --host to serve others")
                await response(scope, receive, send)
                return

        head = scope.get("method") == "HEAD"
        if head:  # HEAD answers wherever GET does (uptime probes): the GET response, headers only
            scope = {**scope, "method": "GET"}

        async def send_with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + SECURITY_HEADERS
            elif head and message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _host_name(host: str) -> str:
    host = host.strip().lower()
    if host.startswith("["):
        return host[: host.find("]") + 1] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


# -- running -------------------------------------------------------------------------------------------------

def bind(host: str, port: int) -> socket.socket:
    """Bind before starting Uvicorn so a busy port is a one-line error and port 0 can pick a free one."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror:
        raise ServeError(f"cannot resolve --host {host!r}; pass an address such as 127.0.0.1") from None
    family, kind, proto, _name, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise ServeError(f"cannot listen on {host}:{port} ({exc.strerror}); pass another --port") from None
    sock.listen(2048)
    return sock


def is_loopback(host: str) -> bool:
    import ipaddress

    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def serve(kb: KnowledgeBase, *, host: str = "127.0.0.1", port: int = 8000, cors_origins: Sequence[str] = (),
          watch: bool = False, access_log: bool = True, note: Callable[[str], None] = print,
          workers: int = 1) -> None:
    """Run the server until interrupted; with `watch`, a background thread keeps the index in step.

    With `workers` > 1, that many forked processes listen on the port (see kb/workers.py); the watcher then runs
    once, in the parent.
    """
    import uvicorn

    sock = bind(host, port)
    bound_port = sock.getsockname()[1]
    allowed = None
    if is_loopback(host):
        allowed = sorted(LOOPBACK_NAMES | {host.lower()})
    stop = threading.Event()
    from .watch import SharedWatchStatus, WatchStatus

    # with workers, the watcher runs in the parent and each worker answers /api/health: shared memory between them
    status = (SharedWatchStatus() if workers > 1 else WatchStatus()) if watch else None

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        watcher = None
        if watch and workers == 1:
            from .watch import watch_in_thread

            watcher = watch_in_thread(kb, stop=stop, note=note, status=status)
        try:
            yield
        finally:
            stop.set()
            if watcher is not None:
                watcher.join(timeout=5)

    app = create_app(kb, cors_origins=cors_origins, allowed_hosts=allowed, lifespan=lifespan, watch_status=status)
    config = uvicorn.Config(app, log_level="info" if access_log else "warning", access_log=access_log,
                            server_header=False, timeout_graceful_shutdown=5, lifespan="on")
    shown = f"[{host}]" if ":" in host else host
    note(f"serving http://{shown}:{bound_port}/ (API at /api, OpenAPI at /openapi.json); Ctrl-C stops")
    try:
        if workers > 1:
            from .workers import run_forked

            kb.close()  # nothing open crosses the fork: each worker opens its own searchers
            run_forked(lambda own: uvicorn.Server(config).run(sockets=[own]), workers, bound=sock, note=note,
                       parent_work=_watcher(kb, note, status) if watch else None)
        else:
            uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()


def _watcher(kb: KnowledgeBase, note: Callable[[str], None], status: Any) -> Callable[[threading.Event], None]:
    def run(stop: threading.Event) -> None:
        from .watch import watch as watch_content

        watch_content(kb, stop=stop, note=note, status=status)

    return run
