"""OllamaChat against FakeOllama: streaming, tool calls, health checks and every error path."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from app.core.types import ChatDelta, ChatMessage, ToolCall, ToolSpec
from app.llm.ollama import OllamaChat, model_available
from app.settings.schema import LlmSettings
from app.shared.errors import LlmError
from tests.fakes.ollama import FakeOllama, tokenize
from tests.llm.streams import HELLO, collect, failure
from tests.support.servers import free_port

MODEL = "llama3.2:3b"
CALENDAR = ToolSpec(
    "calendar_list",
    "List the events of a day",
    {
        "type": "object",
        "properties": {"day": {"type": "string", "description": "ISO date or 'today'"}},
        "required": ["day"],
    },
)


def settings_for(url: str, **kw: Any) -> LlmSettings:
    return LlmSettings(
        host=url, model=kw.pop("model", MODEL), timeout_s=kw.pop("timeout_s", 5), **kw
    )


@pytest.fixture
def fake() -> Iterator[FakeOllama]:
    with FakeOllama(models=[MODEL]) as server:
        yield server


@pytest.fixture
async def chat(fake: FakeOllama) -> AsyncIterator[OllamaChat]:
    c = OllamaChat(settings_for(fake.url))
    yield c
    await c.aclose()


# --- streaming -------------------------------------------------------------------------------


async def test_deltas_stream_in_order_and_the_first_comes_before_the_rest(
    fake: FakeOllama, chat: OllamaChat
) -> None:
    text = "Hello there, it is ten o'clock."
    gate = threading.Event()
    fake.reply(text, gate=gate, gate_after=1)
    stream = chat.stream_chat(HELLO, [])
    # The fake holds everything after the first token until the gate opens; a client that
    # buffered the response would not see this delta until the gate timed out (10 s).
    first = await asyncio.wait_for(anext(stream), timeout=5)
    assert first == ChatDelta(content="Hello")
    gate.set()
    rest = [d async for d in stream]
    assert [d.content for d in rest[:-1]] == tokenize(text)[1:]
    assert rest[-1] == ChatDelta(done=True)
    assert fake.gate_timeouts == 0


async def test_request_body_is_ollamas_format(fake: FakeOllama, chat: OllamaChat) -> None:
    messages = [ChatMessage("system", "Be brief."), ChatMessage("user", "hi")]
    deltas = await collect(chat, messages)
    assert "".join(d.content for d in deltas) == "You said: hi."
    body = fake.requests[0]
    assert body == {
        "model": MODEL,
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}],
        "stream": True,
        "keep_alive": "30m",  # the default: the model stays loaded between turns
    }


async def test_options_and_keep_alive_are_sent_when_set(fake: FakeOllama) -> None:
    chat = OllamaChat(settings_for(fake.url, temperature=0.2, keep_alive="10m"))
    try:
        await collect(chat)
    finally:
        await chat.aclose()
    body = fake.requests[0]
    assert body["options"] == {"temperature": 0.2}
    assert body["keep_alive"] == "10m"


async def test_consumer_may_stop_early(fake: FakeOllama, chat: OllamaChat) -> None:
    fake.reply("one two three four")
    stream = chat.stream_chat(HELLO, [])
    assert (await anext(stream)).content == "one"
    await stream.aclose()
    deltas = await collect(chat)  # the client is still usable
    assert deltas[-1].done


async def test_injected_client_is_used_and_not_closed(fake: FakeOllama) -> None:
    async with httpx.AsyncClient() as client:
        chat = OllamaChat(settings_for(fake.url), client=client)
        deltas = await collect(chat)
        await chat.aclose()
        assert deltas[-1].done
        assert not client.is_closed


# --- tools -----------------------------------------------------------------------------------


async def test_tool_call_round_trip(fake: FakeOllama, chat: OllamaChat) -> None:
    fake.reply_tool_call("calendar_list", {"day": "today"})
    fake.reply("You have nothing on today.")
    first = await collect(chat, [ChatMessage("user", "what's on today?")], [CALENDAR])
    calls = [c for d in first for c in d.tool_calls]
    assert calls == [ToolCall("calendar_list", {"day": "today"})]
    assert first[-1].done
    assert fake.requests[0]["tools"] == [CALENDAR.to_wire()]
    assert fake.requests[0]["tools"][0]["type"] == "function"

    history = [
        ChatMessage("user", "what's on today?"),
        ChatMessage("assistant", "", tool_calls=tuple(calls)),
        ChatMessage("tool", '{"events": []}', tool_name="calendar_list"),
    ]
    second = await collect(chat, history, [CALENDAR])
    assert "".join(d.content for d in second) == "You have nothing on today."
    sent = fake.requests[1]["messages"]
    assert sent[1] == {
        "role": "assistant",
        "content": "",
        "tool_calls": [{"function": {"name": "calendar_list", "arguments": {"day": "today"}}}],
    }
    assert sent[2] == {"role": "tool", "content": '{"events": []}', "tool_name": "calendar_list"}


async def test_several_tool_calls_and_text_before_them(fake: FakeOllama, chat: OllamaChat) -> None:
    fake.reply_tool_calls(
        [("calendar_list", {"day": "today"}), ("mail_search", {"query": "from:anna"})],
        content="Let me look.",
    )
    deltas = await collect(chat, HELLO, [CALENDAR])
    assert "".join(d.content for d in deltas) == "Let me look."
    assert [c.name for d in deltas for c in d.tool_calls] == ["calendar_list", "mail_search"]


async def test_arguments_as_a_json_string_are_accepted(fake: FakeOllama, chat: OllamaChat) -> None:
    fake.reply_tool_call("calendar_list", '{"day": "2025-06-01"}')
    deltas = await collect(chat, HELLO, [CALENDAR])
    assert [c for d in deltas for c in d.tool_calls] == [
        ToolCall("calendar_list", {"day": "2025-06-01"})
    ]


@pytest.mark.parametrize("arguments", ["{not json", "[1, 2]"])
async def test_unreadable_arguments_are_a_clear_error(
    fake: FakeOllama, chat: OllamaChat, arguments: str
) -> None:
    fake.reply_tool_call("calendar_list", arguments)
    err = await failure(chat)
    assert err.code == "llm-bad-tool-call"
    assert "calendar_list" in err.message


# --- check() ---------------------------------------------------------------------------------


async def test_check_ok_logs_ready(
    fake: FakeOllama, chat: OllamaChat, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="app.llm")  # checked once a minute: debug
    status = await chat.check()
    assert status.ok
    assert status.code == "llm-ready"
    assert f"LLM ready: model={MODEL} host={fake.url}" in caplog.messages
    assert "GET /api/tags" in fake.calls


async def test_check_model_missing_says_how_to_pull() -> None:
    with FakeOllama(models=["qwen2.5:7b"]) as fake:
        chat = OllamaChat(settings_for(fake.url))
        status = await chat.check()
        await chat.aclose()
    assert not status.ok
    assert status.code == "llm-model-missing"
    assert f"ollama pull {MODEL}" in status.message
    assert "qwen2.5:7b" in status.message


@pytest.mark.parametrize(
    ("configured", "installed", "ok"),
    [
        ("llama3.2:3b", ["llama3.2:3b"], True),
        ("llama3.2", ["llama3.2:latest"], True),
        ("llama3.2:latest", ["llama3.2"], True),
        ("llama3.2", ["llama3.2:3b"], False),
        ("llama3.2:3b", ["llama3.2:1b", "llama3.2:latest"], False),
        ("registry.local:5000/me/model", ["registry.local:5000/me/model:latest"], True),
    ],
)
def test_model_name_matching(configured: str, installed: list[str], ok: bool) -> None:
    assert model_available(configured, installed) is ok


async def test_check_untagged_model_matches_latest() -> None:
    with FakeOllama(models=["llama3.2:latest"]) as fake:
        chat = OllamaChat(settings_for(fake.url, model="llama3.2"))
        status = await chat.check()
        await chat.aclose()
    assert status.ok


async def test_unreachable_server() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    chat = OllamaChat(settings_for(url))
    status = await chat.check()
    assert not status.ok
    assert status.code == "llm-unreachable"
    assert f"Ollama at {url} did not answer" in status.message
    assert "ollama serve" in status.message
    assert "OLLAMA_HOST" in status.message
    err = await failure(chat)
    await chat.aclose()
    assert err.code == "llm-unreachable"
    assert isinstance(err.__cause__, httpx.ConnectError)


async def test_something_else_on_the_port() -> None:
    with FakeOllama() as fake:
        chat = OllamaChat(settings_for(f"{fake.url}/not-ollama"))
        status = await chat.check()
        err = await failure(chat)
        await chat.aclose()
    assert status.code == "llm-server-error"
    assert "Ollama server" in status.message
    assert err.code == "llm-server-error"


# --- errors during chat ----------------------------------------------------------------------


async def test_unknown_model_is_model_missing(fake: FakeOllama) -> None:
    chat = OllamaChat(settings_for(fake.url, model="mistral:7b"))
    err = await failure(chat)
    await chat.aclose()
    assert err.code == "llm-model-missing"
    assert "ollama pull mistral:7b" in err.message


async def test_http_error_keeps_ollamas_message(fake: FakeOllama, chat: OllamaChat) -> None:
    fake.fail(500, "llama runner process has terminated: exit status 2")
    err = await failure(chat)
    assert err.code == "llm-server-error"
    assert "llama runner process has terminated" in err.message
    assert "500" in err.message


async def test_error_in_the_middle_of_the_stream(fake: FakeOllama, chat: OllamaChat) -> None:
    fake.fail_mid_stream(2, "an error was encountered while running the model", "one two three")
    got: list[ChatDelta] = []
    err = await failure(chat, got)
    assert err.code == "llm-server-error"
    assert "an error was encountered while running the model" in err.message
    assert [d.content for d in got] == ["one", " two"]


@pytest.mark.parametrize("clean", [False, True])
async def test_cut_stream(fake: FakeOllama, chat: OllamaChat, clean: bool) -> None:
    fake.cut_stream_after(2, "one two three", clean=clean)
    got: list[ChatDelta] = []
    err = await failure(chat, got)
    assert err.code == "llm-stream-cut"
    assert [d.content for d in got] == ["one", " two"]
    assert not any(d.done for d in got)


async def test_slow_tokens_time_out() -> None:
    with FakeOllama(models=[MODEL], token_delay_s=0.5) as fake:
        fake.reply("one two three")
        chat = OllamaChat(settings_for(fake.url, timeout_s=0.1))
        got: list[ChatDelta] = []
        err = await failure(chat, got)
        await chat.aclose()
    assert err.code == "llm-timeout"
    assert "stopped sending" in err.message
    assert "HARK_LLM__TIMEOUT_S" in err.message
    assert [d.content for d in got] == ["one"]


async def test_slow_first_token_times_out() -> None:
    with FakeOllama(models=[MODEL], first_token_delay_s=0.5) as fake:
        chat = OllamaChat(settings_for(fake.url, timeout_s=0.1))
        err = await failure(chat)
        await chat.aclose()
    assert err.code == "llm-timeout"
    assert "did not start answering" in err.message


# --- bearer token ----------------------------------------------------------------------------


async def test_bearer_token_is_sent_and_never_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with FakeOllama(models=[MODEL], token="s3cret-key") as fake:
        chat = OllamaChat(settings_for(fake.url), token="s3cret-key")
        status = await chat.check()
        deltas = await collect(chat)
        await chat.aclose()
        headers = fake.headers
    assert status.ok
    assert deltas[-1].done
    assert {h.get("authorization") for h in headers} == {"Bearer s3cret-key"}
    assert "s3cret-key" not in caplog.text


@pytest.mark.parametrize("token", [None, "wrong"])
async def test_missing_or_wrong_token_is_an_auth_error(token: str | None) -> None:
    with FakeOllama(models=[MODEL], token="s3cret-key") as fake:
        chat = OllamaChat(settings_for(fake.url), token=token)
        status = await chat.check()
        err = await failure(chat)
        await chat.aclose()
    assert status.code == "llm-auth"
    assert "API key" in status.message
    assert err.code == "llm-auth"
    assert "401" in err.message


async def test_hark_server_errors_read_as_plain_messages() -> None:
    """The Hark server's own errors are OpenAI-shaped; a provisioning 503 gets its own code."""
    import httpx

    from app.core.types import ChatMessage
    from app.llm.ollama import OllamaChat
    from app.settings.schema import LlmSettings

    def handler(request: httpx.Request) -> httpx.Response:
        if request.headers.get("authorization") != "Bearer right":
            body = {"error": {"message": "missing or wrong API key", "code": "unauthorized"}}
            return httpx.Response(401, json=body)
        body = {"error": {"message": "pulling llama3.1:8b (42 %)", "code": "provisioning"}}
        return httpx.Response(503, json=body, headers={"Retry-After": "10"})

    settings = LlmSettings(host="https://hark.example:8443")
    for token, code, words in (
        ("wrong", "llm-auth", ["missing or wrong API key", "server-api-key"]),
        ("right", "llm-provisioning", ["still setting up", "pulling llama3.1:8b"]),
    ):
        client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
        chat = OllamaChat(
            settings, token=token, client=client, auth_hint="`hark secret set server-api-key`"
        )
        with pytest.raises(LlmError) as info:
            async for _ in chat.stream_chat([ChatMessage("user", "hi")], []):
                pass
        await client.aclose()
        assert info.value.code == code
        for word in words:
            assert word in info.value.message
        assert '{"error"' not in info.value.message
