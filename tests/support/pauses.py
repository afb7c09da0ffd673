"""Requests with a pause in the middle ("remind me to call… [thinking] …Peter at five"), spoken
by Piper, for measuring whether an endpointer cuts them in two.

Two kinds of pause, both 0.6–1.0 s:

- ``hesitant``: the user trails off with a filler ("…to call, um") and then goes on; the first
  part and the rest are spoken separately and joined with the pause between;
- ``plain``: the sentence is spoken whole and opened up at the word boundary (the silent closure
  of the plosive that starts the next word, found near where the prefix alone ends), so the
  first part keeps the intonation of a sentence that goes on.

Each comes at a few speeds (Piper's ``length_scale``) and with or without a little white noise.
Seeded and deterministic: the same set every run.

    from tests.support.pauses import finished_requests, paused_requests
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np

from app.audio.resample import resample_pcm
from tests.support.speech import RATE, SpeechClip, active_bounds, silence, speech_clip

PauseKind = Literal["hesitant", "plain"]

# (whole request, where the plain pause goes: the words before it, filler for "hesitant")
PHRASES: list[tuple[str, str, str]] = [
    ("Remind me to call Peter at five.", "Remind me to call", "um"),
    ("Set a timer for ten minutes.", "Set a timer for", "uh"),
    ("What is the weather like tomorrow in Paris?", "What is the weather like", "um"),
    ("Send a message to Tom saying I am late.", "Send a message to", "erm"),
    ("Book a table for two at the Italian place.", "Book a table for", "uh"),
    ("Add a meeting with Kate on Tuesday.", "Add a meeting with", "um"),
]
FINISHED: list[str] = [
    "What is on my calendar tomorrow morning?",
    "Remind me to water the plants this evening.",
    "How long does it take to boil an egg?",
    "Turn off the lights in the kitchen.",
    "What time is it in Tokyo?",
    "Send an email to Sam about the meeting.",
]
SPEEDS = (0.85, 1.0, 1.2)
"""Piper ``length_scale``: below 1 is faster speech."""
PAUSES_S = (0.6, 0.8, 1.0)
NOISE_DBFS = -50.0


@dataclass(frozen=True, slots=True)
class PausedClip:
    """A request with a mid-sentence pause: where the pause is and where the speech ends."""

    clip: SpeechClip
    pause_start_s: float
    pause_end_s: float
    kind: PauseKind
    speed: float
    noisy: bool

    @property
    def label(self) -> str:
        return (
            f"{self.kind} {self.pause_end_s - self.pause_start_s:.1f}s x{self.speed}"
            f"{' noise' if self.noisy else ''}: {self.clip.text}"
        )


@lru_cache(maxsize=256)
def speak_at(text: str, length_scale: float = 1.0) -> bytes:
    """``text`` spoken by Piper at 16 kHz with ``length_scale`` (1.0: the voice's own pace)."""
    from piper import SynthesisConfig

    from tests.support import speech

    voice = speech._voice()
    config = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0, length_scale=length_scale)
    with speech._voice_lock:
        chunks = list(voice.synthesize(text, syn_config=config))
    rate = int(chunks[0].sample_rate)
    return resample_pcm(b"".join(c.audio_int16_bytes for c in chunks), rate, RATE)


def _trim(pcm: bytes) -> bytes:
    start, end = active_bounds(pcm)
    return pcm[2 * round(start * RATE) : 2 * round(end * RATE)]


def _split_point(whole: bytes, prefix: bytes) -> int:
    """Sample index of the last quiet 10 ms (< -50 dBFS) at or just before where ``prefix``
    (spoken alone) stops: the closure before the next word's plosive."""
    hop = RATE // 100
    x = np.frombuffer(whole, dtype="<i2").astype(np.float64)
    n = len(x) // hop
    rms = np.sqrt(np.mean(x[: n * hop].reshape(n, hop) ** 2, axis=1))
    end = round(active_bounds(prefix)[1] * RATE) // hop
    quiet = 32768 * 10 ** (-50 / 20)
    for i in range(min(n - 1, end + 5), int(end * 0.6), -1):
        if rms[i] < quiet:
            return i * hop
    return end * hop


def _noisy(pcm: bytes, seed: int) -> bytes:
    x = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal(len(x))
    noise *= 32768 * 10 ** (NOISE_DBFS / 20) / float(np.sqrt(np.mean(noise**2)))
    return np.clip(np.round(x + noise), -32768, 32767).astype("<i2").tobytes()


def paused_clip(
    phrase: int, kind: PauseKind, pause_s: float, speed: float = 1.0, noisy: bool = False
) -> PausedClip:
    """One request of :data:`PHRASES` with a ``pause_s`` pause in the middle."""
    text, prefix, filler = PHRASES[phrase]
    if kind == "hesitant":
        first = _trim(speak_at(f"{prefix}, {filler}", speed))
        rest = _trim(speak_at(text[len(prefix) :].strip(), speed))
    else:
        whole = _trim(speak_at(text, speed))
        cut = _split_point(whole, speak_at(prefix, speed))
        first, rest = whole[: 2 * cut], whole[2 * cut :]
    lead = silence(0.5)
    pcm = lead + first + silence(pause_s) + rest + silence(2.5)
    if noisy:
        pcm = _noisy(pcm, seed=phrase * 97 + round(pause_s * 10) + round(speed * 100))
    start = len(lead) / 2 / RATE
    pause_start = start + len(first) / 2 / RATE
    pause_end = pause_start + pause_s
    end = pause_end + len(rest) / 2 / RATE
    spoken = f"{prefix}, {filler}… {text[len(prefix) :].strip()}" if kind == "hesitant" else text
    return PausedClip(
        clip=SpeechClip(pcm=pcm, speech_start_s=start, speech_end_s=end, text=spoken),
        pause_start_s=pause_start,
        pause_end_s=pause_end,
        kind=kind,
        speed=speed,
        noisy=noisy,
    )


def paused_requests(rounds: int = 1) -> list[PausedClip]:
    """The set: every phrase, both kinds, ``rounds`` times (12 clips a round); speed, pause
    length and noise rotate through it, so each round differs."""
    kinds: tuple[PauseKind, ...] = ("hesitant", "plain")
    out: list[PausedClip] = []
    combos = itertools.product(range(rounds), range(len(PHRASES)), kinds)
    for i, (r, phrase, kind) in enumerate(combos):
        speed, pause_s = SPEEDS[(i + r) % 3], PAUSES_S[(i // 2 + 2 * r) % 3]
        out.append(paused_clip(phrase, kind, pause_s, speed, noisy=(i + r) % 4 >= 2))
    return out


def finished_requests(limit: int | None = None) -> list[SpeechClip]:
    """Requests said in one go, then silence (2.5 s: longer than the longest wait)."""
    texts = FINISHED[:limit] if limit is not None else FINISHED
    return [speech_clip(t, lead_silence_s=0.5, trail_silence_s=2.5) for t in texts]
