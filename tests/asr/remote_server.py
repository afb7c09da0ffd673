"""Serving an ASGI app with real uvicorn over real TLS on 127.0.0.1, in a thread, for tests.

The listening socket is bound (port 0) and put in listen mode *before* uvicorn starts, so the
port is known at once and a client that connects early simply waits in the kernel's backlog
until uvicorn accepts: no test has to poll or sleep for the server to come up.

Also here: :class:`ScriptedTranscriptions`, a tiny Starlette app that answers the Hark server's
transcription route with scripted status codes and error bodies in the server's documented
shape (``remote.protocol.error_body``), to drive the client's error mapping and retries.
"""

from __future__ import annotations

import socket
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from remote.protocol import TRANSCRIPTIONS_PATH


def listening_socket() -> socket.socket:
    """A TCP socket on 127.0.0.1 with a free port, already listening."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    return sock


@contextmanager
def closed_port() -> Iterator[int]:
    """A port on 127.0.0.1 that refuses connections (bound, never listening) while in use."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    try:
        yield int(sock.getsockname()[1])
    finally:
        sock.close()


@contextmanager
def serve(app: Any, cert: Path | None = None, key: Path | None = None) -> Iterator[str]:
    """Run ``app`` under uvicorn (TLS when ``cert``/``key`` are given); yields the base URL.

    On exit uvicorn is asked to stop and its thread is joined.
    """
    sock = listening_socket()
    port = int(sock.getsockname()[1])
    config = uvicorn.Config(
        app,
        ssl_certfile=str(cert) if cert else None,
        ssl_keyfile=str(key) if key else None,
        log_level="warning",
        lifespan="auto",
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    failed: list[BaseException] = []

    def run() -> None:
        try:
            server.run(sockets=[sock])
        except BaseException as exc:  # reported to the test below, never swallowed
            failed.append(exc)

    thread = threading.Thread(target=run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    scheme = "https" if cert else "http"
    try:
        yield f"{scheme}://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()
        assert not thread.is_alive(), "uvicorn did not stop"
    if failed:
        raise RuntimeError("uvicorn failed") from failed[0]


@dataclass
class Scripted:
    """One scripted answer: status, JSON body and headers."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Received:
    """What the scripted server got: auth header, form fields and the uploaded file."""

    authorization: str | None
    fields: dict[str, str]
    filename: str | None
    content_type: str | None
    audio: bytes


class ScriptedTranscriptions:
    """The transcription route answering from a script (then ``{"text": default_text}``)."""

    def __init__(self, default_text: str = "hello there") -> None:
        self.default_text = default_text
        self.script: deque[Scripted] = deque()
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self.app = Starlette(routes=[Route(TRANSCRIPTIONS_PATH, self._handle, methods=["POST"])])

    def reset(self) -> None:
        """Forget the script and what was received (the server keeps running)."""
        with self._lock:
            self.script.clear()
            self.received.clear()

    def answer(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        with self._lock:
            self.script.append(Scripted(status, body, headers or {}))

    async def _handle(self, request: Request) -> Response:
        form = await request.form()
        upload = form.get("file")
        audio = b""
        filename = content_type = None
        if upload is not None and not isinstance(upload, str):
            audio = await upload.read()
            filename, content_type = upload.filename, upload.content_type
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        with self._lock:
            self.received.append(
                Received(
                    request.headers.get("authorization"), fields, filename, content_type, audio
                )
            )
            turn = self.script.popleft() if self.script else None
        if turn is None:
            return JSONResponse({"text": self.default_text, "language": "en", "segments": []})
        return JSONResponse(turn.body, status_code=turn.status, headers=turn.headers)
