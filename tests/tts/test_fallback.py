"""FallbackVoice: the real ElevenLabsVoice (against the fake service) in front of local voices."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from app.settings.schema import ElevenLabsSettings
from app.shared.errors import TtsError
from app.tts.elevenlabs import ElevenLabsVoice
from app.tts.espeak import EspeakVoice
from app.tts.fallback import FallbackVoice
from app.tts.piper import PiperLocalVoice
from tests.fakes.elevenlabs import DEFAULT_KEY, FakeElevenLabs
from tests.support.clocks import ManualClock
from tests.support.notices import Notices

S1 = "Good morning."
S2 = "You have two meetings today."
S3 = "The first one is at nine."


@dataclass
class ToneVoice:
    """A local voice stand-in with exactly known output: 440 Hz, 50 ms per character."""

    rate: int = 22050
    spoken: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return "tone"

    @property
    def sample_rate(self) -> int:
        return self.rate

    async def synthesize(self, text: str) -> AsyncIterator[bytes]:
        self.spoken.append(text)
        n = int(self.rate * 0.05 * len(text))
        t = np.arange(n) / self.rate
        pcm = np.round(np.sin(2 * np.pi * 440 * t) * 8000).astype("<i2").tobytes()
        for start in range(0, len(pcm), 3001):  # odd sizes: chunks split samples
            yield pcm[start : start + 3001]


@pytest.fixture(scope="module")
def piper() -> PiperLocalVoice:
    return PiperLocalVoice()


@pytest.fixture
def primaries(fake_elevenlabs: FakeElevenLabs) -> Iterator[list[ElevenLabsVoice]]:
    made: list[ElevenLabsVoice] = []
    yield made
    for voice in made:
        voice.close()


def _eleven(
    made: list[ElevenLabsVoice], fake: FakeElevenLabs, key: str | None = DEFAULT_KEY
) -> ElevenLabsVoice:
    # over HTTP: these tests use its answers (Retry-After); tests/tts/test_elevenlabs_ws.py
    # has the fallback behind the WebSocket
    voice = ElevenLabsVoice(ElevenLabsSettings(base_url=fake.url, transport="http"), key)
    made.append(voice)
    return voice


async def _say(voice: FallbackVoice, text: str) -> bytes:
    return b"".join([c async for c in voice.synthesize(text)])


@pytest.mark.slow
async def test_bad_key_piper_speaks_one_notice_and_the_primary_is_skipped(
    fake_elevenlabs: FakeElevenLabs, primaries: list[ElevenLabsVoice], piper: PiperLocalVoice
) -> None:
    notices = Notices()
    voice = FallbackVoice(_eleven(primaries, fake_elevenlabs, key="revoked"), piper, notices)
    assert voice.name == "elevenlabs"
    assert voice.sample_rate == 16000

    first = await _say(voice, S1)
    assert voice.name == "elevenlabs→piper"
    second = await _say(voice, S2)

    assert len(fake_elevenlabs.requests) == 1  # tried once, then left alone
    assert not voice.primary_available()
    assert [code for code, _ in notices.got] == ["tts-elevenlabs-auth"]
    assert "piper" in notices.got[0][1]
    for pcm in (first, second):  # real speech, at the primary's 16 kHz
        x = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
        assert 0.4 < len(x) / 16000 < 5.0
        assert np.sqrt(np.mean(x**2)) > 300
    assert len(second) > len(first)


async def test_rate_limit_falls_back_then_retries_after_the_cooldown(
    fake_elevenlabs: FakeElevenLabs, primaries: list[ElevenLabsVoice]
) -> None:
    clock, notices, tone = ManualClock(), Notices(), ToneVoice(rate=16000)
    voice = FallbackVoice(
        _eleven(primaries, fake_elevenlabs), tone, notices, cooldown_s=60, clock=clock
    )
    fake_elevenlabs.fail_next(429, headers={"Retry-After": "30"})

    await _say(voice, S1)
    clock.now += 59
    await _say(voice, S2)
    assert tone.spoken == [S1, S2]
    assert len(fake_elevenlabs.requests) == 1
    assert voice.name == "elevenlabs→tone"

    clock.now += 2  # the cool-down is over
    third = await _say(voice, S3)
    assert third == fake_elevenlabs.pcm_for(S3)
    assert len(fake_elevenlabs.requests) == 2
    assert voice.name == "elevenlabs"
    assert voice.last_error is None
    assert [code for code, _ in notices.got] == ["tts-elevenlabs-rate-limited"]
    assert "retry after 30 s" in notices.got[0][1]


async def test_notice_once_per_distinct_failure(
    fake_elevenlabs: FakeElevenLabs, primaries: list[ElevenLabsVoice]
) -> None:
    clock, notices = ManualClock(), Notices()
    voice = FallbackVoice(
        _eleven(primaries, fake_elevenlabs), ToneVoice(16000), notices, clock=clock
    )
    for status in (429, 503, 429):
        fake_elevenlabs.fail_next(status)
        await _say(voice, S1)
        clock.now += 61
    assert [c for c, _ in notices.got] == ["tts-elevenlabs-rate-limited", "tts-elevenlabs-server"]


async def test_fallback_audio_is_resampled_to_the_primary_rate(
    fake_elevenlabs: FakeElevenLabs, primaries: list[ElevenLabsVoice]
) -> None:
    voice = FallbackVoice(_eleven(primaries, fake_elevenlabs, key=None), ToneVoice(22050), None)

    pcm = await _say(voice, "x" * 20)  # one second of tone at 22,050 Hz

    y = np.frombuffer(pcm, dtype="<i2")
    assert voice.sample_rate == 16000
    assert abs(len(y) - 16000) < 80
    peak_hz = np.argmax(np.abs(np.fft.rfft(y))) * 16000 / len(y)
    assert abs(peak_hz - 440) < 3
    assert fake_elevenlabs.requests == []  # no key: nothing was sent


async def test_without_a_fallback_the_error_is_raised_and_not_retried(
    fake_elevenlabs: FakeElevenLabs, primaries: list[ElevenLabsVoice]
) -> None:
    notices = Notices()
    voice = FallbackVoice(_eleven(primaries, fake_elevenlabs, key="wrong"), None, notices)
    for _ in range(2):
        with pytest.raises(TtsError) as info:
            await _say(voice, S1)
        assert info.value.code == "tts-elevenlabs-auth"
    assert len(fake_elevenlabs.requests) == 1
    assert notices.got == []  # the error itself reaches the user


async def test_failure_mid_sentence_is_not_spoken_twice(
    fake_elevenlabs: FakeElevenLabs, primaries: list[ElevenLabsVoice]
) -> None:
    tone, notices = ToneVoice(16000), Notices()
    voice = FallbackVoice(_eleven(primaries, fake_elevenlabs), tone, notices)
    fake_elevenlabs.drop_after_first_chunk()

    partial = await _say(voice, S2)
    assert 0 < len(partial) < len(fake_elevenlabs.pcm_for(S2))
    assert fake_elevenlabs.pcm_for(S2).startswith(partial)
    assert tone.spoken == []  # the broken sentence is not repeated by the fallback

    await _say(voice, S3)
    assert tone.spoken == [S3]
    assert len(fake_elevenlabs.requests) == 1
    assert [c for c, _ in notices.got] == ["tts-elevenlabs-unreachable"]


async def test_when_both_voices_fail_the_fallback_error_is_raised(
    fake_elevenlabs: FakeElevenLabs, primaries: list[ElevenLabsVoice], tmp_path: Path
) -> None:
    broken = EspeakVoice(binary=str(tmp_path / "espeak-ng"))
    voice = FallbackVoice(_eleven(primaries, fake_elevenlabs, key=None), broken, Notices())
    with pytest.raises(TtsError) as info:
        await _say(voice, S1)
    assert info.value.code == "tts-espeak-missing"


async def test_closing_mid_sentence_stops_the_primary(
    fake_elevenlabs: FakeElevenLabs, primaries: list[ElevenLabsVoice]
) -> None:
    tone = ToneVoice(16000)
    voice = FallbackVoice(_eleven(primaries, fake_elevenlabs), tone, None)
    fake_elevenlabs.chunk_delay_s = 0.02
    resume = fake_elevenlabs.hold_after_first_chunk()
    gen = voice.synthesize("word " * 150)
    assert await anext(gen)
    await gen.aclose()
    resume.set()
    req = fake_elevenlabs.requests[0]
    assert req.done.wait(3.0)
    assert not req.completed
    assert tone.spoken == []
    assert voice.primary_available()  # stopping is not a failure
