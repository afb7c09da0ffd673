"""A fake Google: the OAuth token endpoint, Calendar v3 and Gmail v1 (the subsets Hark uses) on
one local HTTP server, speaking the real wire protocol.

Each API is a *part* (``tests/fakes/google_oauth.py``, ``google_calendar.py``,
``google_gmail.py``) with ``handle(request) -> FakeResponse | None``; this module is the server
around them: it parses requests, checks the bearer token the OAuth part issued (401 in Google's
error shape otherwise), applies scripted faults, and records what arrived. Paths are the ones
google-api-python-client sends under an ``api_endpoint`` override: Calendar without its
``calendar/v3/`` prefix (``/calendars/primary/events``, ``/freeBusy``), Gmail with
``/gmail/v1/users/me/...``, OAuth at ``/token``.

Usage::

    with FakeGoogle() as google:
        creds = google.oauth.credentials(scopes=[...])      # a refresh token the fake honours
        google.calendar.add_event(...)
        google.fail("/calendars/", 503, times=2)             # the next two Calendar calls fail
        settings = GoogleSettings(api_endpoint=google.url, token_uri=google.url + "/token")
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any, Protocol, Self
from urllib.parse import parse_qs, urlsplit

from tests.fakes.google_calendar import FakeCalendar
from tests.fakes.google_gmail import FakeGmail
from tests.fakes.google_oauth import FakeOAuth
from tests.support.servers import FakeService, TrackingHTTPServer

STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


@dataclass(frozen=True)
class FakeRequest:
    """One request as a part sees it; ``scopes`` are those of the bearer token (if any)."""

    method: str
    path: str
    query: Mapping[str, list[str]]
    headers: Mapping[str, str]
    body: bytes
    scopes: frozenset[str] = frozenset()

    def json(self) -> Any:
        return json.loads(self.body or b"{}")

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default


@dataclass
class FakeResponse:
    """What a part answers: a JSON-able body (or raw bytes), a status and extra headers."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


def google_error(status: int, reason: str, message: str) -> FakeResponse:
    """An error in the shape Google's JSON APIs send (``error.errors[].reason`` and status)."""
    return FakeResponse(
        status,
        {
            "error": {
                "code": status,
                "message": message,
                "errors": [{"message": message, "domain": "global", "reason": reason}],
                "status": STATUS_NAMES.get(status, "UNKNOWN"),
            }
        },
    )


class Part(Protocol):
    def handle(self, request: FakeRequest) -> FakeResponse | None: ...


@dataclass
class _Fault:
    path_part: str
    status: int
    reason: str
    times: int
    retry_after: float | None


class FakeGoogle(FakeService):
    """The server. ``oauth``, ``calendar`` and ``gmail`` hold each API's state for scripting."""

    def __init__(self) -> None:
        super().__init__()
        self.oauth = FakeOAuth()
        self.calendar = FakeCalendar()
        self.gmail = FakeGmail()
        self.requests: list[tuple[str, str]] = []
        """``(method, path)`` of every request, in order."""
        self._faults: list[_Fault] = []
        self._lock = threading.Lock()

    # --- scripting ------------------------------------------------------------------------

    def fail(
        self,
        path_part: str,
        status: int,
        *,
        reason: str = "backendError",
        times: int = 1,
        retry_after: float | None = None,
    ) -> None:
        """The next ``times`` requests whose path contains ``path_part`` get this error."""
        with self._lock:
            self._faults.append(_Fault(path_part, status, reason, times, retry_after))

    def count(self, method: str, path_part: str) -> int:
        with self._lock:
            return sum(1 for m, p in self.requests if m == method and path_part in p)

    # --- server ---------------------------------------------------------------------------

    _name = "the fake Google server"
    _thread_name = "fake-google"

    def _make_server(self) -> TrackingHTTPServer:
        return TrackingHTTPServer(("127.0.0.1", 0), _handler(self))

    def start(self) -> Self:
        super().start()
        self.oauth.token_uri = self.url + "/token"
        return self

    # --- dispatch -------------------------------------------------------------------------

    def dispatch(self, request: FakeRequest) -> FakeResponse:
        with self._lock:
            self.requests.append((request.method, request.path))
            fault = next((f for f in self._faults if f.path_part in request.path), None)
            if fault is not None:
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.remove(fault)
        if fault is not None:
            response = google_error(fault.status, fault.reason, f"scripted {fault.status}")
            if fault.retry_after is not None:
                response.headers["Retry-After"] = str(fault.retry_after)
            return response
        if request.path == "/token" or request.path.startswith("/revoke"):
            return self.oauth.handle(request) or google_error(404, "notFound", "no such path")
        token = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        scopes = self.oauth.scopes_of(token)
        if scopes is None:
            return google_error(
                401,
                "authError",
                "Request had invalid authentication credentials. Expected OAuth 2 access token.",
            )
        scoped = FakeRequest(
            request.method, request.path, request.query, request.headers, request.body, scopes
        )
        for part in (self.calendar, self.gmail):
            answer = part.handle(scoped)
            if answer is not None:
                return answer
        return google_error(404, "notFound", f"Not Found: {request.method} {request.path}")


def _handler(fake: FakeGoogle) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out separately: don't wait 40 ms

        def setup(self) -> None:
            super().setup()
            self.server.track(self.connection, True)  # type: ignore[attr-defined]

        def finish(self) -> None:
            self.server.track(self.connection, False)  # type: ignore[attr-defined]
            super().finish()

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet."""

        def _serve(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            request = FakeRequest(
                self.command,
                parts.path,
                parse_qs(parts.query, keep_blank_values=True),
                {k.lower(): v for k, v in self.headers.items()},
                body,
            )
            response = fake.dispatch(request)
            if isinstance(response.body, bytes):
                payload = response.body
                ctype = response.headers.pop("Content-Type", "application/octet-stream")
            elif response.body is None:
                payload, ctype = b"", "application/json; charset=UTF-8"
            else:
                payload = json.dumps(response.body).encode()
                ctype = "application/json; charset=UTF-8"
            self.send_response(response.status)
            for name, value in response.headers.items():
                self.send_header(name, value)
            if payload or response.status != 204:
                self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if payload:
                self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    return Handler
