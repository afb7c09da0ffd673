"""Helpers for the server tests: the API keys and settings they run with (tiny.en on the
CPU), and audio files (WAV, or encoded by PyAV)."""

from __future__ import annotations

import io
import wave
from pathlib import Path
from typing import Any

import numpy as np

from remote.server.settings import ServerSettings
from tests.support.speech import WHISPER_THREADS

KEY = "hark-test-key-0123456789abcdef"
OTHER_KEY = "hark-other-key-9876543210fedcba"
AUTH = {"Authorization": f"Bearer {KEY}"}
MODEL = "llama3.2:3b"


def make_settings(model_dir: Path, ollama_url: str, **overrides: Any) -> ServerSettings:
    """Settings for tests: one key, tiny.en on the CPU, no idle unload unless asked."""
    values: dict[str, Any] = {
        "api_keys": [KEY],
        "ollama_url": ollama_url,
        "whisper_model": str(model_dir),
        "whisper_device": "cpu",
        "whisper_cpu_threads": WHISPER_THREADS,
        "whisper_idle_unload_s": 0,
    }
    values.update(overrides)
    return ServerSettings(**values)


def wav_bytes(pcm: bytes, rate: int) -> bytes:
    """Mono int16 PCM as the bytes of a WAV file."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(pcm)
    return buf.getvalue()


def encode_audio(pcm: bytes, rate: int, container: str, codec: str, out_rate: int = 0) -> bytes:
    """Mono int16 PCM encoded by PyAV (FFmpeg), e.g. ``("ogg", "libopus", 48000)``."""
    import av

    buf = io.BytesIO()
    with av.open(buf, mode="w", format=container) as out:
        stream: Any = out.add_stream(codec, rate=out_rate or rate, layout="mono")
        samples = np.frombuffer(pcm, "<i2").reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
        frame.sample_rate = rate
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buf.getvalue()
