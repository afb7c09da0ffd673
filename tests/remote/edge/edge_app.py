"""A tiny ASGI app that stands in for the Hark server behind the edge (Caddy + uvicorn).

It answers ``/healthz``, streams NDJSON held back by a gate (``/stream``), counts uploaded
bytes (``/upload``), reports the client address it sees (``/client``) and records the request
headers, so the edge tests can check what Caddy passes on and how it flushes.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

Scope = dict[str, Any]


class EdgeApp:
    """The stand-in app; ``gate`` releases the second line of ``/stream``, and ``held`` counts
    the ``/stream`` answers waiting at it now (first line sent, the response still open)."""

    def __init__(self, *, fail_startup: bool = False, health_status: int = 200) -> None:
        self.fail_startup = fail_startup
        self.health_status = health_status
        self.gate = asyncio.Event()
        self.first_sent = asyncio.Event()
        self.held = 0
        self.headers: list[dict[str, str]] = []

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        self.headers.append(headers)
        path = scope["path"]
        if path == "/healthz":
            await _respond(send, self.health_status, b"ok")
        elif path == "/stream":
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", b"application/x-ndjson")],
                }
            )
            await send({"type": "http.response.body", "body": b'{"n": 1}\n', "more_body": True})
            self.first_sent.set()
            self.held += 1
            try:
                await self.gate.wait()
            finally:
                self.held -= 1
            await send({"type": "http.response.body", "body": b'{"n": 2, "done": true}\n'})
        elif path == "/upload":
            size = 0
            while True:
                message = await receive()
                size += len(message.get("body", b""))
                if not message.get("more_body"):
                    break
            await _respond(send, 200, json.dumps({"bytes": size}).encode())
        elif path == "/client":
            await _respond(send, 200, json.dumps({"host": scope["client"][0]}).encode())
        else:
            await _respond(send, 404, b"not found")

    async def _lifespan(self, receive: Any, send: Any) -> None:
        await receive()  # lifespan.startup
        if self.fail_startup:
            await send({"type": "lifespan.startup.failed", "message": "the stand-in refuses"})
            return
        await send({"type": "lifespan.startup.complete"})
        await receive()  # lifespan.shutdown
        await send({"type": "lifespan.shutdown.complete"})


async def _respond(send: Any, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
