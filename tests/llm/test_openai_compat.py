"""OpenAIChat against the fake server's OpenAI-compatible API (``/v1``): streaming, tool calls
in pieces, the key, the check, TLS pinning and the failures."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from app.core.types import ChatDelta, ChatMessage, ToolCall, ToolSpec
from app.llm.openai_compat import OpenAIChat, _Call, is_local, to_openai
from app.settings.schema import LlmSettings
from tests.fakes.ollama import FakeOllama
from tests.llm.streams import collect, failure
from tests.support.servers import free_port
from tests.support.tls import CertPair

MODEL = "qwen2.5:3b"
KEY = "sk-test-0123456789"
CALENDAR = ToolSpec(
    "calendar_list",
    "List the events of a day",
    {"type": "object", "properties": {"day": {"type": "string"}}, "required": ["day"]},
)


def settings_for(url: str, **kw: Any) -> LlmSettings:
    return LlmSettings(
        provider="openai",
        host=f"{url}/v1",
        model=kw.pop("model", MODEL),
        timeout_s=kw.pop("timeout_s", 5),
        **kw,
    )


@pytest.fixture
def fake() -> Iterator[FakeOllama]:
    with FakeOllama(models=[MODEL], token=KEY, tool_call_fragments=True) as server:
        yield server


@pytest.fixture
async def chat(fake: FakeOllama) -> AsyncIterator[OpenAIChat]:
    c = OpenAIChat(settings_for(fake.url), api_key=KEY)
    yield c
    await c.aclose()


async def test_streams_text_then_done(fake: FakeOllama, chat: OpenAIChat) -> None:
    fake.reply("Hello there, how can I help?")
    deltas = await collect(chat)
    assert len(deltas) > 3  # piece by piece, as written
    assert "".join(d.content for d in deltas) == "Hello there, how can I help?"
    assert deltas[-1].done
    assert not any(d.done for d in deltas[:-1])
    body = fake.requests[-1]
    assert fake.calls[-1] == "POST /v1/chat/completions"
    assert body["model"] == MODEL
    assert body["stream"] is True
    assert body["messages"] == [{"role": "user", "content": "hello"}]
    assert fake.headers[-1]["authorization"] == f"Bearer {KEY}"


async def test_tool_calls_in_pieces_come_whole_with_their_ids(
    fake: FakeOllama, chat: OpenAIChat
) -> None:
    fake.reply_tool_calls(
        [("calendar_list", {"day": "2026-12-04"}), ("calendar_list", {"day": "today"})]
    )
    deltas = await collect(chat, tools=[CALENDAR])
    calls = [c for d in deltas for c in d.tool_calls]
    assert [(c.name, dict(c.arguments)) for c in calls] == [
        ("calendar_list", {"day": "2026-12-04"}),
        ("calendar_list", {"day": "today"}),
    ]
    assert all(c.id.startswith("call_") for c in calls)
    assert calls[0].id != calls[1].id
    assert deltas[-1].done
    assert fake.requests[-1]["tools"][0]["function"]["name"] == "calendar_list"


async def test_tool_results_answer_their_calls_by_id(fake: FakeOllama, chat: OpenAIChat) -> None:
    fake.reply("You have a dentist at nine.")
    call = ToolCall("calendar_list", {"day": "today"}, id="call_abc")
    messages = [
        ChatMessage("user", "what's on today?"),
        ChatMessage("assistant", "", (call,)),
        ChatMessage("tool", '{"events": 1}', tool_name="calendar_list", tool_call_id="call_abc"),
    ]
    await collect(chat, messages, [CALENDAR])
    sent = fake.requests[-1]["messages"]
    assert sent[1] == {
        "role": "assistant",
        "content": "",  # not null: llama.cpp's Python server refuses a null content
        "tool_calls": [
            {
                "id": "call_abc",
                "type": "function",
                "function": {"name": "calendar_list", "arguments": '{"day": "today"}'},
            }
        ],
    }
    assert sent[2] == {"role": "tool", "tool_call_id": "call_abc", "content": '{"events": 1}'}


def test_calls_without_ids_get_ids_their_results_share() -> None:
    calls = (ToolCall("a", {}), ToolCall("b", {"x": 1}))
    wire = to_openai(
        [
            ChatMessage("assistant", "Checking.", calls),
            ChatMessage("tool", "1", tool_name="a"),
            ChatMessage("tool", "2", tool_name="b"),
        ]
    )
    ids = [c["id"] for c in wire[0]["tool_calls"]]
    assert len(set(ids)) == 2
    assert wire[0]["content"] == "Checking."
    assert [w["tool_call_id"] for w in wire[1:]] == ids
    assert json.loads(wire[0]["tool_calls"][1]["function"]["arguments"]) == {"x": 1}


async def test_check_says_ready(chat: OpenAIChat) -> None:
    status = await chat.check()
    assert status.ok
    assert status.message == f"{MODEL} on {chat.host} is ready"


async def test_check_names_the_models_the_server_has(fake: FakeOllama) -> None:
    chat = OpenAIChat(settings_for(fake.url, model="llama3.1:8b"), api_key=KEY)
    status = await chat.check()
    await chat.aclose()
    assert not status.ok
    assert status.code == "llm-model-missing"
    assert MODEL in status.message
    assert "HARK_LLM__MODEL" in status.message


async def test_a_wrong_key_is_refused_in_words(fake: FakeOllama) -> None:
    chat = OpenAIChat(settings_for(fake.url), api_key="sk-wrong")
    status = await chat.check()
    fake.reply("never sent")
    error = await failure(chat)
    await chat.aclose()
    assert status.code == "llm-auth"
    assert error.code == "llm-auth"
    assert "hark secret set llm-api-key" in error.message
    assert "sk-wrong" not in error.message


async def test_an_unknown_model_in_a_chat_is_model_missing(fake: FakeOllama) -> None:
    chat = OpenAIChat(settings_for(fake.url, model="mistral:7b"), api_key=KEY)
    error = await failure(chat)
    await chat.aclose()
    assert error.code == "llm-model-missing"
    assert "mistral:7b" in error.message


async def test_an_error_in_the_middle_of_the_reply(fake: FakeOllama, chat: OpenAIChat) -> None:
    fake.fail_mid_stream(2, "model runner crashed", "one two three")
    got: list[ChatDelta] = []
    error = await failure(chat, got)
    assert "".join(d.content for d in got) == "one two"
    assert error.code == "llm-server-error"
    assert "model runner crashed" in error.message


@pytest.mark.parametrize("clean", [True, False])
async def test_a_reply_cut_short_is_told(fake: FakeOllama, chat: OpenAIChat, clean: bool) -> None:
    fake.cut_stream_after(2, "one two three four", clean=clean)
    error = await failure(chat)
    assert error.code == "llm-stream-cut"


async def test_a_server_that_stops_answering_times_out(fake: FakeOllama) -> None:
    fake.first_token_delay_s = 2.0
    chat = OpenAIChat(settings_for(fake.url, timeout_s=0.2), api_key=KEY)
    error = await failure(chat)
    await chat.aclose()
    assert error.code == "llm-timeout"
    assert "HARK_LLM__TIMEOUT_S" in error.message


async def test_nothing_listening_is_unreachable_in_words() -> None:
    chat = OpenAIChat(settings_for(f"http://127.0.0.1:{free_port()}"))
    status = await chat.check()
    error = await failure(chat)
    await chat.aclose()
    assert status.code == error.code == "llm-unreachable"
    assert "the OpenAI-compatible server at http://127.0.0.1:" in error.message
    assert "base URL" in error.message


async def test_an_ollama_address_without_v1_is_told(fake: FakeOllama) -> None:
    chat = OpenAIChat(
        LlmSettings(provider="openai", host=fake.url, model=MODEL, timeout_s=5), api_key=KEY
    )
    status = await chat.check()
    await chat.aclose()
    assert not status.ok
    assert "/v1" in status.message


async def test_warm_up_asks_a_local_server_for_one_token(
    fake: FakeOllama, chat: OpenAIChat
) -> None:
    await chat.warm_up("You are Hark.", [CALENDAR])
    body = fake.requests[-1]
    assert body["max_tokens"] == 1
    assert body["stream"] is False
    assert body["messages"][0] == {"role": "system", "content": "You are Hark."}
    assert body["tools"][0]["function"]["name"] == "calendar_list"


@pytest.mark.parametrize(
    ("url", "local"),
    [
        ("http://127.0.0.1:8080/v1", True),
        ("http://localhost:1234/v1", True),
        ("http://192.168.1.20:8000/v1", True),
        ("http://gpu-box.local:8000/v1", True),
        ("https://api.openai.com/v1", False),
        ("https://openrouter.ai/api/v1", False),
    ],
)
def test_hosted_apis_are_not_warmed_up(url: str, local: bool) -> None:
    assert is_local(url) is local


async def test_pinned_certificate_over_https(server_cert: CertPair, tmp_path: Path) -> None:
    pin = tmp_path / "pin.pem"
    pin.write_text(server_cert.cert_pem, encoding="ascii")
    ctx = server_cert.server_context(tmp_path)
    with FakeOllama(models=[MODEL], token=KEY, ssl_context=ctx) as tls_fake:
        assert tls_fake.url.startswith("https://")
        tls_fake.reply("Secure hello.")
        chat = OpenAIChat(settings_for(tls_fake.url, ca_cert=pin), api_key=KEY)
        status = await chat.check()
        deltas = await collect(chat)
        await chat.aclose()
    assert status.ok
    assert "".join(d.content for d in deltas) == "Secure hello."


async def test_a_name_sent_with_every_piece_is_one_name(chat: OpenAIChat) -> None:
    # llama.cpp's Python server repeats the function's name in each delta of the call.
    calls: dict[int, _Call] = {}
    for piece in ('{"da', 'y": "to', 'day"}'):
        event = {
            "choices": [
                {
                    "index": 0,
                    "delta": {
                        "tool_calls": [
                            {
                                "index": 0,
                                "id": "call_1",
                                "function": {"name": "calendar_list", "arguments": piece},
                            }
                        ]
                    },
                    "finish_reason": None,
                }
            ]
        }
        chat._parse_event(json.dumps(event), calls)
    assert chat._assemble(calls) == (ToolCall("calendar_list", {"day": "today"}, id="call_1"),)
