"""Decode a short request with a window fitted to it rather than Whisper's fixed 30 s.

Whisper reads 30 s of audio whatever the request's length; faster-whisper pads a two-second
request with 28 s of silence, and the encoder's cost is that of the whole window (on a CPU most
of a short request's run). The encoder accepts a shorter input: a window of the request plus a
margin, never under :data:`MIN_WINDOW_S`, costs a fraction. The model was trained on full
windows, so the result is checked before it is used: it must end before the length limit, not
repeat itself, compress no better than Whisper's own limit allows, and not be improbable text.
A result that fails a check is thrown away and the request is decoded again the standard way
(:func:`decode_short` returns ``None``). Longer requests go the standard way at once.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from app.core.types import SAMPLE_RATE

if TYPE_CHECKING:
    from faster_whisper import WhisperModel

MIN_WINDOW_S = 10.0
"""Shorter windows made tiny.en repeat short answers ("Yes. Yes. Yes.") in our trials."""
MAX_SPEECH_S = 20.0
"""Speech longer than this is decoded in the standard 30 s window."""
MARGIN_S = 1.0
"""Silence after the speech inside the window, so the last word is heard to its end."""
MAX_COMPRESSION = 2.4
"""Whisper's own limit: text that compresses better than this is a decoding loop."""
MIN_AVG_LOGPROB = -1.0
"""Whisper's own limit for text it would decode again."""
TOKENS_PER_S = 10
"""More text tokens per second of speech than anyone speaks: reaching it means a loop."""


@dataclass(frozen=True, slots=True)
class Decoded:
    text: str
    avg_logprob: float
    no_speech_prob: float


def window_s(speech_s: float) -> float | None:
    """The window for ``speech_s`` seconds of speech; ``None``: use the standard window."""
    if speech_s > MAX_SPEECH_S:
        return None
    return max(MIN_WINDOW_S, speech_s + MARGIN_S)


def compression_ratio(text: str) -> float:
    raw = text.encode("utf-8")
    return len(raw) / len(zlib.compress(raw)) if raw else 0.0


LOOP_WORDS = 4
"""A run of this many words said twice is taken for a loop even when apart."""


def repeats(text: str) -> bool:
    """The loops a window that ends too soon can make: one word three times, a run of words
    twice in a row ("turn it off turn it off"), or a run of :data:`LOOP_WORDS` words twice
    anywhere (the request started again: "send a message to Tom … send a message to Tom")."""
    words = [w.strip(".,!?;:").lower() for w in text.split()]
    words = [w for w in words if w]
    n = len(words)
    if any(words[i] == words[i + 1] == words[i + 2] for i in range(n - 2)):
        return True
    for size in range(2, LOOP_WORDS):
        for i in range(n - 2 * size + 1):
            if words[i : i + size] == words[i + size : i + 2 * size]:
                return True
    seen: dict[tuple[str, ...], int] = {}
    for i in range(n - LOOP_WORDS + 1):
        run = tuple(words[i : i + LOOP_WORDS])
        if run in seen and i - seen[run] >= LOOP_WORDS:
            return True
        seen.setdefault(run, i)
    return False


def decode_short(
    model: WhisperModel,
    speech: np.ndarray[Any, np.dtype[np.float32]],
    language: str | None,
    beam_size: int,
) -> Decoded | None:
    """Decode ``speech`` (16 kHz floats, the speech only) in a fitted window; ``None`` when the
    request is too long for one or the result fails a check (see the module docstring)."""
    from faster_whisper.tokenizer import Tokenizer

    speech_s = len(speech) / SAMPLE_RATE
    window = window_s(speech_s)
    if window is None:
        return None
    samples = int(window * SAMPLE_RATE)
    padded = np.zeros(samples, dtype=np.float32)
    padded[: len(speech)] = speech
    frames = int(window * 100) // 2 * 2  # 10 ms frames; the encoder halves them
    features = model.feature_extractor(padded)[:, :frames]
    encoded = model.encode(np.ascontiguousarray(features))
    multilingual = bool(model.model.is_multilingual)
    tokenizer = Tokenizer(
        model.hf_tokenizer,
        multilingual,
        task="transcribe",
        language=(language or "en") if multilingual else None,
    )
    prompt = [*tokenizer.sot_sequence, tokenizer.no_timestamps]
    limit = 8 + int(TOKENS_PER_S * speech_s)
    result = model.model.generate(
        encoded,
        [prompt],
        beam_size=beam_size,
        max_length=len(prompt) + limit,
        return_scores=True,
        return_no_speech_prob=True,
        suppress_blank=True,
        suppress_tokens=[-1],
    )[0]
    tokens = [t for t in result.sequences_ids[0] if t < tokenizer.eot]
    if len(tokens) >= limit:
        return None
    text = tokenizer.decode(tokens).strip()
    avg_logprob = float(result.scores[0]) * len(tokens) / (len(tokens) + 1)
    no_speech = float(result.no_speech_prob)
    if compression_ratio(text) > MAX_COMPRESSION or repeats(text):
        return None
    if text and avg_logprob < MIN_AVG_LOGPROB:
        return None
    return Decoded(text=text, avg_logprob=avg_logprob, no_speech_prob=no_speech)
