"""The fake ElevenLabs' WebSocket input API: ``GET /v1/text-to-speech/{voice}/stream-input``.

Served on the same port as the HTTP API (the handler hands an upgrade request here), as the
real service does. The handshake and framing are the ``websockets`` package's own sans-I/O
protocol, so the frames are what a real server sends. The conversation follows ElevenLabs'
documented one:

* query ``model_id``, ``output_format`` (``pcm_*`` only here), ``inactivity_timeout``;
  the key in the ``xi-api-key`` header, or ``xi-api-key`` / ``xi_api_key`` in the first message;
* the first message's text must be a single space; it may carry ``voice_settings`` and
  ``generation_config.chunk_length_schedule`` (default ``[120, 160, 250, 290]``);
* text accumulates; audio is made for it on ``flush: true``, when the buffer reaches the
  schedule's next length (up to its last space), or at the end (``{"text": ""}``);
* each piece of audio is ``{"audio": base64 PCM, "isFinal": null, "normalizedAlignment",
  "alignment"}``; after the end ``{"isFinal": true}`` and a normal close (1000);
* a bad or missing key, a used-up quota, a scripted error: an error message
  ``{"message", "error", "code": 1008}`` then a close with code 1008 and the message as
  reason (1011 for a server error); no text for ``inactivity_timeout`` s: 1008 too.

The fake's scripts apply here as to HTTP: ``fail_next``, ``drop_after_first_chunk`` (the TCP
connection is cut after the first audio message), ``hold_after_first_chunk``, ``stall_next``;
``first_chunk_delay_s`` is waited before the first audio of every generation, and
``refuse_websocket_next(status)`` / ``websocket_enabled = False`` reject the upgrade as a
proxy without WebSockets would.
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import socket
from collections import deque
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from websockets.exceptions import InvalidState
from websockets.frames import Frame, Opcode
from websockets.http11 import Request
from websockets.server import ServerProtocol

from tests.fakes.elevenlabs_wire import PCM_RATES, RecordedRequest

if TYPE_CHECKING:
    from tests.fakes.elevenlabs import FakeElevenLabs

DEFAULT_SCHEDULE = [120, 160, 250, 290]


class WebSocketSession:
    """One connection's conversation, run on the handler's thread until it closes."""

    def __init__(
        self,
        fake: FakeElevenLabs,
        sock: socket.socket,
        request: RecordedRequest,
        raw_request: bytes,
    ) -> None:
        self.fake = fake
        self.sock = sock
        self.request = request
        self.protocol = ServerProtocol()
        self.raw_request = raw_request
        self.buffer = ""
        self.schedule = list(DEFAULT_SCHEDULE)
        self.generations = 0
        self.key_ok = request.key_valid
        self.hold, self.drop = fake._take_stream_script()
        self.pending: deque[object] = deque()
        self.eof = False

    # --- handshake --------------------------------------------------------------------------

    def run(self, refuse: int | None) -> None:
        if refuse is not None:
            self._send_response(self.protocol.reject(refuse, "WebSocket upgrade refused\n"))
            self.request.status = refuse
            return
        # The handler has read the request already; hand the same bytes to the protocol so
        # its parser moves on to frames, exactly as a websockets server's would.
        self.protocol.receive_data(self.raw_request)
        parsed = [e for e in self.protocol.events_received() if isinstance(e, Request)]
        if not parsed:
            self._send_response(self.protocol.reject(400, "Bad upgrade request\n"))
            self.request.status = 400
            return
        response = self.protocol.accept(parsed[0])
        self._send_response(response)
        if response.status_code != 101:
            self.request.status = response.status_code
            return
        self.request.status = 101
        with contextlib.suppress(OSError):  # small frames go out at once, as from a real server
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        failure, stall = self.fake._take_script()
        if stall:
            self.fake._stopping.wait(stall)
        fmt = self.request.query.get("output_format", "mp3_44100_128")
        timeout = float(self.request.query.get("inactivity_timeout", "20"))
        self.sock.settimeout(min(timeout, 180.0))
        try:
            first = self._next_message()
            if first is None:
                return
            self._check_first(first)
            if failure is not None:
                detail = failure.body.get("detail", {}) if isinstance(failure.body, dict) else {}
                code = 1011 if failure.status >= 500 else 1008
                self._error(str(detail.get("message", "error")), str(detail.get("status")), code)
                return
            if not self.key_ok:
                self._error("Invalid API key", "invalid_api_key")
                return
            if fmt not in PCM_RATES:
                self._error(f"this fake serves raw PCM only, not {fmt}", "invalid_output_format")
                return
            self._converse(fmt)
        except TimeoutError:
            self._error(
                f"Have not received a new text input within the timeout of {timeout:g} "
                "seconds. Streaming input terminated.",
                "input_timeout_exceeded",
            )
        except _Cut:
            return
        finally:
            self.request.done.set()

    def _check_first(self, message: dict[str, Any]) -> None:
        key = message.get("xi-api-key") or message.get("xi_api_key")
        if key is not None:
            self.key_ok = key in self.fake.valid_keys
        config = message.get("generation_config") or {}
        schedule = config.get("chunk_length_schedule")
        if isinstance(schedule, list) and schedule:
            self.schedule = [int(x) for x in schedule]

    # --- the conversation -------------------------------------------------------------------

    def _converse(self, fmt: str) -> None:
        while (message := self._next_message()) is not None:
            text = message.get("text")
            if not isinstance(text, str):
                self._error("text field is required", "invalid_request")
                return
            if text == "":
                if self.buffer.strip():
                    self._generate(self.buffer, fmt)
                self.buffer = ""
                self.request.completed = True
                self._send_json({"isFinal": True})
                self._close(1000, "")
                return
            self.buffer += text
            if message.get("flush"):
                if self.buffer.strip():
                    self._generate(self.buffer, fmt)
                self.buffer = ""
                continue
            threshold = self.schedule[min(self.generations, len(self.schedule) - 1)]
            cut = self.buffer.rfind(" ")
            if len(self.buffer) >= threshold and cut > 0:
                self._generate(self.buffer[: cut + 1], fmt)
                self.buffer = self.buffer[cut + 1 :]

    def _generate(self, text: str, fmt: str) -> None:
        spoken = text.strip()
        self.request.spoken.append(spoken)
        pcm = self.fake.pcm_for(spoken, fmt)
        if self.fake.first_chunk_delay_s:
            self.fake._stopping.wait(self.fake.first_chunk_delay_s)
        size = max(2, self.fake.chunk_bytes - self.fake.chunk_bytes % 2)
        ms = self.fake.ms_per_char
        for index, start in enumerate(range(0, len(pcm), size)):
            if index > 0 and self.fake.chunk_delay_s:
                self.fake._stopping.wait(self.fake.chunk_delay_s)
            if index == 1 and self.hold is not None:
                self.hold.wait(timeout=30)
            alignment = (
                {
                    "chars": list(spoken),
                    "charStartTimesMs": [round(i * ms) for i in range(len(spoken))],
                    "charDurationsMs": [round(ms)] * len(spoken),
                }
                if index == 0
                else None
            )
            piece = pcm[start : start + size]
            self.request.bytes_sent += len(piece)
            self._send_json(
                {
                    "audio": base64.b64encode(piece).decode("ascii"),
                    "isFinal": None,
                    "normalizedAlignment": alignment,
                    "alignment": alignment,
                }
            )
            if self.drop:
                with contextlib.suppress(OSError):
                    self.sock.shutdown(socket.SHUT_RDWR)
                raise _Cut
        self.generations += 1

    # --- frames -----------------------------------------------------------------------------

    def _next_message(self) -> dict[str, Any] | None:
        """The next text message as JSON; None when the client closed or hung up."""
        while True:
            self.pending.extend(self.protocol.events_received())
            while self.pending:
                event = self.pending.popleft()
                if isinstance(event, Frame) and event.opcode is Opcode.TEXT:
                    message = json.loads(bytes(event.data).decode("utf-8"))
                    self._record(message)
                    return message if isinstance(message, dict) else {}
            self._flush()
            if self.eof or self.protocol.state.name in ("CLOSING", "CLOSED"):
                return None
            try:
                data = self.sock.recv(65536)
            except OSError as exc:
                if isinstance(exc, TimeoutError):
                    raise
                return None
            if not data:
                self.protocol.receive_eof()
                self._flush()
                return None
            self.protocol.receive_data(data)

    def _record(self, message: Any) -> None:
        shown = dict(message) if isinstance(message, dict) else message
        if isinstance(shown, dict):
            for name in ("xi-api-key", "xi_api_key"):
                if name in shown:
                    shown[name] = "<redacted>"
        self.request.body.append(shown)

    def _send_json(self, message: dict[str, Any]) -> None:
        try:
            self.protocol.send_text(json.dumps(message).encode("utf-8"))
        except InvalidState as exc:
            raise _Cut from exc
        if not self._flush():
            raise _Cut

    def _error(self, message: str, kind: str, code: int = 1008) -> None:
        with contextlib.suppress(_Cut):
            self._send_json({"message": message, "error": kind, "code": code})
        self._close(code, message[:120])

    def _close(self, code: int, reason: str) -> None:
        with contextlib.suppress(InvalidState):
            self.protocol.send_close(code, reason)
        self._flush()
        self.sock.settimeout(2.0)
        with contextlib.suppress(OSError):  # read the client's close frame, then hang up
            while not self.eof:
                data = self.sock.recv(65536)
                if not data:
                    break
                self.protocol.receive_data(data)
                self._flush()
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)

    def _send_response(self, response: Any) -> None:
        self.protocol.send_response(response)
        self._flush()

    def _flush(self) -> bool:
        """Send what the protocol has queued; its end-of-stream marker (``b""``) means the
        closing handshake is done and the server, as RFC 6455 asks, closes TCP first."""
        for data in self.protocol.data_to_send():
            try:
                if data:
                    self.sock.sendall(data)
                else:
                    self.eof = True
                    self.sock.shutdown(socket.SHUT_WR)
            except OSError:
                return False
        return True


class _Cut(Exception):
    """The connection is gone (cut on purpose, or the client hung up)."""


def raw_handshake(requestline: str, headers: Any) -> bytes:
    """The upgrade request's bytes again, from what ``http.server`` parsed."""
    lines = [requestline, *(f"{name}: {value}" for name, value in headers.items()), "", ""]
    return "\r\n".join(lines).encode("latin-1")


_WS_PATH = re.compile(r"^/v1/text-to-speech/(?P<voice>[^/]+)/stream-input$")


def serve_upgrade(fake: FakeElevenLabs, handler: Any) -> None:
    """Answer an upgrade request that ``http.server`` has parsed, on its handler's thread."""
    parts = urlsplit(handler.path)
    match = _WS_PATH.match(parts.path)
    headers = {k.lower(): v for k, v in handler.headers.items()}
    key = headers.get("xi-api-key")
    if key is not None:
        headers["xi-api-key"] = "<redacted>"
    request = RecordedRequest(
        method="WEBSOCKET",
        path=parts.path,
        query={k: v[-1] for k, v in parse_qs(parts.query).items()},
        headers=headers,
        body=[],
        voice_id=match.group("voice") if match else None,
        key_valid=key is not None and key in fake.valid_keys,
    )
    fake._record(request)
    refuse = 404 if match is None else fake._take_ws_refusal()
    handler.close_connection = True
    raw = raw_handshake(handler.requestline, handler.headers)
    try:
        WebSocketSession(fake, handler.connection, request, raw).run(refuse)
    finally:
        request.done.set()
