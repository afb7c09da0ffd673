"""Idle CPU while Hark listens for its wake word.

Real parts: the ``hey_jarvis`` openWakeWord model (``pyopen-wakeword``) behind Hark's webrtcvad
gate (``app.audio.wakeword.WakeWord``). Two WAV files are generated and read back: a quiet room
(pink noise at -60 dBFS, what a microphone gives when nobody talks) and background speech that
is not the wake word (Piper sentences with pauses of 0.4-2.5 s, over the same room tone). Each
is fed as 30 ms frames paced in real time for ``--seconds``, and the process CPU share
(``time.process_time`` / wall time) is reported for: the gated detector in the quiet room, the
gated detector in speech, and the detector without the gate (the model on every frame).

    python -m tests.bench.wake_idle_cpu [--seconds 20]

Also printed: the share of frames the model ran on, per-frame time (mean, 99th percentile,
max) against the 30 ms a frame lasts, and detections (there should be none). The last line is
one JSON object, for comparing runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from app.audio.capture import WavFileSource
from app.audio.wakeword import WakeWord
from app.core.types import FRAME_MS
from tests.support.speech import noise, speak_16k, write_wav

BACKGROUND = [
    "Turn on the lights in the kitchen.",
    "What is the weather like today?",
    "I think we should leave a little earlier tomorrow.",
    "Could you pass me the salt, please?",
    "The meeting moved to half past three.",
    "Remind me to water the plants this evening.",
]
ROOM_DBFS = -60.0
PAUSES_S = (0.4, 1.2, 0.6, 2.5)
"""Pauses between the background sentences: people talking, not a radio."""


def mix(a: bytes, b: bytes) -> bytes:
    """Sample-wise sum of two int16 clips of the same length, clipped."""
    x = np.frombuffer(a, "<i2").astype(np.int32) + np.frombuffer(b, "<i2").astype(np.int32)
    return np.clip(x, -32768, 32767).astype("<i2").tobytes()


def make_wavs(folder: Path, seconds: float) -> dict[str, Path]:
    """The quiet room and the background speech, ``seconds`` long each, as WAV files."""
    n = 2 * round(seconds * 16_000)
    room = noise(seconds, ROOM_DBFS, "pink", seed=1)[:n]
    talk = b""
    i = 0
    while len(talk) < n:
        pause = bytes(2 * round(16_000 * PAUSES_S[i % len(PAUSES_S)]))
        talk += speak_16k(BACKGROUND[i % len(BACKGROUND)]) + pause
        i += 1
    return {
        "silence": write_wav(folder / "room.wav", room),
        "speech": write_wav(folder / "speech.wav", mix(talk[:n], room)),
    }


async def paced_run(detector: WakeWord, wav: Path) -> dict[str, Any]:
    """Feed a recording as a microphone would (``WavFileSource`` in real time, one 30 ms frame
    at a time); CPU share and per-frame cost."""
    source = WavFileSource(wav, realtime=True)
    costs: list[float] = []
    hits = 0
    scored0 = detector.frames_scored
    wall0, cpu0 = time.perf_counter(), time.process_time()
    async for frame in source.frames():
        t = time.perf_counter()
        if detector.feed(frame) is not None:
            hits += 1
        costs.append((time.perf_counter() - t) * 1000)
    wall = time.perf_counter() - wall0
    cpu = time.process_time() - cpu0
    costs.sort()
    return {
        "frames": len(costs),
        "cpu_pct": 100 * cpu / wall if wall > 0 else 0.0,
        "scored_pct": 100 * (detector.frames_scored - scored0) / max(1, len(costs)),
        "frame_mean_ms": statistics.fmean(costs) if costs else 0.0,
        "frame_p99_ms": costs[min(len(costs) - 1, int(0.99 * len(costs)))] if costs else 0.0,
        "frame_max_ms": costs[-1] if costs else 0.0,
        "detections": hits,
    }


def run(seconds: float) -> dict[str, Any]:
    t = time.perf_counter()
    gated = WakeWord("hey_jarvis")
    load_s = time.perf_counter() - t
    ungated = WakeWord("hey_jarvis", gated=False)
    rows = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            wavs = make_wavs(Path(tmp), seconds)
            for label, detector, clip in [
                ("gated, silence", gated, "silence"),
                ("gated, speech", gated, "speech"),
                ("ungated", ungated, "speech"),
            ]:
                detector.reset()
                row = asyncio.run(paced_run(detector, wavs[clip]))
                row.update(run=label, audio=clip)
                rows.append(row)
    finally:
        gated.close()
        ungated.close()
    by = {r["run"]: r for r in rows}
    return {
        "bench": "wake_idle_cpu",
        "rows": rows,
        "seconds": seconds,
        "model": "hey_jarvis",
        "load_s": load_s,
        "gated_silence_cpu_pct": by["gated, silence"]["cpu_pct"],
        "gated_speech_cpu_pct": by["gated, speech"]["cpu_pct"],
        "ungated_cpu_pct": by["ungated"]["cpu_pct"],
        "gated_speech_scored_pct": by["gated, speech"]["scored_pct"],
        "detections": sum(r["detections"] for r in rows),
        "loadavg_1m": os.getloadavg()[0],
        "cpus": os.cpu_count() or 0,
    }


def print_report(s: dict[str, Any]) -> None:
    cols = [
        ("run", "run", "{}"),
        ("frames", "frames", "{}"),
        ("cpu %", "cpu_pct", "{:.2f}"),
        ("model ran %", "scored_pct", "{:.0f}"),
        ("mean ms", "frame_mean_ms", "{:.3f}"),
        ("p99 ms", "frame_p99_ms", "{:.2f}"),
        ("max ms", "frame_max_ms", "{:.2f}"),
        ("detections", "detections", "{}"),
    ]
    print("  ".join(f"{name:>14}" for name, _, _ in cols))
    for row in s["rows"]:
        print("  ".join(f"{fmt.format(row[key]):>14}" for _, key, fmt in cols))
    print(
        f"process CPU (one core = 100 %) over {s['seconds']:.0f} s of real-time 30 ms frames;"
        f" a frame lasts {FRAME_MS} ms | model load {s['load_s']:.2f} s"
        f" | load average {s['loadavg_1m']:.2f} on {s['cpus']} CPUs"
    )
    compact = {k: v for k, v in s.items() if k != "rows"}
    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in compact.items()}))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--seconds", type=float, default=20.0, help="audio per run (default 20)")
    args = p.parse_args(argv)
    if args.seconds <= 0:
        p.error("--seconds must be positive")
    print_report(run(args.seconds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
