"""``create_app``: the Hark server as one FastAPI application, ready for uvicorn.

Run it (``hark server`` does this, with Caddy in front for TLS)::

    from remote.server.app import create_app
    from remote.server.settings import ServerSettings

    app = create_app(ServerSettings())       # reads HARK_SERVER__* from the environment
    uvicorn.run(app, host="127.0.0.1", port=8080, access_log=False)

(uvicorn's own access log would repeat each request with its query string; this app writes
its own line without secrets, so turn uvicorn's off.)

Layers, outermost first: the access log (``remote.server.access``: method, path, status,
duration, key fingerprint; never a query string, header or body), CORS (only when
``cors_origins`` is set), authentication and the per-key rate limit (every path but
``/healthz``, before routing, so unknown paths answer 401 without a key and 404 with one),
the body limit (413/415), then the routes. Every error body has the shape of
:func:`app.shared.protocol.error_body`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from urllib.parse import quote, urlsplit, urlunsplit

import httpx
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app import __version__
from app.shared.protocol import STATUS_PATH, TRANSCRIPTIONS_PATH, ErrorCode, error_body
from remote.server.auth import KEY_ID_SCOPE, ApiKeys, AuthMiddleware, client_address
from remote.server.context import ServerContext
from remote.server.errors import ApiError, error_kind
from remote.server.health import OllamaHealth
from remote.server.idle import Activity, IdleStop, StopSelf, vast_self_stop
from remote.server.limits import (
    BodyLimitMiddleware,
    PerKeyLimit,
    RateLimiter,
    TranscriptionQueue,
)
from remote.server.routes import code as code_routes
from remote.server.routes import ollama as ollama_routes
from remote.server.routes import status as status_routes
from remote.server.routes import transcriptions as transcription_routes
from remote.server.settings import ServerSettings
from remote.server.whisper import IdleUnloader, TranscriptionEngine, WhisperEngine

log = logging.getLogger(__name__)
access_log = logging.getLogger("remote.server.access")

_CODES = {404: ErrorCode.NOT_FOUND, 405: ErrorCode.METHOD_NOT_ALLOWED}


class AccessLogMiddleware:
    """One log line per request: client address, method, path, status, duration and key
    fingerprint."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0

        async def logged_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, logged_send)
        finally:
            access_log.info(
                "%s %s %s %s %.1f ms key=%s",
                client_address(scope),
                scope["method"],
                quote(scope["path"][:200], safe="/:@-._~!$&'()*+,;="),
                status or "-",
                (time.perf_counter() - started) * 1000,
                scope.get(KEY_ID_SCOPE, "-"),
            )


async def _api_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return Response(exc.body(), exc.status, exc.headers, media_type="application/json")


async def _http_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code = _CODES.get(exc.status_code, ErrorCode.BAD_REQUEST.value)
    message = "no such route on the Hark server" if exc.status_code == 404 else str(exc.detail)
    return JSONResponse(
        error_body(code, message, error_kind(exc.status_code)),
        status_code=exc.status_code,
        headers=dict(exc.headers or {}),
    )


async def _validation_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    problems = []
    for err in exc.errors()[:5]:
        where = ".".join(str(part) for part in err.get("loc", ()) if part != "body")
        problems.append(f"{where or 'body'}: {err.get('msg', 'invalid')}")
    return JSONResponse(
        error_body(ErrorCode.BAD_REQUEST, "invalid request: " + "; ".join(problems)),
        status_code=400,
    )


async def _unexpected(_request: Request, exc: Exception) -> Response:
    log.error("unexpected %s while serving a request", type(exc).__name__, exc_info=exc)
    return JSONResponse(
        error_body(
            ErrorCode.INTERNAL,
            f"the server failed unexpectedly ({type(exc).__name__}); see its log",
            "server_error",
        ),
        status_code=500,
    )


def _lifespan(
    ctx: ServerContext, owns_http: bool
) -> Callable[[FastAPI], contextlib.AbstractAsyncContextManager[None]]:
    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        tasks: list[asyncio.Task[None]] = []
        if ctx.unloader is not None:
            tasks.append(asyncio.create_task(ctx.unloader.run(), name="whisper-idle-unload"))
        if ctx.idle_stop is not None:
            tasks.append(asyncio.create_task(ctx.idle_stop.run(), name="idle-stop"))
        if ctx.settings.whisper_preload:
            ctx.preloading = True
            tasks.append(asyncio.create_task(_preload(ctx), name="whisper-preload"))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if owns_http:
                await ctx.http.aclose()
            if ctx.health is not None:
                await ctx.health.aclose()

    return lifespan


async def _preload(ctx: ServerContext) -> None:
    try:
        await ctx.engine.load()
    except Exception as exc:  # the state and detail of the engine already say why
        log.warning("Whisper preload failed: %s", exc)
    finally:
        ctx.preloading = False


def _without_userinfo(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port is not None else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _idle_stop(
    settings: ServerSettings, activity: Activity, started_at: float, stop_self: StopSelf | None
) -> IdleStop | None:
    if settings.idle_stop_minutes <= 0:
        return None
    stop = stop_self or vast_self_stop(settings)
    if stop is None:
        log.warning(
            "idle stop is on but this is not a Vast.ai instance (no CONTAINER_ID and "
            "CONTAINER_API_KEY): it stays running"
        )
        return None
    log.info("idle stop: after %g min without requests", settings.idle_stop_minutes)
    return IdleStop(activity, settings.idle_stop_minutes * 60, stop, started_at=started_at)


def create_app(
    settings: ServerSettings,
    *,
    engine: TranscriptionEngine | None = None,
    http: httpx.AsyncClient | None = None,
    clock: Callable[[], float] = time.monotonic,
    stop_self: StopSelf | None = None,
) -> FastAPI:
    """The Hark server app. Raises :class:`~remote.server.settings.ServerConfigError` when it
    must not run (no API key, a key file others can read).

    ``engine`` defaults to :class:`~remote.server.whisper.WhisperEngine`; ``http`` (the client
    for Ollama) to one the app owns and closes; ``clock`` (monotonic seconds) drives the rate
    limit, the idle unload, uptime and activity — tests pass their own.
    """
    keys = ApiKeys.from_settings(settings)
    engine = engine if engine is not None else WhisperEngine(settings, clock=clock)
    owns_http = http is None
    if http is None:
        http = httpx.AsyncClient(
            timeout=httpx.Timeout(
                settings.ollama_timeout_s, connect=settings.ollama_connect_timeout_s
            ),
            limits=httpx.Limits(max_connections=256, max_keepalive_connections=32),
            follow_redirects=False,
            trust_env=False,
        )
    activity = Activity(clock)
    idle_s = settings.whisper_idle_unload_s
    ctx = ServerContext(
        settings=settings,
        engine=engine,
        queue=TranscriptionQueue(settings.whisper_concurrency, settings.max_queue),
        http=http,
        clock=clock,
        started_at=clock(),
        activity=activity,
        unloader=IdleUnloader(engine, idle_s) if idle_s > 0 else None,
    )
    ctx.idle_stop = _idle_stop(settings, activity, clock(), stop_self)
    # Its own client when the app owns its Ollama client; a test's injected client otherwise.
    ctx.health = OllamaHealth(settings.ollama_url, clock, None if owns_http else http)
    ctx.chats = PerKeyLimit(settings.chats_per_key) if settings.chats_per_key > 0 else None
    app = FastAPI(
        title="Hark server",
        version=__version__,
        summary="Whisper transcription and the Ollama API behind one API key",
        lifespan=_lifespan(ctx, owns_http),
        docs_url=None,
        redoc_url=None,
        redirect_slashes=False,
    )
    app.state.hark = ctx
    status_routes.add_routes(app)
    transcription_routes.add_routes(app)
    ollama_routes.add_routes(app)
    code_routes.add_routes(app)
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected)

    def on_authorized(path: str) -> None:
        if path != STATUS_PATH:
            activity.touch()

    limiter = (
        RateLimiter(settings.rate_limit_per_minute, clock)
        if settings.rate_limit_per_minute > 0
        else None
    )
    # add_middleware puts each new layer outside the ones before it.
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.max_upload_bytes,
        multipart_paths=[TRANSCRIPTIONS_PATH],
    )
    failures = (
        RateLimiter(settings.failed_auth_per_minute, clock)
        if settings.failed_auth_per_minute > 0
        else None
    )
    app.add_middleware(
        AuthMiddleware,
        keys=keys,
        limiter=limiter,
        on_authorized=on_authorized,
        failures=failures,
    )
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
            expose_headers=["Retry-After"],
            max_age=600,
        )
    if settings.access_log:
        app.add_middleware(AccessLogMiddleware)
    log.info(
        "Hark server %s: %d API key(s), Ollama at %s, Whisper %s",
        __version__,
        len(keys),
        _without_userinfo(settings.ollama_url),
        settings.whisper_model,
    )
    return app
