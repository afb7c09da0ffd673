from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from app.core.conversation import Conversation
from app.core.tools import ToolRegistry, register_builtin_tools
from app.core.types import ToolCall, ToolSpec
from app.shared.errors import ToolError


async def test_clock_tool_answers_from_the_injected_clock():
    reg = ToolRegistry()
    tz = timezone(timedelta(hours=1), "CET")
    register_builtin_tools(reg, now=lambda: datetime(2026, 11, 23, 14, 5, tzinfo=tz))
    result = await reg.call(ToolCall("get_current_time", {}))
    data = json.loads(result.content)
    assert result.ok
    assert data == {
        "iso": "2026-11-23T14:05:00+01:00",
        "date": "2026-11-23",
        "weekday": "Monday",
        "time": "14:05",
        "timezone": "CET",
    }
    assert reg.specs()[0].to_wire()["function"]["name"] == "get_current_time"


async def test_tool_errors_go_back_to_the_model_as_data():
    reg = ToolRegistry()

    async def broken(args):
        raise ToolError("tool-x", "the calendar said no")

    async def buggy(args):
        raise ZeroDivisionError

    reg.register(ToolSpec("a", "a", {"type": "object", "required": ["when"]}), broken)
    reg.register(ToolSpec("b", "b"), buggy)
    missing = await reg.call(ToolCall("a", {}))
    assert not missing.ok
    assert "when" in json.loads(missing.content)["error"]
    refused = await reg.call(ToolCall("a", {"when": "now"}))
    assert json.loads(refused.content) == {"error": "the calendar said no"}
    crashed = await reg.call(ToolCall("b", {}))
    assert not crashed.ok
    assert "ZeroDivisionError" in crashed.content


def test_a_tool_name_is_registered_once():
    reg = ToolRegistry()
    register_builtin_tools(reg)
    with pytest.raises(ValueError, match="already registered"):
        register_builtin_tools(reg)


def test_conversation_keeps_the_last_n_exchanges():
    c = Conversation("sys", max_turns=2)
    for i in range(3):
        c.remember(f"q{i}", f"a{i}")
    c.remember("ignored", "")
    assert [m.content for m in c.messages_for("now")] == ["sys", "q1", "a1", "q2", "a2", "now"]
    assert Conversation("sys", 0).messages_for("x")[-1].content == "x"
