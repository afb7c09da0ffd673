"""A local stand-in for the ElevenLabs text-to-speech API, speaking its real wire protocol.

``POST /v1/text-to-speech/{voice_id}/stream?output_format=pcm_16000`` with the ``xi-api-key``
header and a JSON body ``{"text", "model_id", ...}`` answers raw little-endian int16 PCM,
streamed with chunked transfer encoding in several pieces (``chunk_bytes`` each, optionally
``chunk_delay_s`` apart, the first after ``first_chunk_delay_s``). ``POST
/v1/text-to-speech/{voice_id}`` answers the same audio in one body. Only the ``pcm_*`` output
formats are served (the service's default is MP3, so a request without ``output_format`` gets
a 422 here rather than audio Hark could not play). The WebSocket input API
(``GET …/{voice_id}/stream-input``, upgraded on the same port) is
:mod:`tests.fakes.elevenlabs_ws`; ``ssl_context`` serves both over TLS.

Errors use the service's shapes: 401 ``{"detail": {"status": "invalid_api_key", ...}}``, 429
with ``Retry-After`` and ``too_many_concurrent_requests``, ``quota_exceeded`` bodies, 422 with
a validation ``detail`` list for a bad body, 404 ``voice_not_found``. The contract tests
(``tests/tts/test_elevenlabs_contract.py``, ``…_ws_contract.py``) drive the fake with the
official SDK so it cannot drift from what the SDK sends and expects.

The audio is deterministic: a 440 Hz tone, ``ms_per_char`` milliseconds per character of text,
so a test can compute exactly what it should hear (:meth:`FakeElevenLabs.pcm_for`).

Usage (pipeline tests and benchmarks can do the same; the delays simulate latency)::

    with FakeElevenLabs() as fake:          # accepts DEFAULT_KEY; change fake.valid_keys
        voice = ElevenLabsVoice(ElevenLabsSettings(base_url=fake.url), DEFAULT_KEY)
        fake.fail_next(429)                 # the next request gets a 429
        resume = fake.hold_after_first_chunk()   # next stream pauses after its first chunk
        fake.requests[-1].body["text"]      # what was asked for (the key is never recorded)
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import socket
import ssl
import threading
from collections.abc import Iterable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fakes.elevenlabs_wire import (
    DEFAULT_KEY,
    INVALID_KEY_BODY,
    PCM_RATES,
    QUOTA_BODY,
    RATE_LIMIT_BODY,
    SERVER_ERROR_BODY,
    RecordedRequest,
    ScriptedFailure,
    tone_pcm,
    validate_body,
)
from tests.fakes.elevenlabs_ws import serve_upgrade
from tests.support.servers import FakeService

log = logging.getLogger(__name__)

_PATH = re.compile(r"^/v1/text-to-speech/(?P<voice>[^/]+)(?P<stream>/stream)?$")


class FakeElevenLabs(FakeService):
    """The fake server; start it with ``with`` (or :meth:`start` / :meth:`stop`).

    Attributes a test may change at any time: ``valid_keys``, ``chunk_bytes``,
    ``chunk_delay_s``, ``ms_per_char``, ``voices`` (None: every voice id exists).
    """

    def __init__(
        self,
        *,
        valid_keys: Iterable[str] = (DEFAULT_KEY,),
        chunk_bytes: int = 4096,
        chunk_delay_s: float = 0.0,
        ms_per_char: float = 40.0,
        voices: Iterable[str] | None = None,
        first_chunk_delay_s: float = 0.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__()
        self.valid_keys: set[str] = set(valid_keys)
        self.chunk_bytes = chunk_bytes
        self.chunk_delay_s = chunk_delay_s
        self.ms_per_char = ms_per_char
        self.voices: set[str] | None = set(voices) if voices is not None else None
        self.first_chunk_delay_s = first_chunk_delay_s
        """Waited before the first audio of a stream (HTTP) or of a generation (WebSocket):
        the service's time to first byte."""
        self.websocket_enabled = True
        self._ssl = ssl_context
        self._ws_refusals: list[int] = []
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._failures: list[ScriptedFailure] = []
        self._holds: list[threading.Event] = []
        self._all_holds: list[threading.Event] = []
        self._drops = 0
        self._stalls: list[float] = []
        self._request_seen = threading.Condition(self._lock)

    # --- lifecycle ---------------------------------------------------------------------------

    _name = "the fake ElevenLabs server"
    _thread_name = "fake-elevenlabs"

    def _make_server(self) -> _Server:
        server = _Server(("127.0.0.1", 0), _Handler)
        server.fake = self
        return server

    @property
    def scheme(self) -> str:
        """``https`` when serving TLS (the SDK's WebSocket helper always speaks ``wss``)."""
        return "https" if self._ssl is not None else "http"

    def _release(self) -> None:
        """Let every held stream go on."""
        with self._lock:
            for event in self._all_holds:
                event.set()

    # --- scripting ---------------------------------------------------------------------------

    def fail_next(
        self, status: int, body: Any = None, headers: Mapping[str, str] | None = None
    ) -> None:
        """The next request (whatever it is) gets this error answer instead.

        Without a body, the service's usual one for that status is sent; a 429 without headers
        carries ``Retry-After: 1``. Calls queue up: two calls fail the next two requests.
        """
        if body is None:
            body = {401: INVALID_KEY_BODY, 429: RATE_LIMIT_BODY}.get(status, SERVER_ERROR_BODY)
        if headers is not None:
            hdrs = dict(headers)
        else:
            hdrs = {"Retry-After": "1"} if status == 429 else {}
        with self._lock:
            self._failures.append(ScriptedFailure(status, body, hdrs))

    def quota_exceeded_next(self, status: int = 401) -> None:
        """The next request is refused because the account's character quota is used up."""
        self.fail_next(status, QUOTA_BODY)

    def hold_after_first_chunk(self) -> threading.Event:
        """The next stream sends its first chunk, then waits until the returned event is set
        (or the fake stops) before sending the rest."""
        event = threading.Event()
        with self._lock:
            self._holds.append(event)
            self._all_holds.append(event)
        return event

    def drop_after_first_chunk(self) -> None:
        """The next stream sends its first chunk, then closes the connection mid-body."""
        with self._lock:
            self._drops += 1

    def refuse_websocket_next(self, status: int = 404) -> None:
        """The next WebSocket upgrade is answered with this HTTP status (a proxy without
        WebSockets); ``websocket_enabled = False`` refuses every one with 404."""
        with self._lock:
            self._ws_refusals.append(status)

    def _take_ws_refusal(self) -> int | None:
        with self._lock:
            if self._ws_refusals:
                return self._ws_refusals.pop(0)
        return None if self.websocket_enabled else 404

    def stall_next(self, seconds: float) -> None:
        """The next request waits this long (or until the fake stops) before answering."""
        with self._lock:
            self._stalls.append(seconds)

    def wait_for_requests(self, count: int, timeout: float = 5.0) -> list[RecordedRequest]:
        """Block until at least ``count`` requests arrived; returns the recorded list."""
        with self._request_seen:
            if not self._request_seen.wait_for(lambda: len(self.requests) >= count, timeout):
                raise TimeoutError(f"only {len(self.requests)} of {count} requests arrived")
            return list(self.requests)

    # --- audio -------------------------------------------------------------------------------

    def pcm_for(self, text: str, output_format: str = "pcm_16000") -> bytes:
        """Exactly the PCM the fake answers for ``text`` in ``output_format``."""
        return tone_pcm(text, PCM_RATES[output_format], self.ms_per_char)

    # --- used by the handler ------------------------------------------------------------------

    def _record(self, request: RecordedRequest) -> None:
        with self._request_seen:
            self.requests.append(request)
            self._request_seen.notify_all()

    def _take_script(self) -> tuple[ScriptedFailure | None, float]:
        with self._lock:
            failure = self._failures.pop(0) if self._failures else None
            stall = self._stalls.pop(0) if self._stalls else 0.0
            return failure, stall

    def _take_stream_script(self) -> tuple[threading.Event | None, bool]:
        with self._lock:
            hold = self._holds.pop(0) if self._holds else None
            drop = self._drops > 0
            if drop:
                self._drops -= 1
            return hold, drop


class _Server(ThreadingHTTPServer):
    daemon_threads = False
    block_on_close = True
    fake: FakeElevenLabs

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients hanging up (or failing the TLS handshake) are normal here: stay quiet."""

    def close_connections(self) -> None:
        with self._open_lock:
            sockets = list(self._open)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("fake elevenlabs: %s", format % args)

    def setup(self) -> None:
        context = self.server.fake._ssl
        if context is not None:
            self.request.settimeout(10)
            self.request = context.wrap_socket(self.request, server_side=True)
            self.request.settimeout(None)
        with contextlib.suppress(OSError):  # no Nagle delay between chunks, as real servers
            self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().setup()

    def do_GET(self) -> None:
        if self.headers.get("Upgrade", "").lower() == "websocket":
            serve_upgrade(self.server.fake, self)
            return
        self._discard_body()
        self._send_json(404, {"detail": "Not Found"})

    def do_POST(self) -> None:
        fake = self.server.fake
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        match = _PATH.match(parts.path)
        key = self.headers.get("xi-api-key")
        headers = {k.lower(): v for k, v in self.headers.items()}
        if "xi-api-key" in headers:
            headers["xi-api-key"] = "<redacted>"
        raw = self._read_body()
        try:
            body: Any = json.loads(raw) if raw else None
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = raw.decode("latin-1")
        request = RecordedRequest(
            method="POST",
            path=parts.path,
            query=query,
            headers=headers,
            body=body,
            voice_id=match.group("voice") if match else None,
            key_valid=key is not None and key in fake.valid_keys,
        )
        fake._record(request)
        try:
            self._answer(fake, request, match)
        finally:
            request.done.set()

    # --- answers -----------------------------------------------------------------------------

    def _answer(
        self, fake: FakeElevenLabs, request: RecordedRequest, match: re.Match[str] | None
    ) -> None:
        failure, stall = fake._take_script()
        if stall:
            fake._stopping.wait(stall)
        if failure is not None:
            self._send_json(failure.status, failure.body, failure.headers, request)
            return
        if match is None:
            self._send_json(404, {"detail": "Not Found"}, request=request)
            return
        if not request.key_valid:
            self._send_json(401, INVALID_KEY_BODY, request=request)
            return
        problems = validate_body(request.body, request.query)
        if problems:
            self._send_json(422, {"detail": problems}, request=request)
            return
        if fake.voices is not None and request.voice_id not in fake.voices:
            body = {
                "detail": {
                    "status": "voice_not_found",
                    "message": f"A voice with the voice_id {request.voice_id} was not found.",
                }
            }
            self._send_json(404, body, request=request)
            return
        pcm = fake.pcm_for(request.body["text"], request.query["output_format"])
        if match.group("stream"):
            self._stream(fake, request, pcm)
        else:
            request.completed = True
            self._send(200, pcm, {"Content-Type": "audio/pcm"}, request)

    def _stream(self, fake: FakeElevenLabs, request: RecordedRequest, pcm: bytes) -> None:
        hold, drop = fake._take_stream_script()
        request.status = 200
        self.send_response(200)
        self.send_header("Content-Type", "audio/pcm")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("request-id", f"fake-{len(fake.requests)}")
        self.end_headers()
        size = max(1, fake.chunk_bytes)
        try:
            if fake.first_chunk_delay_s:
                fake._stopping.wait(fake.first_chunk_delay_s)
            for index, start in enumerate(range(0, len(pcm), size)):
                if index > 0 and fake.chunk_delay_s:
                    fake._stopping.wait(fake.chunk_delay_s)
                if index == 1 and hold is not None:
                    hold.wait(timeout=30)
                piece = pcm[start : start + size]
                request.bytes_sent += len(piece)  # counted first: a client may read at once
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                if drop:
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
            request.completed = True  # all audio is out; only the terminator is left
            self.wfile.write(b"0\r\n\r\n")
        except OSError:  # the client hung up: that is what an early stop looks like
            self.close_connection = True

    def _send_json(
        self,
        status: int,
        body: Any,
        headers: Mapping[str, str] | None = None,
        request: RecordedRequest | None = None,
    ) -> None:
        data = json.dumps(body).encode() if not isinstance(body, bytes) else body
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        self._send(status, data, all_headers, request)

    def _send(
        self,
        status: int,
        data: bytes,
        headers: Mapping[str, str],
        request: RecordedRequest | None,
    ) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if request is not None:
            request.status = status
            request.bytes_sent = len(data)
        try:
            self.wfile.write(data)
        except OSError:
            self.close_connection = True

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _discard_body(self) -> None:
        self._read_body()
