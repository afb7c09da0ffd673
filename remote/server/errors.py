"""The server's error answers: one exception for routes, one ASGI writer for middleware.

Every error the server itself produces has the OpenAI shape of
:func:`app.shared.protocol.error_body` (``{"error": {"message", "type", "code"}}``) with a stable
code from :class:`app.shared.protocol.ErrorCode`, so both the OpenAI client and Hark's own client
read it. Only a stream that breaks after it started speaks Ollama's shape (``{"error": "..."}``),
because its status line has already gone out.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from starlette.types import Send

from app.shared.protocol import ErrorCode, error_body

_KINDS = {
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
}


def error_kind(status: int) -> str:
    """The OpenAI ``type`` for a status (``invalid_request_error`` for other 4xx)."""
    if status in _KINDS:
        return _KINDS[status]
    return "server_error" if status >= 500 else "invalid_request_error"


class ApiError(Exception):
    """An answer other than success, raised by a route and rendered by the app's handler."""

    def __init__(
        self,
        status: int,
        code: ErrorCode | str,
        message: str,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = str(code)
        self.message = message
        self.headers = dict(headers or {})

    def body(self) -> bytes:
        """The JSON body."""
        return json.dumps(error_body(self.code, self.message, error_kind(self.status))).encode()


async def send_error(send: Send, error: ApiError) -> None:
    """Write ``error`` as a complete response through a raw ASGI ``send`` (for middleware)."""
    body = error.body()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in error.headers.items()),
    ]
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})
