"""The endpointer on real speech (Piper's voice) placed in silence with a little noise.

Each scene knows where its speech truly starts and ends, so utterance times are checked against
the truth. webrtcvad keeps calling a frame or three after speech "voiced" (its own hangover),
so an utterance may end up to ~150 ms after the audible end, never much before it.
"""

from __future__ import annotations

import itertools
import wave
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest
import webrtcvad

from app.audio.capture import WavFileSource
from app.audio.resample import resample_pcm
from app.audio.utterances import utterances
from app.audio.vad import Endpointer, VadEvent
from app.core.events import SpeechStarted
from app.core.types import FRAME_BYTES, SAMPLE_RATE, Utterance
from app.settings.schema import AudioSettings
from app.shared.errors import AudioError
from tests.audio.sound import Speech, frames_of, noise

CALENDAR = "What is on my calendar tomorrow?"
MESSAGE = "Send a message to Alice saying I will be late."
WEATHER = "Will it rain in Lisbon this afternoon, and should I take an umbrella?"

Scene = tuple[bytes, list[tuple[float, float]]]


def scene(parts: Sequence[Speech | float | bytes], level: float = 60.0, seed: int = 0) -> Scene:
    """Silences (seconds), phrases and raw PCM in a row, over low noise; and where the phrases
    truly are, in seconds."""
    pieces: list[np.ndarray] = []
    bounds: list[tuple[float, float]] = []
    at = 0
    for part in parts:
        if isinstance(part, float | int):
            piece = np.zeros(round(part * SAMPLE_RATE), dtype=np.int32)
        else:
            raw = part.pcm if isinstance(part, Speech) else part
            piece = np.frombuffer(raw, dtype="<i2").astype(np.int32)
            if isinstance(part, Speech):
                bounds.append((at / SAMPLE_RATE, (at + len(piece)) / SAMPLE_RATE))
        pieces.append(piece)
        at += len(piece)
    total = np.concatenate(pieces) + noise(at / SAMPLE_RATE, level, seed)[:at]
    return np.clip(total, -32768, 32767).astype("<i2").tobytes(), bounds


def run(ep: Endpointer, pcm: bytes, flush: bool = True) -> list[tuple[float, VadEvent]]:
    """Feed a scene; each event comes with the stream time at which it was reported."""
    events: list[tuple[float, VadEvent]] = []
    for frame in frames_of(pcm):
        found = ep.feed(frame)
        events += [(ep.time_s, e) for e in found]
    if flush and (last := ep.flush()) is not None:
        events.append((ep.time_s, last))
    return events


def utts(events: list[tuple[float, VadEvent]]) -> list[Utterance]:
    return [e for _, e in events if isinstance(e, Utterance)]


def starts(events: list[tuple[float, VadEvent]]) -> list[SpeechStarted]:
    return [e for _, e in events if isinstance(e, SpeechStarted)]


def at(pcm: bytes, start_s: float, end_s: float) -> bytes:
    return pcm[round(start_s * SAMPLE_RATE) * 2 : round(end_s * SAMPLE_RATE) * 2]


def test_one_phrase_is_one_utterance_at_the_true_bounds(speech: Callable[[str], Speech]) -> None:
    pcm, [(true_start, true_end)] = scene([1.0, speech(CALENDAR), 1.5])
    ep = Endpointer(preroll_ms=300, hangover_ms=450)

    events = run(ep, pcm)

    [started] = starts(events)
    [utt] = utts(events)
    assert abs(started.at_s - true_start) <= 0.1
    assert abs(utt.start_s + 0.3 - true_start) <= 0.1  # the pre-roll comes before the speech
    assert -0.1 <= utt.end_s - true_end <= 0.15
    assert abs(utt.endpoint_delay_s - 0.45) <= 0.04
    # The audio is the stream from start_s: pre-roll, all the speech, and webrtcvad's few
    # frames of overhang after end_s (kept so that no soft final sound is clipped).
    spoken = at(pcm, utt.start_s, utt.end_s)
    assert utt.pcm[: len(spoken)] == spoken
    assert utt.pcm == at(pcm, utt.start_s, utt.start_s + len(utt.pcm) / 2 / SAMPLE_RATE)
    assert 0 <= len(utt.pcm) - len(spoken) <= 4 * 960
    lead = np.frombuffer(utt.pcm[: int(0.25 * SAMPLE_RATE) * 2], dtype="<i2")
    assert np.abs(lead).max() < 1000  # the quiet moment before the first word
    # Events come in order: the start (confirmed after min_speech_ms), then the end.
    times = [t for t, _ in events]
    assert isinstance(events[0][1], SpeechStarted)
    assert true_start + 0.2 <= times[0] <= true_start + 0.45
    assert times[1] == pytest.approx(utt.detected_s)


@pytest.mark.parametrize("preroll_ms", [0, 600])
def test_pre_roll_is_as_long_as_configured(
    speech: Callable[[str], Speech], preroll_ms: int
) -> None:
    pcm, [(true_start, _)] = scene([1.5, speech(CALENDAR), 1.0])
    [utt] = utts(run(Endpointer(preroll_ms=preroll_ms), pcm))
    assert abs(utt.start_s + preroll_ms / 1000 - true_start) <= 0.1


@pytest.mark.parametrize("hangover_ms", [300, 900])
def test_endpoint_delay_is_the_hangover(speech: Callable[[str], Speech], hangover_ms: int) -> None:
    pcm, [(_, true_end)] = scene([0.5, speech(MESSAGE), 1.5])
    [utt] = utts(run(Endpointer(hangover_ms=hangover_ms), pcm))
    assert abs(utt.endpoint_delay_s - hangover_ms / 1000) <= 0.04
    assert -0.1 <= utt.end_s - true_end <= 0.15


def test_two_phrases_with_a_pause_are_two_utterances(speech: Callable[[str], Speech]) -> None:
    pcm, bounds = scene([0.6, speech(CALENDAR), 2.0, speech(MESSAGE), 1.0], seed=1)
    events = run(Endpointer(), pcm)
    found = utts(events)
    assert len(found) == 2
    assert len(starts(events)) == 2
    for utt, (true_start, true_end) in zip(found, bounds, strict=True):
        assert abs(utt.start_s + 0.3 - true_start) <= 0.1
        assert -0.1 <= utt.end_s - true_end <= 0.15


def test_a_click_is_not_speech_but_a_longer_burst_is(speech: Callable[[str], Speech]) -> None:
    voice = np.frombuffer(speech(CALENDAR).pcm, dtype="<i2")
    loudest = int(np.argmax(np.abs(voice)))
    burst = voice[max(0, loudest - 640) : max(0, loudest - 640) + 1280].tobytes()  # 80 ms
    pcm, _ = scene([1.0, burst, 1.0])

    assert run(Endpointer(min_speech_ms=240), pcm) == []
    # The same burst does count as speech once it is long enough for the setting:
    assert len(utts(run(Endpointer(min_speech_ms=30), pcm))) == 1


def test_a_lone_voiced_frame_does_not_start_speech(speech: Callable[[str], Speech]) -> None:
    voice = speech(CALENDAR).pcm
    frame = next(f for f in frames_of(voice) if webrtcvad.Vad(2).is_speech(f, SAMPLE_RATE))
    pcm, _ = scene([0.9, frame, 0.9])
    ep = Endpointer(min_speech_ms=30)
    seen_speech = False
    for f in frames_of(pcm):
        assert ep.feed(f) == []
        seen_speech |= ep.in_speech
    assert not seen_speech
    assert ep.flush() is None


def test_noise_alone_is_silence() -> None:
    pcm, _ = scene([5.0], level=120.0, seed=3)
    assert run(Endpointer(), pcm) == []


def test_max_utterance_splits_long_speech(speech: Callable[[str], Speech]) -> None:
    parts: list[Speech | float] = [
        0.5,
        speech(WEATHER),
        0.2,
        speech(MESSAGE),
        0.2,
        speech(CALENDAR),
        1.0,
    ]
    pcm, bounds = scene(parts)
    assert len(utts(run(Endpointer(), pcm))) == 1  # short pauses alone do not end it

    pieces = utts(run(Endpointer(max_utterance_s=2.0), pcm))

    assert len(pieces) >= 3
    assert all(p.duration_s <= 2.0 + 1e-9 for p in pieces)
    for before, after in itertools.pairwise(pieces):
        assert after.start_s == pytest.approx(before.detected_s)  # nothing lost in between
    assert pieces[0].start_s <= bounds[0][0]
    assert pieces[-1].end_s >= bounds[-1][1] - 0.1


def test_flush_ends_speech_cut_off_by_the_end_of_the_stream(
    speech: Callable[[str], Speech],
) -> None:
    pcm, [(true_start, true_end)] = scene([0.5, speech(CALENDAR)])
    ep = Endpointer()
    events = run(ep, pcm, flush=False)
    assert utts(events) == []
    speaking = [ep.in_speech]

    utt = ep.flush()

    speaking.append(ep.in_speech)
    assert speaking == [True, False]
    assert utt is not None
    assert abs(utt.start_s + 0.3 - true_start) <= 0.1
    assert abs(utt.end_s - true_end) <= 0.15
    assert utt.detected_s == pytest.approx(ep.time_s)
    assert ep.flush() is None


def test_reset_forgets_speech_in_progress(speech: Callable[[str], Speech]) -> None:
    pcm, _ = scene([0.5, speech(CALENDAR)])
    ep = Endpointer()
    frames = frames_of(pcm)
    for f in frames[: len(frames) * 3 // 4]:
        ep.feed(f)
    speaking = [ep.in_speech]
    before = ep.time_s

    ep.reset()

    speaking.append(ep.in_speech)
    assert speaking == [True, False]
    assert ep.flush() is None
    assert ep.time_s == before  # the clock keeps running
    ep.feed(bytes(FRAME_BYTES))
    assert ep.time_s == pytest.approx(before + 0.03)


@pytest.mark.parametrize("size", [0, 320, 959, 961, 2 * FRAME_BYTES])
def test_frames_of_the_wrong_size_are_refused(size: int) -> None:
    with pytest.raises(AudioError) as err:
        Endpointer().feed(bytes(size))
    assert err.value.code == "audio-frame-size"
    assert str(FRAME_BYTES) in err.value.message


def test_built_from_the_audio_settings() -> None:
    settings = AudioSettings(
        vad_aggressiveness=3,
        preroll_ms=200,
        hangover_ms=600,
        min_speech_ms=300,
        max_utterance_s=12.0,
    )
    ep = Endpointer.from_settings(settings)
    assert (ep.aggressiveness, ep.preroll_ms, ep.hangover_ms, ep.min_speech_ms) == (
        3,
        200,
        600,
        300,
    )
    assert ep.max_utterance_s == 12.0


@pytest.mark.parametrize("kwargs", [{"aggressiveness": 4}, {"hangover_ms": 10}])
def test_bad_settings_are_refused(kwargs: dict[str, int]) -> None:
    with pytest.raises(AudioError) as err:
        Endpointer(**kwargs)
    assert err.value.code == "audio-vad-settings"


async def test_utterances_from_a_wav_file(tmp_path: Path, speech: Callable[[str], Speech]) -> None:
    pcm, bounds = scene([0.5, speech(CALENDAR), 1.5, speech(MESSAGE)])
    # Stored as a 22.05 kHz stereo file: the source converts it back to 16 kHz mono.
    stereo = np.repeat(np.frombuffer(resample_pcm(pcm, SAMPLE_RATE, 22050), dtype="<i2"), 2)
    path = tmp_path / "two.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(22050)
        w.writeframes(stereo.tobytes())
    seen: list[VadEvent] = []

    found = [u async for u in utterances(WavFileSource(path), Endpointer(), seen.append)]

    assert len(found) == 2  # the second one is cut off by the file's end and flushed
    assert [type(e) for e in seen] == [SpeechStarted, Utterance, SpeechStarted, Utterance]
    assert seen[1] is found[0]
    assert seen[3] is found[1]
    for utt, (true_start, true_end) in zip(found, bounds, strict=True):
        assert abs(utt.start_s + 0.3 - true_start) <= 0.1
        assert abs(utt.end_s - true_end) <= 0.15
