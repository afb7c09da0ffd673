"""Helpers for audio tests: speech clips, their true bounds, noise, framing."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from app.core.types import FRAME_BYTES, SAMPLE_RATE


@dataclass(frozen=True)
class Speech:
    """A spoken phrase at 16 kHz, trimmed to its audible part."""

    text: str
    pcm: bytes

    @property
    def duration_s(self) -> float:
        return len(self.pcm) / 2 / SAMPLE_RATE


def audible_bounds(pcm: bytes, threshold: float = 0.02) -> tuple[int, int]:
    """First and one-past-last sample louder than ``threshold`` × the peak."""
    x = np.frombuffer(pcm, dtype="<i2").astype(np.int32)
    loud = np.nonzero(np.abs(x) > threshold * np.abs(x).max())[0]
    return int(loud[0]), int(loud[-1]) + 1


def noise(seconds: float, level: float = 60.0, seed: int = 0) -> npt.NDArray[np.int16]:
    """Low white noise (``level`` is the standard deviation in int16 units; 60 ≈ -55 dBFS)."""
    rng = np.random.default_rng(seed)
    n = round(seconds * SAMPLE_RATE)
    return np.clip(rng.normal(0.0, level, n), -32768, 32767).astype(np.int16)


def frames_of(pcm: bytes) -> list[bytes]:
    """Cut PCM into whole 30 ms frames, zero-padding the last."""
    if len(pcm) % FRAME_BYTES:
        pcm += bytes(FRAME_BYTES - len(pcm) % FRAME_BYTES)
    return [pcm[i : i + FRAME_BYTES] for i in range(0, len(pcm), FRAME_BYTES)]
