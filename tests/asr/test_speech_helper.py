"""The shared test-speech helper (tests/support/speech.py): real Piper speech, its true bounds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.support.speech import (
    RATE,
    active_bounds,
    dbfs,
    noise,
    read_wav,
    silence,
    speak_16k,
    speak_native,
    speech_clip,
    words,
    write_wav,
)


def test_speak_16k_is_cached_16k_speech() -> None:
    pcm = speak_16k("What time is it?")
    assert speak_16k("What time is it?") is pcm  # made once per process
    native, rate = speak_native("What time is it?")
    assert rate == 22_050
    assert len(pcm) / 2 / RATE == pytest.approx(len(native) / 2 / rate, abs=0.01)
    assert dbfs(pcm) > -30  # real, loud speech, not silence


def test_speech_clip_bounds_are_where_the_speech_is() -> None:
    clip = speech_clip("Schedule a meeting with Alice tomorrow.", 0.5, 1.0)
    speech_len = len(speak_16k("Schedule a meeting with Alice tomorrow.")) / 2 / RATE
    assert clip.duration_s == pytest.approx(0.5 + speech_len + 1.0)
    assert 0.5 <= clip.speech_start_s < 0.5 + 0.3
    assert 0.5 + speech_len - 0.3 < clip.speech_end_s <= 0.5 + speech_len
    start, end = 2 * int(clip.speech_start_s * RATE), 2 * int(clip.speech_end_s * RATE)
    assert not any(clip.pcm[: 2 * int(0.5 * RATE)])  # the lead is digital silence
    assert dbfs(clip.pcm[:start]) < -55  # at most a faint breath outside the bounds
    assert dbfs(clip.pcm[end:]) < -55
    assert dbfs(clip.pcm[start:end]) > -30  # and loud speech inside them
    assert dbfs(clip.pcm[start : start + 3200]) > -45  # right from the start
    assert active_bounds(clip.pcm) == pytest.approx((clip.speech_start_s, clip.speech_end_s))


def test_speech_clip_with_noise_keeps_clean_bounds() -> None:
    clean = speech_clip("Good morning.")
    noisy = speech_clip("Good morning.", noise_dbfs=-40, seed=1)
    assert (noisy.speech_start_s, noisy.speech_end_s) == (clean.speech_start_s, clean.speech_end_s)
    lead = noisy.pcm[: int(0.4 * RATE) * 2]
    assert dbfs(lead) == pytest.approx(-40, abs=0.5)
    assert noisy.pcm != speech_clip("Good morning.", noise_dbfs=-40, seed=2).pcm
    assert noisy.pcm == speech_clip("Good morning.", noise_dbfs=-40, seed=1).pcm


@pytest.mark.parametrize("color", ["white", "pink"])
def test_noise_has_the_asked_level(color: str) -> None:
    pcm = noise(2.0, dbfs=-30, color=color, seed=4)  # type: ignore[arg-type]
    assert len(pcm) == 2 * 2 * RATE
    assert dbfs(pcm) == pytest.approx(-30, abs=0.2)


def test_pink_noise_is_darker_than_white() -> None:
    def low_share(pcm: bytes) -> float:
        power = np.abs(np.fft.rfft(np.frombuffer(pcm, dtype="<i2").astype(np.float64))) ** 2
        cut = len(power) * 500 // (RATE // 2)  # below 500 Hz
        return float(power[:cut].sum() / power.sum())

    assert low_share(noise(2.0, color="pink")) > 3 * low_share(noise(2.0, color="white"))


def test_silence_and_dbfs() -> None:
    assert silence(0.5) == bytes(RATE)
    assert dbfs(silence(0.5)) == float("-inf")
    with pytest.raises(ValueError, match="-45 dBFS"):
        active_bounds(silence(0.5))


def test_wav_round_trip(tmp_path: Path) -> None:
    pcm = speak_16k("Hello.")
    path = write_wav(tmp_path / "hello.wav", pcm, RATE)
    assert read_wav(path) == (pcm, RATE)


def test_words() -> None:
    assert words(" Schedule a meeting with Alice, tomorrow!") == [
        "schedule",
        "a",
        "meeting",
        "with",
        "alice",
        "tomorrow",
    ]
    assert words("What's on?") == ["what's", "on"]
