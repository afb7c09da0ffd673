"""ElevenLabsVoice over HTTP against the fake ElevenLabs server (driven through the real SDK);
the WebSocket path is tests/tts/test_elevenlabs_ws.py."""

from __future__ import annotations

import logging
import socket
from collections.abc import AsyncIterator
from typing import Literal

import pytest

from app.settings.schema import ElevenLabsSettings
from app.shared.errors import TtsError
from app.tts.elevenlabs import ElevenLabsVoice
from tests.fakes.elevenlabs import DEFAULT_KEY, FakeElevenLabs
from tests.tts.voice_threads import join_voice_threads

TEXT = "Your next meeting is at three."
Format = Literal["pcm_16000", "pcm_22050", "pcm_24000"]


def _settings(fake: FakeElevenLabs, fmt: Format = "pcm_16000") -> ElevenLabsSettings:
    return ElevenLabsSettings(
        base_url=fake.url,
        voice_id="voice-abc",
        model_id="model-xyz",
        output_format=fmt,
        transport="http",
    )


def _voice(
    voices: list[ElevenLabsVoice],
    fake: FakeElevenLabs,
    key: str | None = DEFAULT_KEY,
    fmt: Format = "pcm_16000",
    **kwargs: float | int,
) -> ElevenLabsVoice:
    voice = ElevenLabsVoice(_settings(fake, fmt), key, **kwargs)  # type: ignore[arg-type]
    voices.append(voice)
    return voice


async def _collect(chunks: AsyncIterator[bytes]) -> list[bytes]:
    return [chunk async for chunk in chunks]


async def _error(voice: ElevenLabsVoice, text: str = TEXT) -> TtsError:
    with pytest.raises(TtsError) as info:
        await _collect(voice.synthesize(text))
    return info.value


@pytest.mark.parametrize(
    ("fmt", "rate"), [("pcm_16000", 16000), ("pcm_22050", 22050), ("pcm_24000", 24000)]
)
async def test_streams_the_exact_pcm_at_the_configured_rate(
    fake_elevenlabs: FakeElevenLabs, voices: list[ElevenLabsVoice], fmt: Format, rate: int
) -> None:
    voice = _voice(voices, fake_elevenlabs, fmt=fmt)
    assert voice.sample_rate == rate
    assert voice.name == "elevenlabs"

    chunks = await _collect(voice.synthesize(TEXT))

    assert b"".join(chunks) == fake_elevenlabs.pcm_for(TEXT, fmt)
    assert len(chunks) > 1
    (req,) = fake_elevenlabs.requests
    assert req.path == "/v1/text-to-speech/voice-abc/stream"
    assert req.query == {"output_format": fmt}
    assert req.body == {"text": TEXT, "model_id": "model-xyz"}


async def test_first_chunk_arrives_before_the_last_is_sent(
    fake_elevenlabs: FakeElevenLabs, voices: list[ElevenLabsVoice]
) -> None:
    resume = fake_elevenlabs.hold_after_first_chunk()
    voice = _voice(voices, fake_elevenlabs)
    expected = fake_elevenlabs.pcm_for(TEXT)
    gen = voice.synthesize(TEXT)

    first = await anext(gen)

    req = fake_elevenlabs.requests[0]
    assert not req.completed
    assert req.bytes_sent < len(expected)
    resume.set()
    rest = await _collect(gen)
    assert first + b"".join(rest) == expected
    assert req.completed


async def test_chunks_split_mid_sample_are_rejoined(
    fake_elevenlabs: FakeElevenLabs, voices: list[ElevenLabsVoice]
) -> None:
    voice = _voice(voices, fake_elevenlabs, chunk_bytes=1001)  # odd: splits samples

    chunks = await _collect(voice.synthesize(TEXT))

    assert all(len(c) % 2 == 0 for c in chunks)
    assert b"".join(chunks) == fake_elevenlabs.pcm_for(TEXT)


async def test_blank_text_makes_no_request(
    fake_elevenlabs: FakeElevenLabs, voices: list[ElevenLabsVoice]
) -> None:
    assert await _collect(_voice(voices, fake_elevenlabs).synthesize("  \n")) == []
    assert fake_elevenlabs.requests == []


async def test_no_key_is_reported_without_calling_the_service(
    fake_elevenlabs: FakeElevenLabs, voices: list[ElevenLabsVoice]
) -> None:
    err = await _error(_voice(voices, fake_elevenlabs, key=None))
    assert err.code == "tts-elevenlabs-no-key"
    assert "hark secret set elevenlabs-api-key" in err.message
    assert "ELEVENLABS_API_KEY" in err.message
    assert fake_elevenlabs.requests == []


async def test_wrong_key_is_an_auth_error(
    fake_elevenlabs: FakeElevenLabs, voices: list[ElevenLabsVoice]
) -> None:
    err = await _error(_voice(voices, fake_elevenlabs, key="wrong-key"))
    assert err.code == "tts-elevenlabs-auth"
    assert "401" in err.message
    assert "Invalid API key" in err.message
    assert "quota" not in err.message


async def test_rate_limit_mentions_retry_after(
    fake_elevenlabs: FakeElevenLabs, voices: list[ElevenLabsVoice]
) -> None:
    fake_elevenlabs.fail_next(429, headers={"Retry-After": "12"})
    err = await _error(_voice(voices, fake_elevenlabs))
    assert err.code == "tts-elevenlabs-rate-limited"
    assert "retry after 12 s" in err.message
    assert "quota" not in err.message


@pytest.mark.parametrize("status", [401, 429])
async def test_quota_exceeded_says_quota(
    fake_elevenlabs: FakeElevenLabs, voices: list[ElevenLabsVoice], status: int
) -> None:
    fake_elevenlabs.quota_exceeded_next(status)
    err = await _error(_voice(voices, fake_elevenlabs))
    expected = {401: "tts-elevenlabs-auth", 429: "tts-elevenlabs-rate-limited"}[status]
    assert err.code == expected
    assert "quota" in err.message


@pytest.mark.parametrize("status", [500, 503])
async def test_server_errors(
    fake_elevenlabs: FakeElevenLabs, voices: list[ElevenLabsVoice], status: int
) -> None:
    fake_elevenlabs.fail_next(status)
    err = await _error(_voice(voices, fake_elevenlabs))
    assert err.code == "tts-elevenlabs-server"
    assert str(status) in err.message


async def test_unknown_voice_is_a_request_error(
    fake_elevenlabs: FakeElevenLabs, voices: list[ElevenLabsVoice]
) -> None:
    fake_elevenlabs.voices = {"some-other-voice"}
    err = await _error(_voice(voices, fake_elevenlabs))
    assert err.code == "tts-elevenlabs-request"
    assert "voice_not_found" in err.message
    assert "voice_id" in err.message


async def test_unreachable_server(voices: list[ElevenLabsVoice]) -> None:
    with socket.socket() as sock:  # a port that was free a moment ago: nobody listens
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = ElevenLabsSettings(base_url=f"http://127.0.0.1:{port}")
    voice = ElevenLabsVoice(settings, DEFAULT_KEY)
    voices.append(voice)
    err = await _error(voice)
    assert err.code == "tts-elevenlabs-unreachable"
    assert f"127.0.0.1:{port}" in err.message


async def test_a_silent_server_times_out(
    fake_elevenlabs: FakeElevenLabs, voices: list[ElevenLabsVoice]
) -> None:
    fake_elevenlabs.stall_next(30)
    err = await _error(_voice(voices, fake_elevenlabs, timeout_s=0.3))
    assert err.code == "tts-elevenlabs-unreachable"
    assert "did not answer within 0.3 s" in err.message


async def test_connection_lost_mid_stream_is_unreachable_after_some_audio(
    fake_elevenlabs: FakeElevenLabs, voices: list[ElevenLabsVoice]
) -> None:
    fake_elevenlabs.drop_after_first_chunk()
    voice = _voice(voices, fake_elevenlabs)
    got: list[bytes] = []

    async def listen() -> None:
        async for chunk in voice.synthesize(TEXT):
            got.append(chunk)

    with pytest.raises(TtsError) as info:
        await listen()
    assert info.value.code == "tts-elevenlabs-unreachable"
    assert 0 < len(b"".join(got)) <= fake_elevenlabs.chunk_bytes


async def test_the_key_never_appears_in_errors_or_logs(
    fake_elevenlabs: FakeElevenLabs,
    voices: list[ElevenLabsVoice],
    caplog: pytest.LogCaptureFixture,
) -> None:
    secret = "sk_live_very_secret_1234567890"
    caplog.set_level(logging.DEBUG)
    fake_elevenlabs.valid_keys.add(secret)
    good = _voice(voices, fake_elevenlabs, key=secret)
    assert b"".join(await _collect(good.synthesize(TEXT))) == fake_elevenlabs.pcm_for(TEXT)
    fake_elevenlabs.fail_next(429)
    errors = [await _error(good)]
    fake_elevenlabs.valid_keys.discard(secret)
    errors.append(await _error(good))

    assert [e.code for e in errors] == ["tts-elevenlabs-rate-limited", "tts-elevenlabs-auth"]
    assert caplog.records  # the SDK, httpx and Hark did log
    assert secret not in caplog.text
    for err in errors:
        chain: BaseException | None = err
        while chain is not None:
            assert secret not in str(chain)
            assert secret not in repr(chain)
            chain = chain.__cause__
    assert all(secret not in str(r.headers) for r in fake_elevenlabs.requests)


async def test_closing_early_stops_the_worker(
    fake_elevenlabs: FakeElevenLabs, voices: list[ElevenLabsVoice]
) -> None:
    fake_elevenlabs.chunk_delay_s = 0.02  # the full answer would take about four seconds
    text = "word " * 150
    assert len(fake_elevenlabs.pcm_for(text)) > 200 * fake_elevenlabs.chunk_bytes
    resume = fake_elevenlabs.hold_after_first_chunk()
    voice = _voice(voices, fake_elevenlabs)
    gen = voice.synthesize(text)

    assert await anext(gen)
    await gen.aclose()
    resume.set()

    join_voice_threads(timeout=2.0)
    req = fake_elevenlabs.requests[0]
    assert req.done.wait(2.0)
    assert not req.completed
