"""A fake Ollama server that speaks the real wire protocol, scriptable per test.

Hark's tests cannot run a real Ollama, so this server stands in for it: the same paths
(``/api/chat``, ``/api/tags``, ``/api/version``, ``/api/show``, and the OpenAI-compatible
``/v1/chat/completions`` and ``/v1/models``), the same JSON shapes, NDJSON streamed in HTTP/1.1
chunks one token per line (server-sent events ``data: {...}`` ending with ``data: [DONE]`` on
``/v1``), the same error bodies and status codes. The contract test
(``tests/fakes/test_ollama_contract.py``) checks it with the official ``ollama`` and ``openai``
clients so it cannot drift from what the real server sends.

Usage::

    with FakeOllama(models=["llama3.2:3b"]) as fake:
        fake.reply("Hello there.")                          # next chat turn: streamed text
        fake.reply_tool_call("calendar_list", {"day": "today"})  # the turn after: a tool call
        settings = LlmSettings(host=fake.url)
        ...
        assert fake.requests[0]["messages"][-1]["content"] == "hi"

Scripted turns are consumed in order, one per chat request (``/api/chat`` or
``/v1/chat/completions``) that holds a user message; with nothing queued the
fake answers ``"You said: <last user message>."``. Scripting: :meth:`FakeOllama.reply`,
:meth:`~FakeOllama.reply_tool_call`, :meth:`~FakeOllama.reply_tool_calls`,
:meth:`~FakeOllama.fail` (an HTTP error), :meth:`~FakeOllama.fail_mid_stream` (an
``{"error"}`` line), :meth:`~FakeOllama.cut_stream_after` (no ``done``),
:meth:`~FakeOllama.add_model`, :meth:`~FakeOllama.refuse_pull`. ``/api/pull`` streams Ollama's
progress lines (manifest, two layers, verifying, writing, success) and then serves the model.
What arrived: ``requests`` (chat bodies), ``calls`` (``"POST /api/chat"``...), ``headers``,
``pending``, :meth:`~FakeOllama.wait_for_requests`, :meth:`~FakeOllama.held_at_gate`.

Timing: ``first_token_delay_s`` is waited before the first chunk (and the response headers,
as Ollama sends them with the first token), ``token_delay_s`` between chunks; both can be
changed between requests. The waiting simulates the model (it ends at once on ``stop()``); a
test that needs to act *between* chunks passes a ``threading.Event`` as ``gate`` instead.

Memory: ``load_delay_s`` is waited by a request that finds its model not loaded (the first one,
or one after ``keep_alive`` ran out), ``prefill_delay_s`` by one whose system prompt the model
has not evaluated yet (:mod:`tests.fakes.ollama_residency`); ``residency.loads`` counts cold
loads. ``/api/chat`` with no messages only loads the model (``done_reason: "load"``, or
``"unload"`` with ``keep_alive: 0``), ``options.num_predict`` ends a reply after that many
tokens (``done_reason: "length"``), and ``/api/ps`` lists the models in memory.
"""

from __future__ import annotations

import hashlib
import json
import re
import socket
import ssl
import threading
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.fakes.ollama_residency import (
    DEFAULT_KEEP_ALIVE_S,
    FOREVER,
    BadKeepAlive,
    Residency,
    parse_keep_alive,
)
from tests.support.servers import FakeService, TrackingHTTPServer

DEFAULT_MODELS = ("llama3.2:3b",)
GATE_TIMEOUT_S = 10.0
"""How long a gated stream waits for its gate before going on (so a forgotten gate never
hangs a test run)."""

_TOKEN_RE = re.compile(r"\s*[\w'’]+|\s*[^\w\s]|\s+")


def tokenize(text: str) -> list[str]:
    """Split ``text`` like a model's tokens: words with their leading space, punctuation apart.

    ``"".join(tokenize(t)) == t`` always holds.
    """
    return _TOKEN_RE.findall(text)


def normalize_model(name: str) -> str:
    """Ollama's rule: a model named without a tag means ``name:latest``."""
    last = name.rsplit("/", 1)[-1]
    return name if ":" in last else f"{name}:latest"


@dataclass
class ScriptedTurn:
    """One scripted answer to one ``/api/chat`` request (see the ``FakeOllama`` methods)."""

    text: str | None = None
    """Reply text; ``None`` means the default reply computed from the request."""
    tool_calls: Sequence[tuple[str, Any]] = ()
    """(name, arguments) pairs; arguments is a mapping, or a string sent verbatim as JSON text."""
    status: int | None = None
    """An HTTP error status to answer with instead of a reply."""
    error: str | None = None
    """The ``{"error": ...}`` message, for ``status`` or for an error in the stream."""
    error_after: int | None = None
    """Send this many token chunks, then an ``{"error": ...}`` line, then end the stream."""
    cut_after: int | None = None
    """Send this many token chunks, then drop the connection (no ``done``, no last chunk)."""
    clean_cut: bool = False
    """With ``cut_after``: end the HTTP body properly, only without a ``done`` object."""
    gate: threading.Event | None = None
    gate_after: int = 1
    """With ``gate``: after this many chunks, wait until the test sets the gate."""


@dataclass
class _State:
    lock: threading.Lock = field(default_factory=threading.Lock)
    changed: threading.Condition = field(init=False)
    script: deque[ScriptedTurn] = field(default_factory=deque)
    requests: list[dict[str, Any]] = field(default_factory=list)
    warmups: list[dict[str, Any]] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    gates: list[threading.Event] = field(default_factory=list)
    gate_timeouts: int = 0
    held: int = 0
    """Streams waiting at their gate right now."""

    def __post_init__(self) -> None:
        self.changed = threading.Condition(self.lock)


class FakeOllama(FakeService):
    """A protocol-faithful Ollama server on ``127.0.0.1`` (a free port), in a thread.

    ``models``: what ``/api/tags`` lists and ``/api/chat`` accepts (others answer 404).
    ``token``: when set, every ``/api/*`` request needs ``Authorization: Bearer <token>``
    (the Hark server's proxy rule), else 401. ``ssl_context``: serve https with it.
    ``port``: a fixed port (0, the default, picks a free one). ``tool_call_fragments``: on
    ``/v1`` stream tool calls in pieces, as OpenAI, vLLM and llama.cpp's server do (Ollama's own
    OpenAI layer sends each call whole).
    """

    def __init__(
        self,
        models: Iterable[str] = DEFAULT_MODELS,
        *,
        token: str | None = None,
        first_token_delay_s: float = 0.0,
        token_delay_s: float = 0.0,
        load_delay_s: float = 0.0,
        prefill_delay_s: float = 0.0,
        ssl_context: ssl.SSLContext | None = None,
        port: int = 0,
        version: str = "0.6.8",
        tool_call_fragments: bool = False,
    ) -> None:
        super().__init__()
        self.tool_call_fragments = tool_call_fragments
        self.models: list[str] = list(models)
        self.token = token
        self.first_token_delay_s = first_token_delay_s
        self.token_delay_s = token_delay_s
        self.load_delay_s = load_delay_s
        self.prefill_delay_s = prefill_delay_s
        self.residency = Residency()
        self.version = version
        self._ssl = ssl_context
        self._port = port
        self._state = _State()
        self._refused_pulls: set[str] = set()

    # --- lifecycle ---------------------------------------------------------------------------

    _name = "FakeOllama"
    _thread_name = "fake-ollama"
    _poll_interval_s = 0.01

    def _make_server(self) -> _Server:
        server = _Server(("127.0.0.1", self._port), _Handler)
        server.fake = self
        server.ssl_context = self._ssl
        return server

    def _release(self) -> None:
        """Open every gate, so gated streams end at once."""
        with self._state.lock:
            for gate in self._state.gates:
                gate.set()

    @property
    def scheme(self) -> str:
        return "https" if self._ssl is not None else "http"

    # --- scripting ---------------------------------------------------------------------------

    def reply(self, text: str, *, gate: threading.Event | None = None, gate_after: int = 1) -> None:
        """Queue a text reply, streamed token by token (see :func:`tokenize`).

        With ``gate``, the stream pauses after ``gate_after`` chunks until the gate is set.
        """
        self.enqueue(ScriptedTurn(text=text, gate=gate, gate_after=gate_after))

    def reply_tool_call(
        self, name: str, arguments: Mapping[str, Any] | str, *, content: str = ""
    ) -> None:
        """Queue a turn where the model calls one tool (``content`` is text streamed before).

        ``arguments`` as a ``str`` is sent verbatim as a JSON string, as some servers do.
        """
        self.reply_tool_calls([(name, arguments)], content=content)

    def reply_tool_calls(
        self, calls: Sequence[tuple[str, Mapping[str, Any] | str]], *, content: str = ""
    ) -> None:
        """Queue a turn with several tool calls in one message."""
        self.enqueue(ScriptedTurn(text=content, tool_calls=list(calls)))

    def fail(self, status: int, message: str) -> None:
        """Queue an HTTP error: ``status`` with the body ``{"error": message}``."""
        self.enqueue(ScriptedTurn(status=status, error=message))

    def fail_mid_stream(self, after_tokens: int, message: str, text: str | None = None) -> None:
        """Queue a reply that sends ``after_tokens`` chunks, then ``{"error": message}``."""
        self.enqueue(ScriptedTurn(text=text, error=message, error_after=after_tokens))

    def cut_stream_after(
        self, n_tokens: int, text: str | None = None, *, clean: bool = False
    ) -> None:
        """Queue a reply whose stream stops after ``n_tokens`` chunks, never sending ``done``.

        By default the connection drops mid-body (an upstream crash); ``clean=True`` ends the
        HTTP body properly (a proxy that gave up).
        """
        self.enqueue(ScriptedTurn(text=text, cut_after=n_tokens, clean_cut=clean))

    def enqueue(self, turn: ScriptedTurn) -> None:
        """Queue any scripted turn (the helpers above cover the usual cases)."""
        with self._state.lock:
            self._state.script.append(turn)
            if turn.gate is not None:
                self._state.gates.append(turn.gate)

    def add_model(self, name: str) -> None:
        """Make a model available, as ``ollama pull`` would."""
        with self._state.lock:
            self.models.append(name)

    def refuse_pull(self, name: str) -> None:
        """Make ``/api/pull`` of ``name`` fail as for a model the registry does not have."""
        with self._state.lock:
            self._refused_pulls.add(normalize_model(name))

    def _pull_refused(self, name: str) -> bool:
        with self._state.lock:
            return normalize_model(name) in self._refused_pulls

    # --- what the fake received ----------------------------------------------------------------

    @property
    def requests(self) -> list[dict[str, Any]]:
        """The JSON bodies of the chat turns (``/api/chat``, ``/v1/chat/completions`` with a
        user or tool message) received so far (a copy); loads and warm-ups are ``warmups``."""
        with self._state.lock:
            return list(self._state.requests)

    @property
    def warmups(self) -> list[dict[str, Any]]:
        """The chat bodies that were no turn (no user message: a load, or a warm-up with only
        the system prompt); they are not in ``requests`` and take no scripted turn."""
        with self._state.lock:
            return list(self._state.warmups)

    @property
    def calls(self) -> list[str]:
        """Every request line received so far, as ``"METHOD /path"``."""
        with self._state.lock:
            return list(self._state.calls)

    @property
    def headers(self) -> list[dict[str, str]]:
        """The headers (lower-case names) of every request, in the order of ``calls``."""
        with self._state.lock:
            return list(self._state.headers)

    @property
    def pending(self) -> int:
        """How many scripted turns are still queued."""
        with self._state.lock:
            return len(self._state.script)

    @property
    def gate_timeouts(self) -> int:
        """How many gated streams gave up waiting (a test that forgot to set its gate, or a
        client that did not read the first chunks before the rest were sent)."""
        with self._state.lock:
            return self._state.gate_timeouts

    def held_at_gate(self, n: int = 1, timeout: float = 5.0) -> bool:
        """Whether ``n`` gated streams are waiting at their gates (the model still "writing"),
        waiting up to ``timeout`` seconds for them to get there."""
        with self._state.changed:
            return self._state.changed.wait_for(lambda: self._state.held >= n, timeout)

    def wait_for_requests(self, n: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        """Block until ``n`` chat requests have arrived; raise ``TimeoutError`` otherwise."""
        with self._state.changed:
            if not self._state.changed.wait_for(lambda: len(self._state.requests) >= n, timeout):
                raise TimeoutError(f"FakeOllama got {len(self._state.requests)} of {n} requests")
            return list(self._state.requests)

    # --- internals used by the handler ---------------------------------------------------------

    def _record(self, call: str, headers: dict[str, str], body: dict[str, Any] | None) -> None:
        with self._state.changed:
            self._state.calls.append(call)
            self._state.headers.append(headers)
            if body is not None:
                kept = self._state.requests if is_turn(body) else self._state.warmups
                kept.append(body)
            self._state.changed.notify_all()

    def _next_turn(self) -> ScriptedTurn:
        with self._state.lock:
            return self._state.script.popleft() if self._state.script else ScriptedTurn()

    def _pause(self, seconds: float) -> None:
        """Simulated model latency; cut short when the fake stops."""
        if seconds > 0:
            self._stopping.wait(seconds)

    def _wait_gate(self, gate: threading.Event) -> None:
        with self._state.changed:
            self._state.held += 1
            self._state.changed.notify_all()
        opened = gate.wait(GATE_TIMEOUT_S)
        with self._state.changed:
            self._state.held -= 1
            if not opened:
                self._state.gate_timeouts += 1
            self._state.changed.notify_all()

    def _has_model(self, name: str) -> bool:
        with self._state.lock:
            return normalize_model(name) in {normalize_model(m) for m in self.models}

    def _model_list(self) -> list[str]:
        with self._state.lock:
            return list(self.models)


def is_turn(body: Mapping[str, Any]) -> bool:
    """A chat request that asks something (a user or tool message), not a load or warm-up."""
    messages = body.get("messages")
    return isinstance(messages, list) and any(
        isinstance(m, Mapping) and m.get("role") not in ("system", None) for m in messages
    )


def default_reply(body: Mapping[str, Any]) -> str:
    """What the fake says with nothing scripted: ``You said: <last user message>.``"""
    for msg in reversed(body.get("messages") or []):
        if isinstance(msg, Mapping) and msg.get("role") == "user":
            return f"You said: {str(msg.get('content', '')).strip().rstrip('.')}."
    return "Hello."


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _digest(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


def _details(name: str) -> dict[str, Any]:
    family = re.split(r"[\d:.]", name, maxsplit=1)[0] or "llama"
    return {
        "parent_model": "",
        "format": "gguf",
        "family": family,
        "families": [family],
        "parameter_size": "3.2B",
        "quantization_level": "Q4_K_M",
    }


class _Server(TrackingHTTPServer):
    fake: FakeOllama
    ssl_context: ssl.SSLContext | None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeOllama"
    sys_version = ""
    timeout = 30
    disable_nagle_algorithm = True  # as Ollama (Go sets TCP_NODELAY): no 40 ms ACK stalls
    server: _Server

    def setup(self) -> None:
        sock: socket.socket = self.request
        if self.server.ssl_context is not None:
            sock.settimeout(self.timeout)
            # On a failed handshake wrap_socket closes the socket and raises (handled quietly).
            sock = self.server.ssl_context.wrap_socket(sock, server_side=True)
        self.request = self._sock = sock
        self.server.track(sock, True)
        super().setup()

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self._sock, False)
            if isinstance(self._sock, ssl.SSLSocket):
                # The server closes only the plain socket it accepted, which TLS took over.
                self._sock.close()

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    # --- routing -------------------------------------------------------------------------------

    def do_HEAD(self) -> None:
        self._send_text(200, "")

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def do_DELETE(self) -> None:
        self._route("DELETE")

    def _route(self, method: str) -> None:
        fake = self.server.fake
        raw = self._read_body()
        headers = {k.lower(): v for k, v in self.headers.items()}
        path = self.path.split("?", 1)[0]
        body: dict[str, Any] | None = None
        parse_error: str | None = None
        if raw:
            try:
                parsed = json.loads(raw)
            except ValueError as exc:
                parse_error = f"invalid character in request body: {exc}"
            else:
                if isinstance(parsed, dict):
                    body = parsed
                else:
                    parse_error = "json: cannot unmarshal request body into a JSON object"
        fake._record(f"{method} {path}", headers, body if path in _CHAT_PATHS else None)

        if path == "/" and method == "GET":
            return self._send_text(200, "Ollama is running")
        needs_token = fake.token is not None and path.startswith(("/api/", "/v1/"))
        if needs_token and headers.get("authorization") != f"Bearer {fake.token}":
            return self._send_error(401, "unauthorized")
        routes = {
            ("POST", "/api/chat"): self._chat,
            ("GET", "/api/tags"): self._tags,
            ("GET", "/api/version"): self._version,
            ("GET", "/api/ps"): self._ps,
            ("POST", "/api/show"): self._show,
            ("POST", "/api/pull"): self._pull,
            ("POST", "/v1/chat/completions"): self._v1_chat,
            ("GET", "/v1/models"): self._v1_models,
        }
        handler = routes.get((method, path))
        if handler is None:
            return self._send_text(404, "404 page not found")
        if parse_error is not None:
            if path.startswith("/v1/"):
                return self._send_openai_error(400, parse_error)
            return self._send_error(400, parse_error)
        handler(body or {})

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    # --- endpoints -----------------------------------------------------------------------------

    def _tags(self, _body: dict[str, Any]) -> None:
        models = [
            {
                "name": name,
                "model": name,
                "modified_at": "2025-05-01T10:20:30.123456+02:00",
                "size": 2_019_393_189,
                "digest": _digest(name),
                "details": _details(name),
            }
            for name in self.server.fake._model_list()
        ]
        self._send_json(200, {"models": models})

    def _version(self, _body: dict[str, Any]) -> None:
        self._send_json(200, {"version": self.server.fake.version})

    def _show(self, body: dict[str, Any]) -> None:
        name = str(body.get("model") or body.get("name") or "")
        if not name:
            return self._send_error(400, "model is required")
        if not self.server.fake._has_model(name):
            return self._send_error(404, f"model '{name}' not found")
        self._send_json(
            200,
            {
                "modelfile": f"FROM {name}\n",
                "parameters": 'stop "<|eot_id|>"',
                "template": "{{ .Prompt }}",
                "details": _details(name),
                "model_info": {"general.architecture": "llama"},
                "capabilities": ["completion", "tools"],
                "modified_at": "2025-05-01T10:20:30.123456+02:00",
            },
        )

    def _pull(self, body: dict[str, Any]) -> None:
        fake = self.server.fake
        name = str(body.get("model") or body.get("name") or "")
        if not name:
            return self._send_error(400, "model is required")
        lines = [{"status": "pulling manifest"}]
        if fake._pull_refused(name):
            lines.append({"error": "pull model manifest: file does not exist"})
        else:
            for layer, total in ((f"{name}/model", 4_000_000), (f"{name}/params", 1_000)):
                digest = _digest(layer)
                layer_line: dict[str, Any] = {"status": f"pulling {digest[:12]}"}
                layer_line |= {"digest": f"sha256:{digest}", "total": total}
                lines.append(layer_line)  # Go's omitempty: no "completed": 0 in the first one
                lines += [{**layer_line, "completed": total * k // 4} for k in (1, 3, 4)]
            lines += [{"status": s} for s in ("verifying sha256 digest", "writing manifest")]
            lines.append({"status": "success"})
        failed = "error" in lines[-1]
        if body.get("stream", True) is False:
            if failed:
                return self._send_error(500, str(lines[-1]["error"]))
            self._pulled(name)
            return self._send_json(200, {"status": "success"})
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for i, line in enumerate(lines):
            if i > 0:
                fake._pause(fake.token_delay_s)
            if line.get("status") == "success":
                self._pulled(name)  # the manifest is written: the model is there
            self._write_raw_chunk(_ndjson(line))
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _pulled(self, name: str) -> None:
        if not self.server.fake._has_model(name):
            self.server.fake.add_model(name)

    def _chat(self, body: dict[str, Any]) -> None:
        fake = self.server.fake
        model = body.get("model")
        if not isinstance(model, str) or not model:
            return self._send_error(400, "model is required")
        messages = body.get("messages", [])
        if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
            return self._send_error(400, "messages must be a list of message objects")
        try:
            keep_alive_s = parse_keep_alive(body.get("keep_alive"))
        except BadKeepAlive as exc:
            return self._send_error(400, str(exc))
        if not fake._has_model(model):
            return self._send_error(404, f"model '{model}' not found")
        if not messages:
            return self._load_only(model, keep_alive_s)
        fake._pause(
            fake.residency.admit(
                model, keep_alive_s, _system(messages), fake.load_delay_s, fake.prefill_delay_s
            )
        )
        turn = fake._next_turn() if is_turn(body) else ScriptedTurn()
        if turn.status is not None:
            return self._send_error(turn.status, turn.error or "error")
        text = default_reply(body) if turn.text is None else turn.text
        pieces = tokenize(text)
        reason = "stop"
        limit = _num_predict(body)
        if limit is not None and len(pieces) > limit:
            pieces, reason = pieces[:limit], "length"
            text = "".join(pieces)
        tool_calls = [_wire_tool_call(i, n, a) for i, (n, a) in enumerate(turn.tool_calls)]
        if body.get("stream", True) is False:
            return self._chat_whole(model, text, tool_calls, len(pieces), reason)
        self._chat_stream(model, pieces, tool_calls, turn, reason)

    def _load_only(self, model: str, keep_alive_s: float) -> None:
        """``/api/chat`` without messages: load the model (or unload it, for keep_alive 0)."""
        fake = self.server.fake
        if keep_alive_s <= 0:
            fake.residency.unload(model)
            reason = "unload"
        else:
            fake._pause(fake.residency.load(model, keep_alive_s, fake.load_delay_s))
            reason = "load"
        message = {"role": "assistant", "content": ""}
        self._send_json(
            200,
            {"model": model, "created_at": _now(), "message": message, "done_reason": reason}
            | {"done": True},
        )

    def _ps(self, _body: dict[str, Any]) -> None:
        fake = self.server.fake
        now = datetime.now(UTC)
        models = []
        for name, left in fake.residency.running().items():
            until = (
                now + timedelta(days=100 * 365)
                if left == FOREVER
                else now + timedelta(seconds=left)
            )
            models.append(
                {
                    "name": name,
                    "model": name,
                    "size": 3_400_000_000,
                    "digest": _digest(name),
                    "details": _details(name),
                    "expires_at": until.isoformat().replace("+00:00", "Z"),
                    "size_vram": 0,
                }
            )
        self._send_json(200, {"models": models})

    def _chat_whole(
        self,
        model: str,
        text: str,
        tool_calls: list[dict[str, Any]],
        n_tokens: int,
        reason: str = "stop",
    ) -> None:
        fake = self.server.fake
        fake._pause(fake.first_token_delay_s + fake.token_delay_s * max(0, n_tokens - 1))
        message: dict[str, Any] = {"role": "assistant", "content": text}
        if tool_calls:
            message["tool_calls"] = tool_calls
        self._send_json(200, _final(model, message, n_tokens, reason))

    def _chat_stream(
        self,
        model: str,
        pieces: list[str],
        tool_calls: list[dict[str, Any]],
        turn: ScriptedTurn,
        reason: str = "stop",
    ) -> None:
        chunks: list[dict[str, Any]] = [
            _chunk(model, {"role": "assistant", "content": p}) for p in pieces
        ]
        if tool_calls:
            chunks.append(
                _chunk(model, {"role": "assistant", "content": "", "tool_calls": tool_calls})
            )
        stop_at = len(chunks)
        for limit in (turn.cut_after, turn.error_after):
            if limit is not None:
                stop_at = min(stop_at, limit)

        self._stream(
            "application/x-ndjson",
            [_ndjson(obj) for obj in chunks[:stop_at]],
            turn,
            tail=[
                _ndjson(_final(model, {"role": "assistant", "content": ""}, len(pieces), reason))
            ],
            error=_ndjson({"error": turn.error or "error"}),
        )

    def _stream(
        self,
        content_type: str,
        pieces: list[bytes],
        turn: ScriptedTurn,
        *,
        tail: list[bytes],
        error: bytes,
    ) -> None:
        """Send ``pieces`` one HTTP chunk each (with the fake's delays and the turn's gate),
        then ``tail`` — or ``error``, or a cut, as the turn says."""
        fake = self.server.fake
        fake._pause(fake.first_token_delay_s)
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for i, piece in enumerate(pieces):
            if i > 0:
                fake._pause(fake.token_delay_s)
            if turn.gate is not None and i == turn.gate_after:
                fake._wait_gate(turn.gate)
            self._write_raw_chunk(piece)
        if turn.error_after is not None:
            self._write_raw_chunk(error)
        elif turn.cut_after is not None:
            if not turn.clean_cut:
                self.wfile.flush()
                self.close_connection = True
                self._sock.shutdown(socket.SHUT_RDWR)
                return
        else:
            for piece in tail:
                self._write_raw_chunk(piece)
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    # --- the OpenAI-compatible API (/v1) ---------------------------------------------------------

    def _v1_models(self, _body: dict[str, Any]) -> None:
        models = [
            {
                "id": name,
                "object": "model",
                "created": _CREATED,
                "owned_by": name.split("/", 1)[0] if "/" in name else "library",
            }
            for name in self.server.fake._model_list()
        ]
        self._send_json(200, {"object": "list", "data": models})

    def _v1_chat(self, body: dict[str, Any]) -> None:
        fake = self.server.fake
        model = body.get("model")
        if not isinstance(model, str) or not model:
            return self._send_openai_error(400, "model is required")
        messages = body.get("messages", [])
        if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
            return self._send_openai_error(400, "messages must be a list of message objects")
        if not fake._has_model(model):
            return self._send_openai_error(404, f"model '{model}' not found")
        fake._pause(
            fake.residency.admit(
                model,
                DEFAULT_KEEP_ALIVE_S,
                _system(messages),
                fake.load_delay_s,
                fake.prefill_delay_s,
            )
        )
        turn = fake._next_turn() if is_turn(body) else ScriptedTurn()
        if turn.status is not None:
            return self._send_openai_error(turn.status, turn.error or "error")
        text = default_reply(body) if turn.text is None else turn.text
        pieces = tokenize(text)
        calls = [_openai_tool_call(i, n, a) for i, (n, a) in enumerate(turn.tool_calls)]
        finish = "tool_calls" if calls else "stop"
        completion_id = f"chatcmpl-{_digest(_now())[:6]}"
        if not body.get("stream", False):
            message: dict[str, Any] = {"role": "assistant", "content": text}
            if calls:
                message["tool_calls"] = calls
            fake._pause(fake.first_token_delay_s + fake.token_delay_s * max(0, len(pieces) - 1))
            return self._send_json(
                200,
                {
                    **_completion_head(completion_id, model, "chat.completion"),
                    "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                    "usage": _usage(len(pieces)),
                },
            )
        deltas: list[dict[str, Any]] = [{"role": "assistant", "content": p} for p in pieces]
        if calls and fake.tool_call_fragments:
            deltas.extend(_fragments(calls))
        elif calls:
            deltas.append({"role": "assistant", "content": "", "tool_calls": calls})
        stop_at = len(deltas)
        for limit in (turn.cut_after, turn.error_after):
            if limit is not None:
                stop_at = min(stop_at, limit)
        head = _completion_head(completion_id, model, "chat.completion.chunk")

        def event(delta: dict[str, Any], finish_reason: str | None) -> bytes:
            choice = {"index": 0, "delta": delta, "finish_reason": finish_reason}
            return _sse({**head, "choices": [choice]})

        tail = [event({"role": "assistant", "content": ""}, finish)]
        options = body.get("stream_options")
        if isinstance(options, dict) and options.get("include_usage"):
            tail.append(_sse({**head, "choices": [], "usage": _usage(len(pieces))}))
        tail.append(b"data: [DONE]\n\n")
        error = {"message": turn.error or "error", "type": "api_error", "param": None, "code": None}
        self._stream(
            "text/event-stream",
            [event(d, None) for d in deltas[:stop_at]],
            turn,
            tail=tail,
            error=_sse({"error": error}),
        )

    # --- writing -------------------------------------------------------------------------------

    def _write_raw_chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _send_openai_error(self, status: int, message: str) -> None:
        # Ollama's openai.NewError: the type follows the status; param and code stay null.
        kind = {400: "invalid_request_error", 404: "not_found_error"}.get(status, "api_error")
        error = {"message": message, "type": kind, "param": None, "code": None}
        self._send_json(status, {"error": error})

    def _send_json(self, status: int, obj: Mapping[str, Any]) -> None:
        data = json.dumps(obj).encode()
        self._send_bytes(status, data, "application/json; charset=utf-8")

    def _send_error(self, status: int, message: str) -> None:
        self._send_json(status, {"error": message})

    def _send_text(self, status: int, text: str) -> None:
        self._send_bytes(status, text.encode(), "text/plain; charset=utf-8")

    def _send_bytes(self, status: int, data: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        self.wfile.flush()


_CHAT_PATHS = frozenset({"/api/chat", "/v1/chat/completions"})
_CREATED = 1_714_551_630


def _ndjson(obj: Mapping[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode() + b"\n"


def _sse(obj: Mapping[str, Any]) -> bytes:
    return b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"


def _completion_head(completion_id: str, model: str, kind: str) -> dict[str, Any]:
    return {
        "id": completion_id,
        "object": kind,
        "created": int(datetime.now(UTC).timestamp()),
        "model": model,
        "system_fingerprint": "fp_ollama",
    }


def _usage(n_tokens: int) -> dict[str, int]:
    completion = max(1, n_tokens)
    return {"prompt_tokens": 26, "completion_tokens": completion, "total_tokens": 26 + completion}


def _openai_tool_call(index: int, name: str, arguments: Mapping[str, Any] | str) -> dict[str, Any]:
    # Ollama's OpenAI layer sends the arguments as a JSON string, with a random call id.
    text = arguments if isinstance(arguments, str) else json.dumps(dict(arguments))
    return {
        "id": f"call_{_digest(f'{name}{index}{_now()}')[:8]}",
        "index": index,
        "type": "function",
        "function": {"name": name, "arguments": text},
    }


def _fragments(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Tool calls as OpenAI, vLLM and llama.cpp stream them: one delta with the call's id and
    name and empty arguments, then the arguments' JSON text a few characters at a time."""
    deltas: list[dict[str, Any]] = []
    for call in calls:
        index, function = call["index"], call["function"]
        head = {**call, "function": {"name": function["name"], "arguments": ""}}
        deltas.append({"tool_calls": [head]})
        text = function["arguments"]
        for at in range(0, len(text), 7):
            piece = {"index": index, "function": {"arguments": text[at : at + 7]}}
            deltas.append({"tool_calls": [piece]})
    return deltas


def _wire_tool_call(index: int, name: str, arguments: Mapping[str, Any] | str) -> dict[str, Any]:
    # Ollama's ToolCallFunction has `index` with omitempty: absent for the first call.
    function: dict[str, Any] = {"name": name, "arguments": arguments}
    if not isinstance(arguments, str):
        function["arguments"] = dict(arguments)
    if index:
        function = {"index": index, **function}
    return {"function": function}


def _chunk(model: str, message: dict[str, Any]) -> dict[str, Any]:
    return {"model": model, "created_at": _now(), "message": message, "done": False}


def _system(messages: list[dict[str, Any]]) -> str | None:
    """The system prompt a chat starts with (what Ollama's prompt cache keeps), if any."""
    first = messages[0] if messages else {}
    return str(first.get("content", "")) if first.get("role") == "system" else None


def _num_predict(body: Mapping[str, Any]) -> int | None:
    """``options.num_predict``: the most tokens to write (none, or a negative value: no limit)."""
    options = body.get("options")
    value = options.get("num_predict") if isinstance(options, Mapping) else None
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return int(value)
    return None


def _final(
    model: str, message: dict[str, Any], eval_count: int, reason: str = "stop"
) -> dict[str, Any]:
    return {
        "model": model,
        "created_at": _now(),
        "message": message,
        "done_reason": reason,
        "done": True,
        "total_duration": 1_234_567_890,
        "load_duration": 12_345_678,
        "prompt_eval_count": 26,
        "prompt_eval_duration": 123_456_789,
        "eval_count": max(1, eval_count),
        "eval_duration": 987_654_321,
    }
