"""The fitted window: real tiny.en on Piper's speech, its checks, and the standard way after."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import numpy as np
import pytest

from app.asr import local, short_window
from app.asr.local import LocalWhisper, speech_only
from app.asr.short_window import compression_ratio, decode_short, repeats, window_s
from tests.support.speech import speech_clip, tiny_settings, words

PHRASES = [
    "What is on my calendar tomorrow morning?",
    "Send a message to Tom saying I am running late.",
    "Turn it off.",
    "Yes.",
    "Remind me to call Peter at five, and book a table for two at the Italian place near the "
    "office on Friday evening.",
]


def floats(pcm: bytes) -> np.ndarray:
    return np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0


def test_window_fits_the_speech_with_a_floor_and_a_ceiling() -> None:
    assert window_s(1.0) == short_window.MIN_WINDOW_S
    assert window_s(14.0) == 15.0
    assert window_s(short_window.MAX_SPEECH_S) == short_window.MAX_SPEECH_S + 1.0
    assert window_s(short_window.MAX_SPEECH_S + 0.1) is None


@pytest.mark.parametrize(
    ("text", "looped"),
    [
        ("Turn it off. Turn it off.", True),
        ("Yes? Yes? Yes?", True),
        ("Send a message to Tom saying I am late. Send a message to Tom", True),
        ("Turn it off.", False),
        ("No, no, I said the blue one.", False),  # a word twice is speech, not a loop
        ("Book a table for two at the place near the office.", False),
        ("", False),
    ],
)
def test_repeats_finds_decoding_loops(text: str, looped: bool) -> None:
    assert repeats(text) is looped


def test_compression_ratio_of_a_loop_is_high() -> None:
    assert compression_ratio("Turn it off. " * 12) > short_window.MAX_COMPRESSION
    assert compression_ratio("What is on my calendar tomorrow morning?") < 2.0


@pytest.mark.slow
@pytest.mark.parametrize("phrase", PHRASES)
async def test_fitted_window_hears_what_the_standard_window_hears(
    tiny_en_dir: Path, phrase: str
) -> None:
    fitted = LocalWhisper(tiny_settings(tiny_en_dir))
    standard = LocalWhisper(tiny_settings(tiny_en_dir, fitted_window=False))
    clip = speech_clip(phrase, lead_silence_s=0.3, trail_silence_s=0.4)
    got, want = await asyncio.gather(
        fitted.transcribe(clip.pcm, 16_000), standard.transcribe(clip.pcm, 16_000)
    )
    assert words(got.text) == words(want.text)
    assert got.language == "en"
    assert got.no_speech_prob is not None
    assert got.no_speech_prob < 0.6


@pytest.mark.slow
async def test_fitted_window_is_the_one_used_and_is_faster(
    whisper: LocalWhisper, monkeypatch: pytest.MonkeyPatch
) -> None:
    clip = speech_clip("What is on my calendar tomorrow morning?")
    results: list[object] = []

    def watched(*args: object, **kwargs: object) -> object:
        results.append(decode_short(*args, **kwargs))  # type: ignore[arg-type]
        return results[-1]

    monkeypatch.setattr(local, "decode_short", watched)
    heard = await whisper.transcribe(clip.pcm, 16_000)
    assert len(results) == 1
    assert results[0] is not None
    assert words(heard.text) == words(results[0].text)  # type: ignore[attr-defined]
    model = whisper._model
    speech = speech_only(floats(clip.pcm))
    assert speech is not None
    decoded = decode_short(model, speech, "en", beam_size=1)
    assert decoded is not None
    assert words(decoded.text) == ["what", "is", "on", "my", "calendar", "tomorrow", "morning"]

    def best_of(n: int, run: object) -> float:
        times = []
        for _ in range(n):
            started = time.perf_counter()
            run()  # type: ignore[operator]
            times.append(time.perf_counter() - started)
        return min(times)

    fitted = best_of(3, lambda: decode_short(model, speech, "en", 1))
    standard = best_of(
        3,
        lambda: list(model.transcribe(speech, language="en", beam_size=1, vad_filter=False)[0]),
    )
    assert fitted < standard  # a tenth of the window: the encoder's work shrinks with it


@pytest.mark.slow
async def test_a_loop_in_the_fitted_window_is_decoded_again_the_standard_way(
    whisper: LocalWhisper, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A 2 s window makes tiny.en loop on a short answer (its result fails the checks); the
    # transcript must still be the answer, once.
    clip = speech_clip("Turn it off.", lead_silence_s=0.3, trail_silence_s=0.4)
    speech = speech_only(floats(clip.pcm))
    assert speech is not None
    monkeypatch.setattr(short_window, "MIN_WINDOW_S", 2.0)
    assert decode_short(whisper._model, speech, "en", 1) is None
    result = await whisper.transcribe(clip.pcm, 16_000)
    assert words(result.text) == ["turn", "it", "off"]


@pytest.mark.slow
async def test_long_speech_takes_the_standard_window(
    whisper: LocalWhisper, monkeypatch: pytest.MonkeyPatch
) -> None:
    clip = speech_clip(PHRASES[-1])
    speech = speech_only(floats(clip.pcm))
    assert speech is not None
    monkeypatch.setattr(short_window, "MAX_SPEECH_S", 1.0)
    assert decode_short(whisper._model, speech, "en", 1) is None
    result = await whisper.transcribe(clip.pcm, 16_000)
    assert {"peter", "table", "friday", "evening"} <= set(words(result.text))
