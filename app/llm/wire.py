"""Reading what an LLM server (Ollama, the Hark server in front of one, or an OpenAI-compatible
server) sends: error bodies, tool calls, and host URLs made safe to show. Pure functions.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from app.core.types import ToolCall
from app.shared.errors import LlmCode, LlmError


def display_host(url: str) -> str:
    """The host URL without any user:password part, safe for messages and logs."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    netloc = parts.hostname or ""
    if parts.port is not None:
        netloc = f"{netloc}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def error_text(body: bytes) -> str:
    """Ollama's ``{"error": ...}`` message, or the raw body (trimmed) when it is not JSON."""
    text = body.decode("utf-8", errors="replace").strip()
    try:
        data = json.loads(text)
    except ValueError:
        return text[:300]
    if isinstance(data, Mapping) and isinstance(data.get("error"), str):
        return str(data["error"])
    if isinstance(data, Mapping) and isinstance(data.get("error"), Mapping):
        message = data["error"].get("message")  # the Hark server's own (OpenAI-shaped) errors
        if isinstance(message, str):
            return message
    return text[:300]


def error_code(body: bytes) -> str | None:
    """The code of a Hark server error body (``{"error": {"code": ...}}``), if any."""
    try:
        data = json.loads(body)
    except ValueError:
        return None
    error = data.get("error") if isinstance(data, Mapping) else None
    code = error.get("code") if isinstance(error, Mapping) else None
    return code if isinstance(code, str) else None


def is_json_error(body: bytes) -> bool:
    try:
        data = json.loads(body)
    except ValueError:
        return False
    return isinstance(data, Mapping) and "error" in data


def parse_tool_calls(raw: Any) -> tuple[ToolCall, ...]:
    if not isinstance(raw, list):
        raise LlmError(
            LlmCode.BAD_TOOL_CALL, f"the model sent tool_calls that are not a list: {raw!r}"
        )
    calls: list[ToolCall] = []
    for item in raw:
        function = item.get("function") if isinstance(item, Mapping) else None
        name = function.get("name") if isinstance(function, Mapping) else None
        if not isinstance(function, Mapping) or not isinstance(name, str) or not name:
            raise LlmError(
                LlmCode.BAD_TOOL_CALL, f"the model sent a tool call without a name: {item!r}"
            )
        args: Any = function.get("arguments") or {}
        if isinstance(args, str):
            # Some servers (and OpenAI-style proxies) send the arguments as JSON text.
            try:
                args = json.loads(args) if args.strip() else {}
            except ValueError as exc:
                raise LlmError(
                    LlmCode.BAD_TOOL_CALL,
                    f"the model called {name} with arguments that are not JSON: {args[:200]!r}",
                ) from exc
        if not isinstance(args, Mapping):
            raise LlmError(
                LlmCode.BAD_TOOL_CALL,
                f"the model called {name} with arguments that are not an object: {args!r}",
            )
        call_id = item.get("id")
        calls.append(
            ToolCall(
                name=name, arguments=dict(args), id=call_id if isinstance(call_id, str) else ""
            )
        )
    return tuple(calls)
