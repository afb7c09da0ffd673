"""The official ``openai`` and ``ollama`` clients work through the whole edge.

Caddy (TLS, a self-signed certificate the clients pin) → uvicorn → the Hark server app →
FakeOllama upstream, and real Whisper tiny.en on Piper speech. The clients carry the API key
(``openai``: its own ``api_key``; ``ollama``: an ``Authorization`` header) and trust only the
pinned certificate.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import ollama
import openai
import pytest

from tests.fakes.ollama import FakeOllama
from tests.remote.load.edge import MODEL, Edge
from tests.remote.server.harness import wav_bytes
from tests.support.speech import speak_native, words

SENTENCE = "Please remind me to call my mother tomorrow."

CALENDAR_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "calendar_list",
        "description": "List the events of one day",
        "parameters": {
            "type": "object",
            "properties": {"day": {"type": "string"}},
            "required": ["day"],
        },
    },
}


@pytest.fixture
def openai_client(edge: Edge) -> Iterator[openai.OpenAI]:
    http = httpx.Client(verify=edge.ssl_context(), timeout=60)
    client = openai.OpenAI(
        api_key=edge.key, base_url=f"{edge.url}/v1", http_client=http, max_retries=0
    )
    try:
        yield client
    finally:
        client.close()
        http.close()


@pytest.fixture
def ollama_client(edge: Edge) -> Iterator[ollama.Client]:
    client = ollama.Client(host=edge.url, headers=edge.auth, verify=edge.ssl_context(), timeout=30)
    try:
        yield client
    finally:
        client.close()


@pytest.mark.slow
def test_openai_client_transcribes_through_the_edge(openai_client: openai.OpenAI) -> None:
    pcm, rate = speak_native(SENTENCE)
    result = openai_client.audio.transcriptions.create(
        model="whisper-1", file=("speech.wav", wav_bytes(pcm, rate), "audio/wav")
    )
    assert words(result.text) == words(SENTENCE)


def test_openai_client_streams_a_chat_completion(
    fake: FakeOllama, openai_client: openai.OpenAI
) -> None:
    fake.reply("Lunch with Sam is at half past twelve.")
    stream = openai_client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "When is lunch?"}], stream=True
    )
    pieces, finish = [], []
    for chunk in stream:
        for choice in chunk.choices:
            pieces.append(choice.delta.content or "")
            finish.append(choice.finish_reason)
    assert "".join(pieces) == "Lunch with Sam is at half past twelve."
    assert finish[-1] == "stop"


def test_ollama_client_streams_a_chat(fake: FakeOllama, ollama_client: ollama.Client) -> None:
    fake.reply("Your first meeting is at nine thirty.")
    parts = list(
        ollama_client.chat(
            model=MODEL, messages=[{"role": "user", "content": "What is first?"}], stream=True
        )
    )
    assert len(parts) > 3, "the reply came in one piece, not streamed"
    assert (
        "".join(p.message.content or "" for p in parts) == "Your first meeting is at nine thirty."
    )
    assert [p.done for p in parts] == [False] * (len(parts) - 1) + [True]
    # The key is ours: the server must not pass it on to Ollama.
    assert fake.headers, "the fake saw no request"
    assert all("authorization" not in h for h in fake.headers)


def test_ollama_client_tool_call_round_trip(fake: FakeOllama, ollama_client: ollama.Client) -> None:
    fake.reply_tool_call("calendar_list", {"day": "today"})
    fake.reply("You have a stand-up at nine and a review at three.")
    messages: list[Any] = [{"role": "user", "content": "What is on today?"}]

    parts = list(
        ollama_client.chat(model=MODEL, messages=messages, tools=[CALENDAR_TOOL], stream=True)
    )
    calls = [call for p in parts for call in (p.message.tool_calls or [])]
    assert [(c.function.name, dict(c.function.arguments)) for c in calls] == [
        ("calendar_list", {"day": "today"})
    ]
    assert parts[-1].done

    messages.append(ollama.Message(role="assistant", content="", tool_calls=calls))
    messages.append(
        {"role": "tool", "content": "09:00 stand-up; 15:00 review", "tool_name": "calendar_list"}
    )
    parts = list(
        ollama_client.chat(model=MODEL, messages=messages, tools=[CALENDAR_TOOL], stream=True)
    )
    text = "".join(p.message.content or "" for p in parts)
    assert text == "You have a stand-up at nine and a review at three."

    sent = fake.requests[-1]
    assert sent["tools"][0]["function"]["name"] == "calendar_list"
    assert sent["messages"][-2]["tool_calls"][0]["function"]["name"] == "calendar_list"
    assert sent["messages"][-1] == {
        "role": "tool",
        "content": "09:00 stand-up; 15:00 review",
        "tool_name": "calendar_list",
    }


def test_clients_without_the_key_or_the_pin_are_refused(edge: Edge) -> None:
    keyless = ollama.Client(host=edge.url, verify=edge.ssl_context(), timeout=10)
    try:
        with pytest.raises(ollama.ResponseError) as refused:
            keyless.list()
        assert refused.value.status_code == 401
    finally:
        keyless.close()

    wrong = openai.OpenAI(
        api_key="hark-wrong-key-0123456789abcdefghij",
        base_url=f"{edge.url}/v1",
        http_client=httpx.Client(verify=edge.ssl_context(), timeout=10),
        max_retries=0,
    )
    try:
        with pytest.raises(openai.AuthenticationError):
            wrong.models.list()
    finally:
        wrong.close()

    unpinned = openai.OpenAI(api_key=edge.key, base_url=f"{edge.url}/v1", timeout=10, max_retries=0)
    try:
        with pytest.raises(openai.APIConnectionError) as failed:
            unpinned.models.list()
        assert "CERTIFICATE_VERIFY_FAILED" in repr(failed.value.__cause__)
    finally:
        unpinned.close()
