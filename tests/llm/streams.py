"""Running a chat model's stream in tests: all its deltas, or the error it must end in."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from app.core.ports import ChatModel
from app.core.types import ChatDelta, ChatMessage, ToolSpec
from app.shared.errors import LlmError

HELLO = [ChatMessage("user", "hello")]


async def collect(
    chat: ChatModel, messages: Sequence[ChatMessage] = HELLO, tools: Sequence[ToolSpec] = ()
) -> list[ChatDelta]:
    return [d async for d in chat.stream_chat(messages, tools)]


async def failure(chat: ChatModel, into: list[ChatDelta] | None = None) -> LlmError:
    """Run a chat that must fail; return the LlmError (deltas before it go to ``into``)."""
    got = [] if into is None else into
    try:
        async for delta in chat.stream_chat(HELLO, []):
            got.append(delta)
    except LlmError as exc:
        return exc
    pytest.fail(f"the chat did not fail; it gave {got}")
