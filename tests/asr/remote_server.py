"""The remote recogniser's scripted test server: :class:`ScriptedTranscriptions`, a tiny
Starlette app that answers the Hark server's transcription route with scripted status codes and
error bodies in the server's documented shape (``app.shared.protocol.error_body``), to drive
the client's error mapping and retries. Run it with :func:`tests.support.servers.serve` (real
uvicorn over real TLS).
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.shared.protocol import TRANSCRIPTIONS_PATH


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
