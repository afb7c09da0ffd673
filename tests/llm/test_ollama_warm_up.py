"""OllamaChat.warm_up against the fake Ollama: the model is loaded and the system prompt
evaluated before the first turn, which then pays for neither; a failed warm-up says why."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.core.types import ChatMessage, ToolSpec
from app.llm.ollama import OllamaChat
from app.settings.schema import LlmSettings
from app.shared.errors import LlmError
from tests.fakes.ollama import FakeOllama
from tests.support.servers import closed_port

MODEL = "llama3.2:3b"
SYSTEM = "You are Hark, a voice assistant."
CALENDAR = ToolSpec(
    "calendar_list",
    "List the events of a day",
    {"type": "object", "properties": {"day": {"type": "string"}}, "required": ["day"]},
)


@pytest.fixture
def fake() -> Iterator[FakeOllama]:
    with FakeOllama(models=[MODEL]) as server:
        yield server


async def test_warm_up_loads_the_model_and_its_prompt_for_the_first_turn(
    fake: FakeOllama,
) -> None:
    chat = OllamaChat(LlmSettings(host=fake.url, model=MODEL, timeout_s=5, temperature=0.3))
    try:
        await chat.warm_up(SYSTEM, [CALENDAR])
        assert (fake.residency.loads, fake.residency.prefills) == (1, 1)
        body = fake.warmups[0]
        assert body["messages"] == [{"role": "system", "content": SYSTEM}]
        assert [t["function"]["name"] for t in body["tools"]] == ["calendar_list"]
        assert body["options"] == {"temperature": 0.3, "num_predict": 1}
        assert body["stream"] is False
        assert body["keep_alive"] == "30m"
        turn = [ChatMessage("system", SYSTEM), ChatMessage("user", "hi")]
        deltas = [d async for d in chat.stream_chat(turn, [CALENDAR])]
    finally:
        await chat.aclose()
    assert "".join(d.content for d in deltas) == "You said: hi."
    assert (fake.residency.loads, fake.residency.prefills) == (1, 1)  # nothing more to do
    assert fake.requests[0]["keep_alive"] == "30m"


async def test_keep_alive_is_sent_as_set_and_left_out_when_empty(fake: FakeOllama) -> None:
    for value, sent in ((-1, -1), ("", None), ("2h", "2h")):
        chat = OllamaChat(LlmSettings(host=fake.url, model=MODEL, keep_alive=value))
        try:
            await chat.warm_up(SYSTEM)
        finally:
            await chat.aclose()
        assert fake.warmups[-1].get("keep_alive") == sent


async def test_a_warm_up_that_cannot_reach_ollama_raises_unreachable() -> None:
    with closed_port() as port:
        chat = OllamaChat(LlmSettings(host=f"http://127.0.0.1:{port}", timeout_s=2))
        try:
            with pytest.raises(LlmError) as info:
                await chat.warm_up(SYSTEM)
        finally:
            await chat.aclose()
    assert info.value.code == "llm-unreachable"
    assert f"127.0.0.1:{port}" in info.value.message


async def test_a_warm_up_for_a_model_not_pulled_says_so(fake: FakeOllama) -> None:
    chat = OllamaChat(LlmSettings(host=fake.url, model="mistral:7b", timeout_s=5))
    try:
        with pytest.raises(LlmError) as info:
            await chat.warm_up(SYSTEM)
    finally:
        await chat.aclose()
    assert info.value.code == "llm-model-missing"
    assert "ollama pull mistral:7b" in info.value.message
