"""A digital echo path: Hark's reply through a simulated room into the microphone.

What a loudspeaker set-up does to the microphone, without a sound card: the reply (Piper
speech) is "played" block by block through :class:`app.audio.echo.EchoCanceller`'s reference
tap, stamped the way PortAudio stamps an output callback (the DAC time, ``out_latency_ms``
ahead), and comes back in the microphone delayed by ``delay_ms``, attenuated by ``gain`` and
smeared by a short room response, with a little noise and optionally the user's speech on top.
Each microphone frame is handed over ``in_latency_ms`` after it was heard, stamped with its ADC
time, the way the capture callback does. Everything runs on a virtual clock: nothing sleeps.

Barge-in is what the listening loop does on ``SpeechStarted`` while Hark speaks, so the real
endpointer (webrtcvad) is run over the (cleaned or raw) microphone and its speech starts are
counted.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from app.audio.echo import EchoCanceller
from app.audio.vad import Endpointer
from app.core.events import SpeechStarted
from app.core.types import FRAME_BYTES, FRAME_MS, SAMPLE_RATE
from tests.support.speech import active_bounds, silence, speak_16k

REPLY_SENTENCES = (
    "Tomorrow you have a meeting with Anna at ten, then lunch with the design team at noon.",
    "After that the afternoon is free, and the weather looks fine for a walk by the river.",
    "I found three new messages: one from your bank, one from Tom about the trip, and a "
    "newsletter.",
    "Tom asks whether you can move Friday's call to Monday morning, because he is travelling.",
    "Shall I write back that Monday at nine works for you, and put it in your calendar?",
    "Your flight to Lisbon leaves on the twelfth at seven forty, from terminal two.",
)
USER_SENTENCE = "Stop, wait a moment, I want to change the time of that meeting."

FRAME_N = FRAME_BYTES // 2
_FRAME_S = FRAME_MS / 1000


def hark_reply(seconds: float) -> bytes:
    """At least ``seconds`` of Hark speaking: the reply sentences in turn, short pauses between."""
    parts: list[bytes] = []
    total = 0
    i = 0
    while total < seconds * SAMPLE_RATE:
        speech = speak_16k(REPLY_SENTENCES[i % len(REPLY_SENTENCES)])
        pause = silence(0.25 + 0.1 * (i % 3))
        parts += [speech, pause]
        total += (len(speech) + len(pause)) // 2
        i += 1
    return b"".join(parts)


def room_response(
    delay_ms: float, gain: float, tail_ms: float = 60.0, seed: int = 0
) -> npt.NDArray[np.float64]:
    """Direct sound after ``delay_ms`` at ``gain``, two early reflections and a decaying tail."""
    rng = np.random.default_rng(seed)
    d = round(delay_ms * SAMPLE_RATE / 1000)
    n = d + round(tail_ms * SAMPLE_RATE / 1000)
    h = np.zeros(n + 1)
    h[d] = 1.0
    for after_ms, level in ((7.0, 0.45), (17.0, 0.25)):
        h[d + round(after_ms * SAMPLE_RATE / 1000)] += level
    tail = rng.standard_normal(n - d) * 0.05 * np.exp(-np.arange(n - d) / (0.015 * SAMPLE_RATE))
    h[d:n] += tail
    out: npt.NDArray[np.float64] = gain * h / np.sqrt(np.sum(h**2))
    return out


@dataclass
class EchoRun:
    """What the endpointer did on one simulated run."""

    starts_s: list[float] = field(default_factory=list)
    """When each ``SpeechStarted`` was reported (end of the frame that reported it)."""
    speech_at_s: list[float] = field(default_factory=list)
    """Where the endpointer says each of those speeches began."""
    seconds: float = 0.0
    cleaned: bytes = b""


@dataclass(frozen=True)
class Room:
    delay_ms: float = 80.0
    gain: float = 0.5
    noise_dbfs: float = -55.0
    out_latency_ms: float = 50.0
    in_latency_ms: float = 30.0
    jitter_ms: float = 1.0
    """Each timestamp is off by up to this much, as PortAudio's are."""
    dac_error_ms: float = 0.0
    """The output's DAC times are this much later than the truth (negative: earlier)."""
    seed: int = 0


def _to_int16(x: npt.NDArray[np.float64]) -> npt.NDArray[np.int16]:
    out: npt.NDArray[np.int16] = np.clip(np.round(x), -32768, 32767).astype(np.int16)
    return out


def microphone(
    reply: bytes, room: Room, user: bytes | None = None, user_at_s: float = 0.0
) -> npt.NDArray[np.int16]:
    """What the microphone hears: the echo of ``reply``, noise, and ``user`` from ``user_at_s``."""
    far = np.frombuffer(reply, dtype="<i2").astype(np.float64)
    mic = np.convolve(far, room_response(room.delay_ms, room.gain, seed=room.seed))[: len(far)]
    rng = np.random.default_rng(room.seed + 1)
    mic += rng.standard_normal(len(mic)) * 32768 * 10 ** (room.noise_dbfs / 20)
    if user is not None:
        u = np.frombuffer(user, dtype="<i2").astype(np.float64)
        at = round(user_at_s * SAMPLE_RATE)
        end = min(len(mic), at + len(u))
        mic[at:end] += u[: end - at]
    return _to_int16(mic)


def run(
    reply: bytes,
    room: Room,
    canceller: EchoCanceller | None,
    *,
    user: bytes | None = None,
    user_at_s: float = 0.0,
    keep_audio: bool = False,
) -> EchoRun:
    """Play ``reply`` (from t = 0) and listen, frame by frame on a virtual clock."""
    far = np.frombuffer(reply, dtype="<i2").astype(np.int16)
    mic = microphone(reply, room, user, user_at_s)
    endpointer = Endpointer(aggressiveness=2, hangover_ms=450, min_speech_ms=240)
    rng = np.random.default_rng(room.seed + 2)
    result = EchoRun(seconds=len(far) / SAMPLE_RATE)
    n_frames = len(far) // FRAME_N
    lead = int(np.ceil((room.out_latency_ms + room.in_latency_ms) / FRAME_MS)) + 1
    out: list[bytes] = []
    for k in range(n_frames + lead):
        now = k * _FRAME_S
        if canceller is not None:  # the output callback: the block that plays out_latency ahead
            play_from = now + room.out_latency_ms / 1000
            i = round(play_from * SAMPLE_RATE)
            block = far[i : i + FRAME_N] if i < len(far) else np.zeros(0, dtype=np.int16)
            if len(block):
                stamp = play_from + (rng.uniform(-1, 1) * room.jitter_ms + room.dac_error_ms) / 1000
                canceller.play(block, stamp)
        heard_at = now - room.in_latency_ms / 1000 - _FRAME_S  # the frame handed over now
        j = round(heard_at * SAMPLE_RATE)
        if j < 0 or j + FRAME_N > len(mic):
            continue
        frame = mic[j : j + FRAME_N].tobytes()
        if canceller is not None:
            frame = canceller.clean(frame, heard_at + rng.uniform(-1, 1) * room.jitter_ms / 1000)
        if keep_audio:
            out.append(frame)
        for item in endpointer.feed(frame):
            if isinstance(item, SpeechStarted):
                result.starts_s.append(heard_at + _FRAME_S)
                result.speech_at_s.append(item.at_s)
    result.cleaned = b"".join(out)
    return result


def user_speech() -> tuple[bytes, float]:
    """The user's interruption and where its speech really begins (seconds into it)."""
    pcm = speak_16k(USER_SENTENCE)
    return pcm, active_bounds(pcm)[0]
