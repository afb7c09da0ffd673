"""Barge-in over loudspeakers, with and without echo cancellation.

Real parts: WebRTC's APM (``livekit``) in :class:`app.audio.echo.EchoCanceller`, Hark's
endpointer (webrtcvad) and Piper speech. The echo path is digital (``tests.support.echo_path``):
Hark's reply goes into the canceller's reference the way the player's callback hands it over
and comes back into the microphone delayed, attenuated, smeared by a short room response, with
noise. For each room it reports:

- false barge-ins per minute of Hark's own speech (``SpeechStarted`` on the echo alone),
  without and with the canceller;
- the delay from the user's first word (said over Hark) to ``SpeechStarted``, with and without;
- the time per 30 ms frame of the whole run (simulation, canceller, endpointer): a ceiling
  on the canceller's cost.

    python -m tests.bench.echo_barge_in [--seconds 60] [--delays 40,80,120]

The last line is one JSON object, for comparing runs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from typing import Any

from app.audio.echo import EchoCanceller
from app.core.types import SAMPLE_RATE
from tests.support import echo_path
from tests.support.echo_path import Room

_USER_AT_S = (4.0, 9.0, 14.0)
"""Where the user starts talking over Hark in the barge-in runs (seconds into the reply)."""


def _detect_delay(reply: bytes, room: Room, cancel: bool) -> list[int | None]:
    """Milliseconds from each of the user's first words to ``SpeechStarted``; None: no speech
    start came for it (without the canceller the endpointer is usually already in "speech",
    on the echo, when the user begins)."""
    user, onset = echo_path.user_speech()
    delays: list[int | None] = []
    for at in _USER_AT_S:
        if (at + 4.0) * SAMPLE_RATE * 2 > len(reply):
            break
        piece = reply[: round((at + 4.0) * SAMPLE_RATE) * 2]
        run = echo_path.run(
            piece, room, EchoCanceller() if cancel else None, user=user, user_at_s=at
        )
        after = [s - (at + onset) for s in run.starts_s if s >= at + onset]
        delays.append(round(after[0] * 1000) if after and after[0] < 2.0 else None)
    return delays


def measure(seconds: float, delays_ms: list[float], gain: float) -> list[dict[str, Any]]:
    reply = echo_path.hark_reply(seconds)
    minutes = len(reply) / 2 / SAMPLE_RATE / 60
    rows = []
    for delay in delays_ms:
        room = Room(delay_ms=delay, gain=gain)
        raw = echo_path.run(reply, room, None)
        canceller = EchoCanceller()
        t0 = time.perf_counter()
        cleaned = echo_path.run(reply, room, canceller)
        spent = time.perf_counter() - t0
        with_aec = _detect_delay(reply, room, cancel=True)
        without = _detect_delay(reply, room, cancel=False)
        rows.append(
            {
                "delay_ms": delay,
                "false_per_min_without": len(raw.starts_s) / minutes,
                "false_per_min_with": len(cleaned.starts_s) / minutes,
                "detect_ms_with": with_aec,
                "detect_ms_without": without,
                "pipeline_us_per_frame": spent / max(1, canceller.frames_cleaned) * 1e6,
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="Hark's speech per room")
    parser.add_argument("--delays", default="40,80,120", help="echo delays to try (ms)")
    parser.add_argument("--gain", type=float, default=0.7, help="echo level (1 = as loud)")
    args = parser.parse_args(argv)
    delays = [float(d) for d in args.delays.split(",") if d.strip()]
    rows = measure(args.seconds, delays, args.gain)
    print(f"Hark's own speech: {args.seconds:.0f} s per room, echo gain {args.gain}")
    print(
        f"{'delay':>7} {'false/min raw':>14} {'false/min AEC':>14} "
        f"{'detect ms AEC':>16} {'detect ms raw':>16} {'us/frame':>9}"
    )
    for r in rows:
        print(
            f"{r['delay_ms']:>5.0f}ms {r['false_per_min_without']:>14.1f} "
            f"{r['false_per_min_with']:>14.1f} {_ms(r['detect_ms_with']):>16} "
            f"{_ms(r['detect_ms_without']):>16} {r['pipeline_us_per_frame']:>9.0f}"
        )
    print("us/frame: the whole run per 30 ms frame (room simulation + canceller + endpointer)")
    print("detect ms raw: '-' = no new speech start (the endpointer was already on the echo)")
    detect = [d for r in rows for d in r["detect_ms_with"] if d is not None]
    summary = {
        "seconds_per_room": args.seconds,
        "false_barge_ins_per_min_with_aec": max(r["false_per_min_with"] for r in rows),
        "false_barge_ins_per_min_without_aec": min(r["false_per_min_without"] for r in rows),
        "barge_in_detect_ms_median": float(statistics.median(detect)) if detect else None,
        "barge_in_detect_ms_max": float(max(detect)) if detect else None,
        "missed_barge_ins_with_aec": sum(d is None for r in rows for d in r["detect_ms_with"]),
        "rooms": rows,
    }
    print(json.dumps(summary))
    return 0


def _ms(values: list[int | None]) -> str:
    return "/".join("-" if v is None else str(v) for v in values)


if __name__ == "__main__":
    sys.exit(main())
