"""Contract test: the official ``ollama`` client must accept everything FakeOllama sends.

If one of these fails after a client upgrade, the fake has drifted from the real server: fix
the fake, not the test.
"""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import ollama
import openai
import pytest
from openai.lib.streaming.chat import ChatCompletionStreamState

from tests.fakes.ollama import FakeOllama, tokenize

MODEL = "llama3.2:3b"
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "description": "City name"}},
            "required": ["city"],
        },
    },
}


def _collect(client: ollama.Client, into: list[str]) -> None:
    """Stream a reply into ``into`` piece by piece (so a test sees what came before an error)."""
    for part in client.chat(MODEL, messages=[{"role": "user", "content": "x"}], stream=True):
        into.append(part.message.content or "")


@pytest.fixture
def fake() -> Iterator[FakeOllama]:
    with FakeOllama(models=[MODEL, "qwen2.5:latest"]) as server:
        yield server


# Loading a CA bundle costs ~0.1 s per client; the fake speaks plain http, so share one.
_TLS = ssl.create_default_context()


@pytest.fixture
def client(fake: FakeOllama) -> Iterator[ollama.Client]:
    c = ollama.Client(host=fake.url, timeout=10, verify=_TLS)
    yield c
    c.close()


def test_streamed_chat_parses_into_pieces_and_a_done_object(
    fake: FakeOllama, client: ollama.Client
) -> None:
    fake.reply("It is sunny in Paris, 21 degrees.")
    parts = list(
        client.chat(
            MODEL,
            messages=[{"role": "user", "content": "weather?"}],
            tools=[WEATHER_TOOL],
            stream=True,
        )
    )
    assert [p.message.content for p in parts[:-1]] == tokenize("It is sunny in Paris, 21 degrees.")
    assert all(p.done is False and p.model == MODEL for p in parts[:-1])
    last = parts[-1]
    assert last.done is True
    assert last.done_reason == "stop"
    assert last.message.role == "assistant"
    assert last.total_duration is not None
    assert last.total_duration > 0
    assert last.eval_count == len(parts) - 1
    assert last.created_at is not None
    assert last.created_at.endswith("Z")
    # The client's own request body was accepted and recorded as sent.
    body = fake.requests[0]
    assert body["model"] == MODEL
    assert body["stream"] is True
    assert body["tools"][0]["function"]["name"] == "get_weather"


def test_whole_reply_without_streaming(fake: FakeOllama, client: ollama.Client) -> None:
    fake.reply("Hello there.")
    resp = client.chat(MODEL, messages=[{"role": "user", "content": "hi"}], stream=False)
    assert resp.done is True
    assert resp.message.content == "Hello there."


def test_default_reply_echoes_the_user(client: ollama.Client) -> None:
    resp = client.chat(MODEL, messages=[{"role": "user", "content": "ping"}])
    assert resp.message.content == "You said: ping."


def test_tool_calls_parse_into_the_clients_types(fake: FakeOllama, client: ollama.Client) -> None:
    fake.reply_tool_calls([("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Oslo"})])
    parts = list(
        client.chat(
            MODEL,
            messages=[{"role": "user", "content": "weather in Paris and Oslo"}],
            tools=[WEATHER_TOOL],
            stream=True,
        )
    )
    calls = [c for p in parts for c in (p.message.tool_calls or [])]
    assert [c.function.name for c in calls] == ["get_weather", "get_weather"]
    assert [dict(c.function.arguments) for c in calls] == [{"city": "Paris"}, {"city": "Oslo"}]
    assert parts[-1].done is True


def test_tool_results_are_accepted_back(fake: FakeOllama, client: ollama.Client) -> None:
    fake.reply("It is 21 degrees.")
    messages = [
        {"role": "user", "content": "weather?"},
        ollama.Message(
            role="assistant",
            content="",
            tool_calls=[
                ollama.Message.ToolCall(
                    function=ollama.Message.ToolCall.Function(
                        name="get_weather", arguments={"city": "Paris"}
                    )
                )
            ],
        ),
        {"role": "tool", "content": '{"temp_c": 21}', "tool_name": "get_weather"},
    ]
    resp = client.chat(MODEL, messages=messages, tools=[WEATHER_TOOL])
    assert resp.message.content == "It is 21 degrees."
    sent = fake.requests[0]["messages"]
    assert sent[1]["tool_calls"][0]["function"] == {
        "name": "get_weather",
        "arguments": {"city": "Paris"},
    }
    assert sent[2] == {"role": "tool", "content": '{"temp_c": 21}', "tool_name": "get_weather"}


def test_list_and_show_parse(client: ollama.Client) -> None:
    listed = client.list()
    assert [m.model for m in listed.models] == [MODEL, "qwen2.5:latest"]
    first = listed.models[0]
    assert first.size is not None
    assert int(first.size) > 0
    assert first.modified_at is not None
    assert first.modified_at.tzinfo is not None
    assert first.digest is not None
    assert len(first.digest) == 64
    assert first.details is not None
    assert first.details.format == "gguf"
    shown = client.show(MODEL)
    assert shown.capabilities is not None
    assert "tools" in shown.capabilities
    assert shown.details is not None
    assert shown.details.family == "llama"


def test_untagged_name_means_latest(client: ollama.Client) -> None:
    assert client.show("qwen2.5").modelfile is not None
    resp = client.chat("qwen2.5", messages=[{"role": "user", "content": "hi"}])
    assert resp.message.content == "You said: hi."


def test_version_endpoint(fake: FakeOllama) -> None:
    # ollama-python 0.6 has no version() call; the endpoint is checked with plain httpx.
    resp = httpx.get(f"{fake.url}/api/version", timeout=5, verify=_TLS)
    assert resp.status_code == 200
    assert resp.json() == {"version": fake.version}


@pytest.mark.parametrize("stream", [False, True])
def test_unknown_model_is_a_404_response_error(client: ollama.Client, stream: bool) -> None:
    def ask() -> object:
        result = client.chat(
            "mistral:7b", messages=[{"role": "user", "content": "hi"}], stream=stream
        )
        return list(result) if stream else result

    with pytest.raises(ollama.ResponseError) as info:
        ask()
    assert info.value.status_code == 404
    assert info.value.error == "model 'mistral:7b' not found"


def test_show_unknown_model_is_a_404(client: ollama.Client) -> None:
    with pytest.raises(ollama.ResponseError) as info:
        client.show("nope:1b")
    assert info.value.status_code == 404


def test_scripted_http_error(fake: FakeOllama, client: ollama.Client) -> None:
    fake.fail(500, "llama runner process has terminated")
    with pytest.raises(ollama.ResponseError) as info:
        client.chat(MODEL, messages=[{"role": "user", "content": "hi"}])
    assert info.value.status_code == 500
    assert info.value.error == "llama runner process has terminated"


def test_error_in_the_middle_of_a_stream(fake: FakeOllama, client: ollama.Client) -> None:
    fake.fail_mid_stream(2, "an error was encountered while running the model", "one two three")
    got: list[str] = []
    with pytest.raises(ollama.ResponseError) as info:
        _collect(client, got)
    assert got == ["one", " two"]
    assert "error was encountered" in info.value.error


def test_cut_stream_breaks_the_client(fake: FakeOllama, client: ollama.Client) -> None:
    fake.cut_stream_after(1, "one two three")
    got: list[str] = []
    with pytest.raises(httpx.RemoteProtocolError):
        _collect(client, got)
    assert got == ["one"]


def test_bad_body_is_a_400(fake: FakeOllama) -> None:
    resp = httpx.post(f"{fake.url}/api/chat", content=b"{not json", timeout=5, verify=_TLS)
    assert resp.status_code == 400
    assert "error" in resp.json()
    resp = httpx.post(f"{fake.url}/api/chat", json={"messages": []}, timeout=5, verify=_TLS)
    assert resp.status_code == 400
    assert resp.json() == {"error": "model is required"}


def test_bearer_token_required_when_set() -> None:
    with FakeOllama(models=[MODEL], token="k-123") as fake:
        bare = ollama.Client(host=fake.url, timeout=5, verify=_TLS)
        with pytest.raises(ollama.ResponseError) as info:
            bare.list()
        assert info.value.status_code == 401
        keyed = ollama.Client(
            host=fake.url, timeout=5, verify=_TLS, headers={"Authorization": "Bearer k-123"}
        )
        assert [m.model for m in keyed.list().models] == [MODEL]
        bare.close()
        keyed.close()


def test_gate_holds_the_stream_until_set(fake: FakeOllama, client: ollama.Client) -> None:
    gate = threading.Event()
    fake.reply("first second third", gate=gate, gate_after=1)
    stream = client.chat(MODEL, messages=[{"role": "user", "content": "x"}], stream=True)
    first = next(iter(stream))
    assert first.message.content == "first"
    assert not gate.is_set()
    gate.set()
    rest = [p.message.content for p in stream]
    assert rest[:-1] == [" second", " third"]
    assert fake.gate_timeouts == 0


# --- the OpenAI-compatible API (/v1), checked with the official openai client ------------------


@pytest.fixture
def oai(fake: FakeOllama) -> Iterator[openai.OpenAI]:
    c = openai.OpenAI(api_key="ollama", base_url=f"{fake.url}/v1", timeout=10, max_retries=0)
    yield c
    c.close()


def test_openai_models_list(oai: openai.OpenAI) -> None:
    models = list(oai.models.list())
    assert [m.id for m in models] == [MODEL, "qwen2.5:latest"]
    assert all(m.object == "model" and m.owned_by == "library" for m in models)
    assert all(m.created > 0 for m in models)


def test_openai_chat_whole(fake: FakeOllama, oai: openai.OpenAI) -> None:
    fake.reply("Bonjour à tous.")
    resp = oai.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "salut"}])
    assert resp.object == "chat.completion"
    assert resp.choices[0].message.content == "Bonjour à tous."
    assert resp.choices[0].finish_reason == "stop"
    assert resp.usage is not None
    assert resp.usage.completion_tokens == len(tokenize("Bonjour à tous."))
    assert fake.requests[-1]["messages"] == [{"role": "user", "content": "salut"}]


def test_openai_chat_streams_deltas_then_done(fake: FakeOllama, oai: openai.OpenAI) -> None:
    fake.reply("It is sunny in Paris.")
    stream = oai.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "weather?"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text_chunks = [c for c in chunks if c.choices and c.choices[0].delta.content]
    assert [c.choices[0].delta.content for c in text_chunks] == tokenize("It is sunny in Paris.")
    finals = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert [c.choices[0].finish_reason for c in finals] == ["stop"]
    assert chunks[-1].usage is not None
    assert chunks[-1].choices == []
    assert len({c.id for c in chunks}) == 1


def test_openai_tool_call_whole_and_streamed(fake: FakeOllama, oai: openai.OpenAI) -> None:
    fake.reply_tool_call("get_weather", {"city": "Paris"})
    fake.reply_tool_call("get_weather", {"city": "Oslo"})
    msgs: Any = [{"role": "user", "content": "weather in Paris?"}]
    tools: Any = [WEATHER_TOOL]
    whole = oai.chat.completions.create(model=MODEL, messages=msgs, tools=tools)
    call = whole.choices[0].message.tool_calls
    assert call is not None
    assert whole.choices[0].finish_reason == "tool_calls"
    assert call[0].type == "function"
    assert call[0].function.name == "get_weather"
    assert json.loads(call[0].function.arguments) == {"city": "Paris"}
    assert call[0].id.startswith("call_")
    streamed = list(
        oai.chat.completions.create(model=MODEL, messages=msgs, tools=tools, stream=True)
    )
    calls = [tc for c in streamed if c.choices for tc in c.choices[0].delta.tool_calls or []]
    assert len(calls) == 1
    assert calls[0].function is not None
    assert calls[0].function.name == "get_weather"
    assert json.loads(calls[0].function.arguments or "") == {"city": "Oslo"}
    assert [c.choices[0].finish_reason for c in streamed if c.choices][-1] == "tool_calls"


def test_openai_tool_calls_in_fragments_assemble_with_the_official_client(
    fake: FakeOllama, oai: openai.OpenAI
) -> None:
    # As OpenAI, vLLM and llama.cpp stream them: the id and name first, the arguments in pieces.
    fake.tool_call_fragments = True
    fake.reply_tool_calls(
        [("get_weather", {"city": "Paris", "unit": "celsius"}), ("get_weather", {"city": "Oslo"})]
    )
    msgs: Any = [{"role": "user", "content": "weather in Paris and Oslo?"}]
    tools: Any = [WEATHER_TOOL]
    chunks = list(oai.chat.completions.create(model=MODEL, messages=msgs, tools=tools, stream=True))
    pieces = [tc for c in chunks if c.choices for tc in c.choices[0].delta.tool_calls or []]
    assert len(pieces) > 4  # in fragments, not whole
    state = ChatCompletionStreamState()
    for chunk in chunks:
        state.handle_chunk(chunk)
    final = state.get_final_completion()
    calls = final.choices[0].message.tool_calls or []
    assert [c.function.name for c in calls] == ["get_weather", "get_weather"]  # type: ignore[union-attr]
    arguments = [json.loads(c.function.arguments) for c in calls]  # type: ignore[union-attr]
    assert arguments == [{"city": "Paris", "unit": "celsius"}, {"city": "Oslo"}]
    assert len({c.id for c in calls}) == 2
    assert final.choices[0].finish_reason == "tool_calls"


def test_openai_unknown_model_is_not_found(oai: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        oai.chat.completions.create(model="mistral:7b", messages=[{"role": "user", "content": "x"}])
    assert info.value.status_code == 404
    body: Any = info.value.body
    assert body["type"] == "not_found_error"
    assert "mistral:7b" in body["message"]


def _collect_openai(oai: openai.OpenAI, into: list[str]) -> None:
    for chunk in oai.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "x"}], stream=True
    ):
        into.append(chunk.choices[0].delta.content or "")


def test_openai_error_in_the_middle_of_a_stream(fake: FakeOllama, oai: openai.OpenAI) -> None:
    fake.fail_mid_stream(2, "model runner crashed", "one two three")
    got: list[str] = []
    with pytest.raises(openai.APIError) as info:
        _collect_openai(oai, got)
    assert got == ["one", " two"]
    assert "model runner crashed" in info.value.message
