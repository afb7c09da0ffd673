"""The Silero speech gate behind webrtcvad: the real model from faster-whisper's wheel, real
Piper speech, and synthesised sounds that fool webrtcvad."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import webrtcvad

from app.audio.silero import SileroGate, bundled_model, load_silero_gate
from app.core.types import FRAME_BYTES, FRAME_MS, SAMPLE_RATE
from app.shared.errors import AudioCode, AudioError
from tests.audio.sound import frames_of
from tests.bench.vad_compare import NOISES, to_pcm
from tests.support.speech import SpeechClip, speech_clip

SENTENCES = [
    "Remind me to call my mother at five o'clock tomorrow.",
    "What is on my calendar for Thursday afternoon?",
]


@pytest.fixture(scope="module")
def gate() -> SileroGate:
    return load_silero_gate()


def _webrtc(frames: list[bytes]) -> list[bool]:
    vad = webrtcvad.Vad(2)
    return [vad.is_speech(f, SAMPLE_RATE) for f in frames]


def _gated(gate: SileroGate, frames: list[bytes], voiced: list[bool]) -> list[bool]:
    gate.reset()
    return [gate.is_speech(f, v) for f, v in zip(frames, voiced, strict=True)]


def _speech_frames(clip: SpeechClip) -> tuple[int, int]:
    """The first and one-past-last frame wholly inside the clip's speech."""
    return int(clip.speech_start_s * 1000) // FRAME_MS + 1, int(
        clip.speech_end_s * 1000
    ) // FRAME_MS


@pytest.mark.parametrize("noise_dbfs", [None, -40.0, -30.0])
@pytest.mark.parametrize("text", SENTENCES)
def test_speech_is_judged_speech_and_the_silence_around_it_is_not(
    gate: SileroGate, text: str, noise_dbfs: float | None
) -> None:
    clip = speech_clip(text, lead_silence_s=0.5, trail_silence_s=0.5, noise_dbfs=noise_dbfs)
    frames = frames_of(clip.pcm)
    voiced = _webrtc(frames)
    said = _gated(gate, frames, voiced)
    first, last = _speech_frames(clip)
    inside = [k for k in range(first, last) if voiced[k]]
    assert len(inside) > 0.9 * (last - first)  # webrtcvad hears the speech too
    assert sum(said[k] for k in inside) / len(inside) >= 0.85  # measured 0.92-0.99
    around = [said[k] for k in range(5, len(frames)) if k < first - 1 or k > last + 8]
    assert not any(around)


@pytest.mark.parametrize(("name", "dbfs"), [(n, -30.0) for n in NOISES] + [("white", -20.0)])
def test_sounds_webrtcvad_calls_voiced_are_rejected(
    gate: SileroGate, name: str, dbfs: float
) -> None:
    frames = frames_of(to_pcm(NOISES[name](3 * SAMPLE_RATE, dbfs, 7)))
    voiced = _webrtc(frames)
    said = _gated(gate, frames, voiced)
    if name == "white" and dbfs > -25:
        assert sum(voiced) > 0.9 * len(frames)
    elif name != "white":
        assert sum(voiced[5:]) > 0.5 * (len(frames) - 5)  # webrtcvad is fooled
    assert sum(said) <= 0.05 * max(1, sum(voiced))  # measured 0-1.5 %


def test_speech_over_music_still_counts(gate: SileroGate) -> None:
    clip = speech_clip(SENTENCES[0], lead_silence_s=0.3, trail_silence_s=0.3)
    x = np.frombuffer(clip.pcm, "<i2").astype(np.float64)
    frames = frames_of(to_pcm(x + NOISES["music"](len(x), -35.0, 3)))
    said = _gated(gate, frames, _webrtc(frames))
    first, last = _speech_frames(clip)
    assert sum(said[first:last]) >= 0.8 * (last - first)


def test_silero_runs_only_where_webrtcvad_said_voiced(gate: SileroGate) -> None:
    frames = frames_of(speech_clip(SENTENCES[1], 0.0, 0.0).pcm)[:64]
    gate.reset()
    runs = gate.runs
    assert not any(gate.is_speech(f, False) for f in frames)
    assert gate.runs == runs
    for f in frames[:32]:
        gate.is_speech(f, True)
    # 32 frames of 480 samples, the first reaching 32 samples back: 30 windows of 512
    assert gate.runs - runs == 30


def test_streaming_matches_the_batched_model_on_contiguous_audio(gate: SileroGate) -> None:
    from faster_whisper.vad import SileroVADModel

    pcm = speech_clip(SENTENCES[0], 0.2, 0.2).pcm
    frames = frames_of(pcm)
    gate.reset()
    streamed = []
    for f in frames:
        runs = gate.runs
        gate.probability(f)
        if gate.runs > runs:
            streamed.append(gate.last_probability)
    # the first window starts 32 samples before the first frame (zeros: nothing came before)
    audio = np.concatenate([np.zeros(32), np.frombuffer(b"".join(frames), "<i2") / 32768.0])
    audio = audio[: len(audio) // 512 * 512].astype(np.float32)
    batched = SileroVADModel(str(bundled_model()))(audio).reshape(-1)
    assert len(streamed) == len(batched)
    np.testing.assert_allclose(streamed, batched, atol=1e-4)
    assert max(streamed) > 0.9  # it did hear speech: the comparison means something


def _probs(gate: SileroGate, frames: list[bytes]) -> list[float]:
    return [gate.probability(f) for f in frames]


def test_reset_and_long_gaps_start_afresh_short_gaps_keep_the_state(gate: SileroGate) -> None:
    frames = frames_of(speech_clip(SENTENCES[0], 0.0, 0.0).pcm)
    speech, later, hole = frames[:40], frames[40:60], frames[60]
    fresh = SileroGate(bundled_model())
    fresh.is_speech(hole, False)  # the frame before the run, which the run reaches back into
    expected = _probs(fresh, later)

    gate.reset()
    assert gate.last_probability == 0.0
    _probs(gate, speech)
    gate.reset()
    gate.is_speech(hole, False)
    assert _probs(gate, later) == expected

    long_gap = gate.reset_after_ms // FRAME_MS
    gate.reset()
    _probs(gate, speech)
    for _ in range(long_gap):
        gate.is_speech(hole, False)
    assert _probs(gate, later) == expected

    gate.reset()
    _probs(gate, speech)
    gate.is_speech(hole, False)  # one skipped frame: the state of the speech carries on
    assert _probs(gate, later) != expected


def test_a_missing_model_gives_a_coded_error_that_says_what_to_do(tmp_path: Path) -> None:
    missing = tmp_path / "silero_vad_v6.onnx"
    with pytest.raises(AudioError) as err:
        SileroGate(missing)
    assert err.value.code == AudioCode.SILERO_UNAVAILABLE
    assert str(missing) in err.value.message
    assert "Reinstall faster-whisper" in err.value.message


def test_a_broken_model_file_gives_the_same_coded_error(tmp_path: Path) -> None:
    broken = tmp_path / "silero_vad_v6.onnx"
    shutil.copyfile(bundled_model(), broken)
    broken.write_bytes(broken.read_bytes()[:1000])
    with pytest.raises(AudioError) as err:
        SileroGate(broken)
    assert err.value.code == AudioCode.SILERO_UNAVAILABLE
    assert "could not be loaded" in err.value.message


def test_wrong_frames_and_settings_are_refused(gate: SileroGate) -> None:
    with pytest.raises(AudioError) as err:
        gate.probability(bytes(FRAME_BYTES - 2))
    assert err.value.code == AudioCode.FRAME_SIZE
    for threshold in (0.0, 1.0, 1.5):
        with pytest.raises(AudioError) as err:
            load_silero_gate(threshold)
        assert err.value.code == AudioCode.VAD_SETTINGS
    assert load_silero_gate(0.3).threshold == 0.3
