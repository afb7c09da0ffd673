"""The limits and the engine's parts on their own: queue, rate limiter, model names, decoding."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from app.shared.errors import AsrError
from remote.server.audio import decode_audio
from remote.server.limits import QueueFull, RateLimiter, TranscriptionQueue
from remote.server.settings import ServerSettings, resolve_whisper_model
from remote.server.whisper import TranscribeOptions, WhisperEngine
from tests.remote.server.harness import wav_bytes
from tests.support.clocks import ManualClock
from tests.support.speech import speak_16k


async def test_queue_admits_running_plus_waiting_then_refuses() -> None:
    queue = TranscriptionQueue(concurrency=1, max_waiting=1)
    release = asyncio.Event()
    running = asyncio.Event()

    async def job(trying: asyncio.Event | None = None) -> None:
        if trying is not None:
            trying.set()  # the waiter wakes only after this task blocks inside slot()
        async with queue.slot():
            running.set()
            await release.wait()

    first = asyncio.create_task(job())
    await running.wait()
    trying = asyncio.Event()
    second = asyncio.create_task(job(trying))
    await trying.wait()
    assert (queue.running, queue.waiting) == (1, 1)
    with pytest.raises(QueueFull) as info:
        async with queue.slot():
            pytest.fail("a third job must not get in")
    assert info.value.retry_after_s >= 1
    release.set()
    await asyncio.gather(first, second)
    assert (queue.running, queue.waiting) == (0, 0)


async def test_a_cancelled_waiter_gives_its_place_back() -> None:
    queue = TranscriptionQueue(concurrency=1, max_waiting=1)
    release = asyncio.Event()
    running = asyncio.Event()

    async def job(trying: asyncio.Event | None = None) -> None:
        if trying is not None:
            trying.set()  # the waiter wakes only after this task blocks inside slot()
        async with queue.slot():
            running.set()
            await release.wait()

    first = asyncio.create_task(job())
    await running.wait()
    trying = asyncio.Event()
    waiter = asyncio.create_task(job(trying))
    await trying.wait()
    assert queue.waiting == 1
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert queue.waiting == 0
    release.set()
    await first
    async with queue.slot():
        assert queue.running == 1


def test_rate_limiter_refills_evenly() -> None:
    clock = ManualClock()
    limiter = RateLimiter(per_minute=60, clock=clock)
    assert all(limiter.acquire("k") == 0 for _ in range(60))
    assert limiter.acquire("k") == pytest.approx(1.0)
    assert limiter.acquire("other") == 0
    clock.advance(0.5)
    assert limiter.acquire("k") == pytest.approx(0.5)
    clock.advance(0.5)
    assert limiter.acquire("k") == 0
    clock.advance(3600)
    assert sum(limiter.acquire("k") == 0 for _ in range(100)) == 60  # never more than a minute


def test_auto_model_names() -> None:
    assert resolve_whisper_model("auto", "cuda") == "large-v3-turbo"
    assert resolve_whisper_model("AUTO", "cpu") == "base.en"
    assert resolve_whisper_model(" small ", "cuda") == "small"
    engine = WhisperEngine(ServerSettings(whisper_device="cpu"))
    assert engine.status().model == "base.en"
    assert engine.status().state == "unloaded"


async def test_an_unknown_model_name_fails_clearly_without_the_network() -> None:
    engine = WhisperEngine(ServerSettings(whisper_model="tiny-but-wrong", whisper_device="cpu"))
    with pytest.raises(AsrError) as info:
        await engine.transcribe(wav_bytes(speak_16k("hello there"), 16_000), TranscribeOptions())
    assert info.value.code == "whisper-unavailable"
    assert "tiny-but-wrong" in info.value.message
    assert "tiny.en" in info.value.message  # names the valid choices
    assert engine.status().state == "failed"


def test_decode_rejects_what_is_not_audio(tmp_path: Path) -> None:
    with pytest.raises(AsrError) as empty:
        decode_audio(b"", 60)
    assert empty.value.code == "bad-audio"
    with pytest.raises(AsrError) as junk:
        decode_audio(bytes(range(256)) * 8, 60)
    assert junk.value.code == "bad-audio"
    audio = decode_audio(wav_bytes(speak_16k("hello there"), 16_000), 60)
    assert audio.dtype.name == "float32"
    assert 0.3 < len(audio) / 16_000 < 3
    with pytest.raises(AsrError) as long:
        decode_audio(wav_bytes(speak_16k("hello there"), 16_000), 0.2)
    assert long.value.code == "too-large"
