"""Hark's chat model: an Ollama server reached over HTTP(S), streamed as it writes.

The reply is read line by line (NDJSON) while Ollama is still generating, so the pipeline can
start speaking the first sentence long before the last token. Every failure comes out as an
:class:`~app.shared.errors.LlmError` with a stable code and a message that says what to do:

=====================  ===================================================================
``llm-unreachable``    no connection (refused, DNS, TLS); names the host and the settings
``llm-timeout``        no connection, or no next chunk, within ``timeout_s``
``llm-model-missing``  the model is not on the server (``ollama pull MODEL``)
``llm-auth``           401/403 from the server or its proxy: the API key is wrong or missing
``llm-server-error``   any other error Ollama reports, before or in the middle of a stream
``llm-stream-cut``     the stream ended before Ollama's ``done`` object
``llm-bad-tool-call``  the model asked for a tool in a shape that cannot be read
``llm-ca-cert``        the pinned certificate file (``llm.ca_cert``) cannot be used
=====================  ===================================================================

TLS pinning (``llm.ca_cert``) is :mod:`app.shared.tls`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncGenerator, Mapping, Sequence
from contextlib import aclosing
from typing import Any

import httpx

from app.core.types import BackendStatus, ChatDelta, ChatMessage, ToolSpec
from app.llm.http_chat import HttpChat
from app.llm.wire import error_text, is_json_error, parse_tool_calls
from app.settings.schema import LlmSettings
from app.shared.errors import LlmCode, LlmError

log = logging.getLogger(__name__)


class OllamaChat(HttpChat):
    """:class:`~app.core.ports.ChatModel` over Ollama's ``/api/chat`` (streaming, tools).

    ``token`` is the bearer token of a proxy in front of Ollama, or the Hark server's API key.
    """

    server = "Ollama"
    api = "Ollama"
    kind = "an Ollama server"
    serve_hint = "Is `ollama serve` running?"
    host_hint = "Set HARK_LLM__HOST or OLLAMA_HOST."

    def __init__(
        self,
        settings: LlmSettings,
        token: str | None = None,
        client: httpx.AsyncClient | None = None,
        *,
        auth_hint: str = "`hark secret set llm-token` (or HARK_LLM_TOKEN)",
    ) -> None:
        super().__init__(settings, token, client, auth_hint=auth_hint)

    # --- chat ----------------------------------------------------------------------------------

    def _chat_body(
        self, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec]
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self._settings.model,
            "messages": [m.to_wire() for m in messages],
            "stream": True,
        }
        if tools:
            body["tools"] = [t.to_wire() for t in tools]
        if self._settings.temperature is not None:
            body["options"] = {"temperature": self._settings.temperature}
        if self._settings.keep_alive is not None:
            body["keep_alive"] = self._settings.keep_alive
        return body

    async def stream_chat(
        self, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec]
    ) -> AsyncGenerator[ChatDelta, None]:
        """Stream the reply: text pieces, tool calls, then one ``ChatDelta(done=True)``.

        Raises :class:`LlmError` only; cancelling the consumer closes the HTTP stream.
        """
        body = self._chat_body(messages, tools)
        async with aclosing(self._lines("/api/chat", body)) as lines:
            async for line in lines:
                if not line.strip():
                    continue
                for delta in self._parse_line(line):
                    yield delta
                    if delta.done:
                        return
        raise self._cut()

    def _parse_line(self, line: str) -> list[ChatDelta]:
        try:
            obj = json.loads(line)
        except ValueError as exc:
            raise LlmError(
                LlmCode.SERVER_ERROR,
                f"Ollama at {self._shown_host} sent a line that is not JSON: {line[:200]!r}. "
                "Is HARK_LLM__HOST pointing at an Ollama server?",
            ) from exc
        if not isinstance(obj, Mapping):
            raise LlmError(
                LlmCode.SERVER_ERROR,
                f"Ollama at {self._shown_host} sent an unexpected line: {line[:200]!r}",
            )
        if "error" in obj:
            raise LlmError(
                LlmCode.SERVER_ERROR,
                f"Ollama at {self._shown_host} failed while writing the reply: {obj['error']}",
            )
        deltas: list[ChatDelta] = []
        message = obj.get("message")
        if isinstance(message, Mapping):
            content = message.get("content")
            if isinstance(content, str) and content:
                deltas.append(ChatDelta(content=content))
            if message.get("tool_calls"):
                deltas.append(ChatDelta(tool_calls=parse_tool_calls(message["tool_calls"])))
        if obj.get("done") is True:
            log.debug(
                "LLM reply done: reason=%s eval_count=%s eval_ms=%.0f",
                obj.get("done_reason"),
                obj.get("eval_count"),
                (obj.get("eval_duration") or 0) / 1e6,
            )
            deltas.append(ChatDelta(done=True))
        return deltas

    # --- warm-up -------------------------------------------------------------------------------

    async def warm_up(self, system_prompt: str, tools: Sequence[ToolSpec] = ()) -> None:
        """Load the model and evaluate the system prompt now, so the first turn finds both ready.

        One ``/api/chat`` request with the system prompt (and the tools, which the prompt
        template renders next to it) and ``num_predict: 1``: Ollama loads the model, keeps it
        for ``keep_alive``, and its prompt cache then holds the start every turn shares. Raises
        :class:`LlmError`; callers log it and go on (a turn works without it, only slower).
        """
        body = self._chat_body([ChatMessage("system", system_prompt)], tools)
        body["stream"] = False
        body["options"] = {**body.get("options", {}), "num_predict": 1}
        response = await self._request("POST", "/api/chat", body)
        try:
            done = response.json()
        except ValueError:
            done = {}
        durations = done if isinstance(done, Mapping) else {}
        log.info(
            "LLM warmed up: model=%s load_ms=%.0f prompt_ms=%.0f",
            self._settings.model,
            (durations.get("load_duration") or 0) / 1e6,
            (durations.get("prompt_eval_duration") or 0) / 1e6,
        )

    # --- health --------------------------------------------------------------------------------

    async def check(self) -> BackendStatus:
        """Reachable, authorised, and the configured model pulled? Never raises."""
        try:
            data = await self._listing("/api/tags")
        except LlmError as exc:
            return self._status(exc)
        names = [
            str(m.get("name") or m.get("model"))
            for m in (data.get("models") or [] if isinstance(data, Mapping) else [])
            if isinstance(m, Mapping)
        ]
        if not model_available(self._settings.model, names):
            return self._status(self._model_missing(f"it has: {', '.join(names) or 'none'}"))
        return self._ready()

    # --- error mapping -------------------------------------------------------------------------

    def _model_hint(self) -> str:
        model = self._settings.model
        return f"Run `ollama pull {model}` there, or set HARK_LLM__MODEL to one it has."

    def _status_error(self, status: int, body: bytes) -> LlmError:
        if status == 404 and is_json_error(body):
            return self._model_missing(error_text(body))
        if status == 404:
            return self._no_api(status, body)
        return super()._status_error(status, body)


def model_available(model: str, names: Sequence[str]) -> bool:
    """Whether ``model`` is among ``names``; a name without a tag means ``name:latest``."""

    def norm(name: str) -> str:
        return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"

    wanted = norm(model)
    return any(norm(n) == wanted for n in names)
