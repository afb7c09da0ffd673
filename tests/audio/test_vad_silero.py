"""The endpointer with Silero behind webrtcvad (``audio.silero_vad``): noise that webrtcvad
takes for speech starts no turn; speech, a one-word command included, still does."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from app.audio.silero import load_silero_gate
from app.audio.vad import Endpointer
from app.core.events import SpeechStarted
from app.settings.schema import AudioSettings
from tests.audio.sound import Speech
from tests.audio.test_vad import CALENDAR, run, scene, starts, utts
from tests.bench.vad_compare import NOISES, to_pcm

NOISY = ("keyboard", "music", "clicks")


@pytest.mark.parametrize("name", NOISY)
def test_noise_that_webrtcvad_calls_speech_starts_no_turn_with_silero(name: str) -> None:
    n = 6 * 16_000
    pcm = to_pcm(NOISES[name](n, -30.0, 7))
    without = run(Endpointer(), pcm)
    assert starts(without), f"webrtcvad alone should take this {name} for speech"
    with_gate = run(Endpointer(gate=load_silero_gate()), pcm)
    assert starts(with_gate) == []
    assert utts(with_gate) == []


@pytest.mark.parametrize("text", [CALENDAR, "Stop.", "Yes."])
def test_speech_still_makes_one_utterance_at_its_true_bounds(
    speech: Callable[[str], Speech], text: str
) -> None:
    pcm, [(true_start, true_end)] = scene([1.0, speech(text), 1.5])
    events = run(Endpointer(gate=load_silero_gate()), pcm)
    [utt] = utts(events)
    [started] = [e for _, e in events if isinstance(e, SpeechStarted)]
    assert abs(started.at_s - true_start) < 0.15
    assert true_end - 0.12 < utt.end_s < true_end + 0.2


def test_the_setting_puts_silero_in_and_takes_it_out() -> None:
    on = Endpointer.from_settings(AudioSettings(end_of_turn="silence"))
    off = Endpointer.from_settings(AudioSettings(end_of_turn="silence", silero_vad=False))
    assert on.gate is not None
    assert on.gate.threshold == 0.5
    assert off.gate is None
