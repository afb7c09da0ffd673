"""The text of two rounds of a reply (before and after a tool call) is two sentences."""

from __future__ import annotations

from app.core.events import ReplyTextReceived
from app.core.types import ChatDelta, ToolCall
from tests.core.scripted import ScriptedChat, make


async def test_text_before_and_after_a_tool_call_is_parted_by_a_space() -> None:
    chat = ScriptedChat(
        [
            ChatDelta("Let me check."),
            ChatDelta(tool_calls=(ToolCall("get_current_time", {}),)),
            ChatDelta(done=True),
        ],
        [ChatDelta("It is noon."), ChatDelta(done=True)],
    )
    pipe, rec, _ = make(chat)
    result = await pipe.run_text("what time is it?")
    assert result.reply == "Let me check. It is noon."
    shown = "".join(e.text for e in rec.events if isinstance(e, ReplyTextReceived))
    assert shown == "Let me check. It is noon."


async def test_a_round_that_starts_with_a_space_gets_no_second_one() -> None:
    chat = ScriptedChat(
        [
            ChatDelta("Checking."),
            ChatDelta(tool_calls=(ToolCall("get_current_time", {}),)),
            ChatDelta(done=True),
        ],
        [ChatDelta(" Noon."), ChatDelta(done=True)],
    )
    pipe, _, _ = make(chat)
    assert (await pipe.run_text("time?")).reply == "Checking. Noon."
