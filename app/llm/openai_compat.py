"""Hark's chat model on any OpenAI-compatible server: llama.cpp's ``llama-server``, vLLM,
SGLang, LM Studio, LocalAI, or a hosted API. ``llm.host`` is the base URL with its ``/v1``.

The reply streams as server-sent events from ``/chat/completions``; text pieces go on as they
come, and tool calls, which arrive in pieces (``tool_calls`` deltas, by ``index``: the name
first, the arguments as JSON text in fragments), are put together and handed on whole when the
choice finishes. Tool results go back as ``role: tool`` messages with the ``tool_call_id`` of
the call they answer. The key (``llm-api-key`` in the keyring, or ``OPENAI_API_KEY``) is sent as
``Authorization: Bearer`` and never logged.

The failures are those of :mod:`app.llm.ollama`, with the same codes; and ``check()`` asks
``/models`` whether the server has ``llm.model``.
"""

from __future__ import annotations

import ipaddress
import json
import logging
from collections.abc import AsyncGenerator, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from app.core.types import BackendStatus, ChatDelta, ChatMessage, ToolCall, ToolSpec
from app.llm.http_chat import HttpChat
from app.llm.wire import error_code, error_text, is_json_error, parse_tool_calls
from app.settings.schema import LlmSettings
from app.shared.errors import LlmCode, LlmError

log = logging.getLogger(__name__)

KEY_HINT = "`hark secret set llm-api-key` (or OPENAI_API_KEY)"


def to_openai(messages: Sequence[ChatMessage]) -> list[dict[str, Any]]:
    """Messages in the Chat Completions shape. A call without an ``id`` (one Ollama made, or a
    server that sends none) gets one here, and the tool results that follow it, in order, answer
    it by that ``id``."""
    out: list[dict[str, Any]] = []
    waiting: list[str] = []  # ids of the last assistant message's calls not yet answered
    for n, m in enumerate(messages):
        if m.role == "tool":
            call_id = m.tool_call_id or (waiting[0] if waiting else f"call_{n}")
            if call_id in waiting:
                waiting.remove(call_id)
            out.append({"role": "tool", "tool_call_id": call_id, "content": m.content})
            continue
        msg: dict[str, Any] = {"role": m.role, "content": m.content}
        if m.tool_calls:
            ids = [c.id or f"call_{n}_{i}" for i, c in enumerate(m.tool_calls)]
            msg["tool_calls"] = [
                {
                    "id": call_id,
                    "type": "function",
                    "function": {"name": c.name, "arguments": json.dumps(dict(c.arguments))},
                }
                for call_id, c in zip(ids, m.tool_calls, strict=True)
            ]
            waiting = ids
        out.append(msg)
    return out


def is_local(url: str) -> bool:
    """Whether ``url`` names this computer or the local network (not a hosted service)."""
    host = urlsplit(url).hostname or ""
    if host == "localhost" or host.endswith(".local"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_private or address.is_link_local


@dataclass
class _Call:
    """A tool call being put together from its deltas."""

    id: str = ""
    name: str = ""
    arguments: str = ""


class OpenAIChat(HttpChat):
    """:class:`~app.core.ports.ChatModel` over ``/chat/completions`` (streaming, tools)."""

    server = "the OpenAI-compatible server"
    api = "OpenAI-compatible"
    kind = "an OpenAI-compatible server (its base URL, ending in /v1)"
    serve_hint = "Is the server running?"
    host_hint = "Set HARK_LLM__HOST to the server's base URL, such as http://127.0.0.1:8080/v1."

    def __init__(
        self,
        settings: LlmSettings,
        api_key: str | None = None,
        client: httpx.AsyncClient | None = None,
        *,
        auth_hint: str = KEY_HINT,
    ) -> None:
        super().__init__(settings, api_key, client, auth_hint=auth_hint)

    def _body(self, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec]) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self._settings.model,
            "messages": to_openai(messages),
            "stream": True,
        }
        if tools:
            body["tools"] = [t.to_wire() for t in tools]
        if self._settings.temperature is not None:
            body["temperature"] = self._settings.temperature
        return body

    async def stream_chat(
        self, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec]
    ) -> AsyncGenerator[ChatDelta, None]:
        """Stream the reply: text pieces, tool calls, then one ``ChatDelta(done=True)``.

        Raises :class:`LlmError` only; cancelling the consumer closes the HTTP stream.
        """
        body = self._body(messages, tools)
        calls: dict[int, _Call] = {}
        finished = False
        async with aclosing(self._lines("/chat/completions", body)) as lines:
            async for line in lines:
                data = line[5:].strip() if line.startswith("data:") else None
                if not data:
                    continue  # blank lines, comments (":"), event names
                if data == "[DONE]":
                    finished = True
                    break
                for delta in self._parse_event(data, calls):
                    finished = finished or delta.done
                    if not delta.done:
                        yield delta
                if finished:
                    break
        if not finished:
            raise self._cut()
        if calls:
            yield ChatDelta(tool_calls=self._assemble(calls))
        yield ChatDelta(done=True)

    def _parse_event(self, data: str, calls: dict[int, _Call]) -> list[ChatDelta]:
        """One event's text as deltas; a ``done`` delta once the choice has finished (tool
        calls are collected in ``calls`` until then)."""
        try:
            obj = json.loads(data)
        except ValueError as exc:
            raise LlmError(
                LlmCode.SERVER_ERROR,
                f"{self._at} sent an event that is not JSON: {data[:200]!r}. Is "
                f"HARK_LLM__HOST the base URL of an OpenAI-compatible server?",
            ) from exc
        if not isinstance(obj, Mapping):
            raise LlmError(
                LlmCode.SERVER_ERROR, f"{self._at} sent an unexpected event: {data[:200]!r}"
            )
        if "error" in obj:
            text = error_text(json.dumps({"error": obj["error"]}).encode())
            raise LlmError(
                LlmCode.SERVER_ERROR, f"{self._at} failed while writing the reply: {text}"
            )
        choices = obj.get("choices")
        if not isinstance(choices, list) or not choices:
            return []  # a usage-only event
        choice = choices[0] if isinstance(choices[0], Mapping) else {}
        deltas: list[ChatDelta] = []
        delta = choice.get("delta")
        if isinstance(delta, Mapping):
            content = delta.get("content")
            if isinstance(content, str) and content:
                deltas.append(ChatDelta(content=content))
            for piece in delta.get("tool_calls") or []:
                self._collect(piece, calls)
        if choice.get("finish_reason"):
            log.debug("LLM reply done: reason=%s", choice.get("finish_reason"))
            deltas.append(ChatDelta(done=True))
        return deltas

    def _collect(self, piece: Any, calls: dict[int, _Call]) -> None:
        if not isinstance(piece, Mapping):
            raise LlmError(
                LlmCode.BAD_TOOL_CALL,
                f"the model sent a piece of a tool call Hark cannot read: {piece!r}",
            )
        index = piece.get("index", len(calls))
        call = calls.setdefault(index if isinstance(index, int) else len(calls), _Call())
        if isinstance(piece.get("id"), str) and piece["id"]:
            call.id = piece["id"]
        function = piece.get("function")
        if isinstance(function, Mapping):
            name = function.get("name")
            if isinstance(name, str) and name:
                # OpenAI and vLLM send the name once; llama.cpp's Python server with every
                # piece: a name that starts again is the same name, not more of it.
                call.name = name if name.startswith(call.name) else call.name + name
            arguments = function.get("arguments")
            if isinstance(arguments, str):
                call.arguments += arguments
            elif isinstance(arguments, Mapping):  # a server that sends the object at once
                call.arguments += json.dumps(arguments)

    @staticmethod
    def _assemble(calls: dict[int, _Call]) -> tuple[ToolCall, ...]:
        return parse_tool_calls(
            [
                {"id": c.id, "function": {"name": c.name, "arguments": c.arguments}}
                for _, c in sorted(calls.items())
            ]
        )

    # --- warm-up -------------------------------------------------------------------------------

    async def warm_up(self, system_prompt: str, tools: Sequence[ToolSpec] = ()) -> None:
        """Have a server on this computer or the local network read the system prompt now
        (one token asked for), so its prompt cache holds the start every turn shares. A hosted
        API is left alone: it is always warm, and every request costs. Raises
        :class:`LlmError`; callers log it and go on."""
        self._raise_setup_error()
        if not is_local(self._host):
            log.debug("LLM warm-up skipped: %s is a hosted API", self._shown_host)
            return
        body = self._body([ChatMessage("system", system_prompt)], tools)
        body["messages"].append({"role": "user", "content": "Hello."})
        body["stream"] = False
        body["max_tokens"] = 1
        await self._request("POST", "/chat/completions", body)
        log.info("LLM warmed up: model=%s", self._settings.model)

    # --- health --------------------------------------------------------------------------------

    async def check(self) -> BackendStatus:
        """Reachable, the key accepted, and the model served? Never raises."""
        try:
            data = await self._listing("/models")
        except LlmError as exc:
            return self._status(exc)
        listed = data.get("data") if isinstance(data, Mapping) else None
        ids = [
            str(m["id"])
            for m in (listed if isinstance(listed, list) else [])
            if isinstance(m, Mapping) and isinstance(m.get("id"), str)
        ]
        if self._settings.model not in ids:
            return self._status(self._model_missing(f"it has: {', '.join(ids) or 'none'}"))
        return self._ready()

    # --- error mapping -------------------------------------------------------------------------

    def _status_error(self, status: int, body: bytes) -> LlmError:
        text = error_text(body)
        if status == 404 and (error_code(body) == "model_not_found" or "model" in text.lower()):
            return self._model_missing(text)
        if status == 404 and not is_json_error(body):
            return self._no_api(status, body)
        if status == 429:
            return LlmError(
                LlmCode.SERVER_ERROR,
                f"{self._at} is refusing more requests for now (HTTP 429: "
                f"{text or 'too many requests'}). Wait a moment and try again, or check the "
                "limits of the key's plan.",
            )
        return super()._status_error(status, body)
