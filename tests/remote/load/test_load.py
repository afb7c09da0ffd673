"""Load through the whole edge: bursts of transcriptions and streamed chats, loopback only.

Every request must be answered: a transcription either succeeds with the words of its own clip
or is refused with the documented 503 ``busy`` and a ``Retry-After``; every streamed chat
arrives whole, in order, ending with one ``done`` line.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from app.shared.protocol import TRANSCRIPTIONS_PATH, ErrorCode
from tests.fakes.ollama import FakeOllama, default_reply, tokenize
from tests.remote.load.edge import CONCURRENCY, MAX_QUEUE, MODEL, Edge
from tests.remote.server.harness import wav_bytes
from tests.support.speech import speak_native, words

SENTENCES = (
    "The quick brown fox jumps over the lazy dog.",
    "Please remind me to call my mother tomorrow.",
    "What is the weather like in Paris today?",
    "Turn off the lights in the kitchen.",
    "My meeting with the design team starts at noon.",
    "Send a short message to Sam about dinner.",
    "How long does it take to boil an egg?",
    "Remind me to water the plants this evening.",
)
CHATS = 20


def _client(edge: Edge) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=edge.url,
        headers=edge.auth,
        verify=edge.ssl_context(),
        timeout=httpx.Timeout(60, connect=10),
        limits=httpx.Limits(max_connections=64),
    )


async def _transcribe(client: httpx.AsyncClient, audio: bytes) -> httpx.Response:
    return await client.post(
        TRANSCRIPTIONS_PATH,
        files={"file": ("speech.wav", audio, "audio/wav")},
        data={"model": "whisper-1"},
    )


@pytest.mark.slow
async def test_a_burst_of_transcriptions_is_served_or_refused_busy(edge: Edge) -> None:
    assert len(SENTENCES) > CONCURRENCY + MAX_QUEUE
    clips = [wav_bytes(*speak_native(s)) for s in SENTENCES]
    async with _client(edge) as client:
        answers = await asyncio.gather(
            *(_transcribe(client, clip) for clip in clips), return_exceptions=True
        )
        failures = [a for a in answers if isinstance(a, BaseException)]
        assert not failures, f"requests went unanswered: {failures!r}"

        refused = []
        for sentence, answer in zip(SENTENCES, answers, strict=True):
            assert isinstance(answer, httpx.Response)
            if answer.status_code == 503:
                body: Any = answer.json()
                assert body["error"]["code"] == ErrorCode.BUSY
                assert int(answer.headers["Retry-After"]) >= 1
                refused.append(sentence)
            else:
                assert answer.status_code == 200, answer.text
                assert words(answer.json()["text"]) == words(sentence)
        served = len(SENTENCES) - len(refused)
        assert refused, "the queue never filled: the burst did not meet 503 busy"
        assert 1 <= served <= CONCURRENCY + MAX_QUEUE

        # Nothing is lost: once the burst is over, every refused clip is served on its turn.
        for sentence in refused:
            again = await _transcribe(client, clips[SENTENCES.index(sentence)])
            assert again.status_code == 200, again.text
            assert words(again.json()["text"]) == words(sentence)


async def _chat(client: httpx.AsyncClient, message: str) -> list[dict[str, Any]]:
    body = {"model": MODEL, "messages": [{"role": "user", "content": message}], "stream": True}
    lines = []
    async with client.stream("POST", "/api/chat", json=body) as response:
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("application/x-ndjson")
        async for line in response.aiter_lines():
            if line.strip():
                lines.append(json.loads(line))
    return lines


async def test_concurrent_streamed_chats_arrive_whole_and_in_order(
    edge: Edge, fake: FakeOllama
) -> None:
    fake.first_token_delay_s = 0.02
    fake.token_delay_s = 0.002
    # Nothing is scripted, so the fake answers "You said: <message>.": each stream has its own
    # reply, and a token that strayed into another stream would show.
    messages = [f"stream {i} " + " ".join(f"w{i}x{j}" for j in range(40)) for i in range(CHATS)]
    async with _client(edge) as client:
        results = await asyncio.gather(
            *(_chat(client, m) for m in messages), return_exceptions=True
        )
    failures = [r for r in results if isinstance(r, BaseException)]
    assert not failures, f"streams failed: {failures!r}"
    for message, lines in zip(messages, results, strict=True):
        assert isinstance(lines, list)
        expected = default_reply({"messages": [{"role": "user", "content": message}]})
        assert not [line for line in lines if "error" in line], lines
        assert [line["done"] for line in lines] == [False] * (len(lines) - 1) + [True]
        tokens = [line["message"]["content"] for line in lines[:-1]]
        assert tokens == tokenize(expected)  # nothing lost, duplicated or reordered
        assert "".join(tokens) == expected
        assert all(line["model"] == MODEL for line in lines)
