"""Hark's language model client and reply loop against a real model: SmolLM2-135M-Instruct,
served by llama.cpp's OpenAI-compatible server (:mod:`tests.llm.real_server`)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pytest

from app.core.conversation import Conversation
from app.core.pipeline import PipelineOptions, VoicePipeline
from app.core.tools import ToolRegistry, register_builtin_tools
from app.core.types import ChatMessage, ToolSpec
from app.llm.openai_compat import OpenAIChat
from app.settings.schema import LlmSettings
from tests.core.scripted import MemorySink, Recorder
from tests.llm.real_server import RealServer
from tests.llm.streams import collect

pytestmark = pytest.mark.slow


def settings(server: RealServer) -> LlmSettings:
    return LlmSettings(
        provider="openai", host=server.url, model=server.model, timeout_s=60, temperature=0.0
    )


class FirstRoundCalls(OpenAIChat):
    """The real client, but the request that follows the user's words names the tool in
    ``tool_choice``: a 135M model does not choose tools well by itself, and the point here is
    the call's way through Hark, not the model's judgement."""

    def __init__(self, settings: LlmSettings, tool: str) -> None:
        super().__init__(settings)
        self.tool = tool

    def _body(self, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec]) -> dict[str, Any]:
        body = super()._body(messages, tools)
        if tools and messages[-1].role == "user":
            body["tool_choice"] = {"type": "function", "function": {"name": self.tool}}
        return body


async def test_the_real_model_answers_in_a_stream(real_llm: RealServer) -> None:
    chat = OpenAIChat(settings(real_llm))
    try:
        status = await chat.check()
        deltas = await collect(chat, [ChatMessage("user", "Say hello to Anna.")])
    finally:
        await chat.aclose()
    assert status.ok, status.message
    text = "".join(d.content for d in deltas)
    assert len([d for d in deltas if d.content]) > 2  # streamed piece by piece
    assert text.strip()
    assert deltas[-1].done


async def test_a_tool_call_of_the_real_model_is_run_and_answered(real_llm: RealServer) -> None:
    chat = FirstRoundCalls(settings(real_llm), "get_current_time")
    tools = ToolRegistry()
    register_builtin_tools(tools)
    recorder = Recorder()
    pipeline = VoicePipeline(
        chat=chat,
        tools=tools,
        conversation=Conversation("You are Hark, a helpful assistant.", 2),
        sink=MemorySink(),
        emit=recorder,
        options=PipelineOptions(max_tool_rounds=1),
    )
    try:
        result = await pipeline.run_text("What time is it?")
    finally:
        await chat.aclose()
    assert result.error_code is None, result.error_message
    assert [c.name for c in result.tool_calls] == ["get_current_time"]
    assert "weekday" in json.loads(result.tool_calls[0].result)
    assert result.reply.strip()  # the model wrote its answer after reading the result
