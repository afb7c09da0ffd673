"""The Ollama API, passed through to the Ollama on this box (which listens on 127.0.0.1 only).

Only the routes in :data:`app.shared.protocol.OLLAMA_PASSTHROUGH` exist (chat, generate, model
listing and details, pull, and the OpenAI-compatible chat and model list); deleting, creating
or pushing models stays private. Requests go upstream without the client's ``Authorization``
(that key is ours, not Ollama's), without hop-by-hop headers and without ``Origin`` (this
server's CORS allow-list has already decided). Answers come back with Ollama's status and
content type, streamed chunk by chunk as Ollama writes them.

Faults:

- Ollama does not accept the connection → 503 ``upstream-unavailable`` with ``Retry-After``;
  while the box is still setting up (see :mod:`remote.server.provisioning`) → 503
  ``provisioning`` instead, and so is a "model not found" from a chat route while the model is
  still being pulled, so that clients can tell "not ready yet" from "down".
- Ollama stops answering or breaks off before its answer starts → 504/502.
- The stream breaks after it started: an NDJSON stream ends with an ``{"error": "..."}`` line
  (Ollama's own shape), an SSE stream with a ``data: {"error": {...}}`` event; a plain JSON
  body is cut (the connection is closed, so the client sees it is incomplete).
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from app.shared.protocol import OLLAMA_PASSTHROUGH, ErrorCode, error_body
from remote.server.auth import KEY_ID_SCOPE
from remote.server.context import ServerContext, context
from remote.server.errors import ApiError
from remote.server.provisioning import read_state

log = logging.getLogger(__name__)

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)
_DROP_REQUEST = HOP_BY_HOP | {
    "host",
    "content-length",
    "authorization",
    "cookie",
    "origin",
    "referer",
    "accept-encoding",
    "expect",
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-real-ip",
}
_DROP_RESPONSE = HOP_BY_HOP | {"content-length", "date", "server", "set-cookie"}
MODEL_ROUTES = frozenset({"/api/chat", "/api/generate", "/v1/chat/completions"})
"""Routes whose 404 means "model not found" (converted to 503 provisioning while pulling)."""
UNAVAILABLE_RETRY_S = 5


def forward_headers(headers: Iterable[tuple[str, str]], drop: Iterable[str]) -> dict[str, str]:
    """``headers`` without ``drop`` and without those the ``Connection`` header names."""
    pairs = list(headers)
    named = {
        token.strip().lower()
        for key, value in pairs
        if key.lower() == "connection"
        for token in value.split(",")
    }
    banned = set(drop) | named
    return {k: v for k, v in pairs if k.lower() not in banned}


def _stream_kind(content_type: str) -> str:
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind in ("application/x-ndjson", "application/ndjson", "application/jsonl"):
        return "ndjson"
    return "sse" if kind == "text/event-stream" else "other"


def _cut_message(exc: httpx.HTTPError) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return "Ollama stopped sending in the middle of its answer (timed out); try again"
    return f"Ollama's answer broke off in the middle ({type(exc).__name__}); try again"


async def _relay(upstream: httpx.Response, path: str) -> AsyncIterator[bytes]:
    """Ollama's bytes as they come; a break becomes an error line in the stream's own shape."""
    kind = _stream_kind(upstream.headers.get("content-type", ""))
    ends_line = True
    try:
        async for chunk in upstream.aiter_raw():
            if chunk:
                ends_line = chunk.endswith(b"\n")
                yield chunk
    except httpx.HTTPError as exc:
        log.warning("Ollama's stream for %s broke off: %s", path, type(exc).__name__)
        message = _cut_message(exc)
        lead = b"" if ends_line else b"\n"
        if kind == "ndjson":
            yield lead + json.dumps({"error": message}).encode() + b"\n"
        elif kind == "sse":
            body = error_body(ErrorCode.UPSTREAM_CUT, message, "server_error")
            yield lead + b"data: " + json.dumps(body).encode() + b"\n\n"
        else:
            raise


class UpstreamResponse(StreamingResponse):
    """Ollama's answer streamed on; the upstream response is closed however the relay ends
    (done, cut, or the client went away), so Ollama stops generating for nobody."""

    def __init__(self, upstream: httpx.Response, path: str) -> None:
        self.upstream = upstream
        self._on_done: Callable[[], None] | None = None
        super().__init__(
            _relay(upstream, path),
            status_code=upstream.status_code,
            headers=forward_headers(upstream.headers.multi_items(), _DROP_RESPONSE),
        )

    def on_done(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once the answer has ended, however it ended."""
        self._on_done = callback

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self.upstream.aclose()
            if self._on_done is not None:
                self._on_done()


def _setting_up_error(ctx: ServerContext, what: str) -> ApiError | None:
    state = read_state(ctx.settings.state_file)
    if state is None or not state.setting_up:
        return None
    retry = ctx.settings.provisioning_retry_after_s
    return ApiError(
        503,
        ErrorCode.PROVISIONING,
        f"the server is still being set up ({state.describe()}): {what}; try again in {retry} s",
        {"Retry-After": str(retry)},
    )


async def passthrough(request: Request) -> Response:
    """Forward this request to Ollama and stream its answer back."""
    ctx = context(request)
    path = request.url.path
    body = await request.body()
    if path == PULL_PATH:
        _check_pull(body, ctx.settings.pull_models)
    chats, key = ctx.chats, str(request.scope.get(KEY_ID_SCOPE, "-"))
    if chats is None or path not in MODEL_ROUTES:
        return await _forward(ctx, request, path, body)
    if not chats.try_acquire(key):
        raise ApiError(
            429,
            ErrorCode.RATE_LIMITED,
            f"this API key already has {chats.limit} replies being written on this server (the "
            "limit for one key, so that the computers sharing it all get their turn); try again "
            "when one has finished",
            {"Retry-After": "1"},
        )
    try:
        response = await _forward(ctx, request, path, body)
    except BaseException:
        chats.release(key)
        raise
    if isinstance(response, UpstreamResponse):
        response.on_done(lambda: chats.release(key))
    else:
        chats.release(key)
    return response


async def _forward(ctx: ServerContext, request: Request, path: str, body: bytes) -> Response:
    """Send the request on to Ollama and hand its answer back as it streams."""
    headers = forward_headers(request.headers.items(), _DROP_REQUEST)
    headers["accept-encoding"] = "identity"  # relayed raw: never let the body be re-encoded
    upstream_request = ctx.http.build_request(
        request.method,
        ctx.settings.ollama_url + path,
        params=request.url.query or None,
        content=body,
        headers=headers,
    )
    try:
        upstream = await ctx.http.send(upstream_request, stream=True)
    except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
        log.warning("Ollama is unreachable for %s: %s", path, type(exc).__name__)
        setting_up = _setting_up_error(ctx, "Ollama is not up yet")
        if setting_up is not None:
            raise setting_up from exc
        raise ApiError(
            503,
            ErrorCode.UPSTREAM_DOWN,
            "Ollama (the language model service on the server) is not reachable; it may be "
            f"restarting. Try again in {UNAVAILABLE_RETRY_S} s; if it persists, check the "
            "server's /status",
            {"Retry-After": str(UNAVAILABLE_RETRY_S)},
        ) from exc
    except httpx.TimeoutException as exc:
        raise ApiError(
            504,
            ErrorCode.UPSTREAM_DOWN,
            f"Ollama did not answer within {ctx.settings.ollama_timeout_s:g} s; try again",
        ) from exc
    except httpx.HTTPError as exc:
        raise ApiError(
            502,
            ErrorCode.UPSTREAM_DOWN,
            f"Ollama's answer broke off before it began ({type(exc).__name__}); try again",
        ) from exc
    if upstream.status_code == 404 and path in MODEL_ROUTES:
        setting_up = _setting_up_error(ctx, "the model is still being downloaded")
        if setting_up is not None:
            await upstream.aclose()
            raise setting_up
    return UpstreamResponse(upstream, path)


PULL_PATH = "/api/pull"


def _check_pull(body: bytes, allowed: list[str]) -> None:
    """Only the models ``pull_models`` names may be pulled; Ollama's own errors for the rest
    (a bad body) come from Ollama."""
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        return
    model = data.get("model") or data.get("name") if isinstance(data, dict) else None
    if not isinstance(model, str):
        return
    if model in allowed or (":" not in model and f"{model}:latest" in allowed):
        return
    names = ", ".join(allowed) if allowed else "none"
    raise ApiError(
        403,
        ErrorCode.PULL_REFUSED,
        f"this server does not download {model} on request (it may pull: {names}); the "
        "server's owner allows models with HARK_SERVER__PULL_MODELS",
    )


_JSON_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
}


def add_routes(app: FastAPI) -> None:
    """Add one passthrough route per entry of ``OLLAMA_PASSTHROUGH`` to ``app``."""
    for method, path in OLLAMA_PASSTHROUGH:
        app.add_api_route(
            path,
            passthrough,
            methods=[method],
            name=f"ollama {method} {path}",
            summary=f"Ollama {path} (passed through)",
            openapi_extra=_JSON_BODY if method == "POST" else None,
            response_class=Response,
            responses={
                401: {"description": "No or wrong API key"},
                503: {"description": "Ollama unreachable (`upstream-unavailable`) or setting up"},
            },
        )
