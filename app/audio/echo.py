"""Acoustic echo cancellation: Hark's own voice taken out of the microphone.

With loudspeakers the microphone hears Hark's reply, and barge-in (speech while Hark speaks
stops the reply) would fire on it. WebRTC's audio processing module (AEC3, through the
``livekit`` wheel's ``AudioProcessingModule``) removes it, given the far end: exactly what the
speaker plays.

Both streams are placed on one timeline (16 kHz samples on ``time.monotonic()``'s clock):

- the player's PortAudio callback hands over each block it gives the device, stamped with
  the time its first sample leaves the DAC (:meth:`EchoCanceller.play`, through a
  :class:`ReferenceTap` that converts the device's rate to 16 kHz);
- the microphone's callback hands over each 30 ms frame, stamped with the time its first sample
  entered the ADC (:meth:`EchoCanceller.clean`).

For every 10 ms of microphone audio the canceller feeds the APM the reference played at the
same moment (``lead_ms`` later, a margin for PortAudio's latency estimates: a reference that
comes after its echo cannot be cancelled), then the microphone piece; the APM's own delay
estimator finds the acoustic delay (the room, the device buffers PortAudio does not report),
up to a few hundred milliseconds. Feeding both in lock-step from one thread keeps the APM's
render buffer from ever running over or dry. Timestamps that jitter (by up to 20 ms) are
snapped to the running stream, so both stay continuous signals, sample by sample; a gap is
silence.

Known limits: a microphone stream's first second over PulseAudio hands over a backlog whose
ADC times are off by up to ~200 ms, so nothing played then is cancelled (Hark opens the
microphone at start-up, long before its first reply). A stream whose latency really moves
(a sound server adjusting it, samples dropped) needs a few hundred milliseconds of the APM's
adapting, and the start of a reply can leak through; the player keeps its stream open between
replies while it has a canceller, so a reply never starts on a new stream but the first.

Threads: ``play`` runs on the player's callback thread and only copies samples into a ring
under a lock; ``clean`` (the microphone's callback thread) reads the ring under that lock and
calls the APM under a second lock, so the APM's state is only ever touched by one caller at a
time whatever threads call in.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from app.audio.resample import StreamResampler
from app.core.types import SAMPLE_RATE
from app.settings.schema import AudioSettings
from app.shared.errors import AudioCode, AudioError

__all__ = ["EchoCanceller", "EchoReference", "ReferenceTap", "canceller_for", "load_apm"]

log = logging.getLogger(__name__)

PIECE = SAMPLE_RATE // 100
"""Samples in the 10 ms pieces the APM takes."""
_SNAP = SAMPLE_RATE * 20 // 1000
"""Timestamps within 20 ms of where a stream would continue are taken as continuing it: the
devices' clocks, not the callbacks' jittery timestamps, place the samples, since a jump of even
a few samples between reference and microphone makes the APM adapt its filter again (a shift
of 7 ms let Hark's voice through for half a second over PulseAudio)."""


class EchoReference(Protocol):
    """What the player needs from the canceller: a tap at the device's rate."""

    def tap(self, device_rate: int) -> ReferenceTap: ...


def load_apm(noise_suppression: bool = False) -> Any:
    """A WebRTC audio processing module with echo cancellation and a high-pass filter.

    Raises ``AudioError(ECHO_UNAVAILABLE)`` when the ``livekit`` wheel is missing or its
    native library does not load on this computer (the caller falls back to no cancelling).
    """
    try:
        from livekit.rtc import AudioProcessingModule
    except Exception as exc:  # ImportError, or the native library failing to load (OSError)
        raise AudioError(
            AudioCode.ECHO_UNAVAILABLE,
            "Echo cancellation is not available (the `livekit` package could not be loaded: "
            f"{exc}). Hark may hear itself through loudspeakers: use headphones, set "
            "`talk.barge_in = false`, or reinstall Hark with its desktop extra.",
        ) from exc
    try:
        return AudioProcessingModule(
            echo_cancellation=True,
            noise_suppression=noise_suppression,
            high_pass_filter=True,
            auto_gain_control=False,
        )
    except Exception as exc:  # the FFI could not create it
        raise AudioError(
            AudioCode.ECHO_UNAVAILABLE,
            f"Echo cancellation could not start: {exc}. Use headphones or set "
            "`talk.barge_in = false`.",
        ) from exc


def canceller_for(
    settings: AudioSettings, notice: Callable[[str, str], None] | None = None
) -> EchoCanceller | None:
    """The canceller ``audio.echo_cancellation`` asks for, or None when it is off or cannot
    load: then the user is told once (``notice``) and Hark listens as before (headphones, or
    ``talk.barge_in = false`` with loudspeakers)."""
    if not settings.echo_cancellation:
        return None
    try:
        return EchoCanceller()
    except AudioError as exc:
        log.warning("echo cancellation is off: %s", exc.message)
        if notice is not None:
            notice(exc.code, exc.message)
        return None


class _Track:
    """Where a stream's next block goes on the timeline: the running position, moved to the
    timestamps only when two in a row agree on a new place.

    A stream's samples follow each other on the device's clock; its timestamps are estimates
    that now and then miss by tens of milliseconds for one callback (PulseAudio's ALSA plugin,
    a late wake-up). Following such an outlier and then coming back moves the echo under the
    APM twice, and each move lets Hark's voice through while it re-adapts. A real move (a
    device that dropped samples, a sound server that changed its latency, clock drift past
    ``_SNAP``) shows in every later stamp, so the second one confirms it.
    """

    def __init__(self) -> None:
        self.next: int | None = None  # where the running stream continues
        self._seen: int | None = None  # the last stamp's offset from it, when past _SNAP

    def place(self, stamp: int | None, n: int, now: int) -> int:
        """Where ``n`` samples stamped ``stamp`` (None: no usable stamp) go; ``now`` places
        the first block of a stream that has no stamp."""
        start = self.next
        if start is None:
            start = now if stamp is None else stamp
        elif stamp is not None and abs(stamp - start) > _SNAP:
            seen, self._seen = self._seen, stamp - start
            if seen is not None and abs(self._seen - seen) <= _SNAP:
                start, self._seen = stamp, None  # confirmed: the stream really moved
        else:
            self._seen = None
        self.next = start + n
        return start


class _Timeline:
    """A ring of the last ``size`` reference samples, addressed by absolute sample index."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.ring = np.zeros(size, dtype=np.int16)
        self.end: int | None = None  # absolute index after the last sample written

    def write(self, start: int, samples: npt.NDArray[np.int16]) -> int:
        """Write at ``start`` (gaps before it are silence); returns where it went."""
        end = self.end
        if end is not None and end < start:  # a gap: nothing was played there
            self._put(end, np.zeros(min(start - end, self.size), dtype=np.int16))
        samples = samples[-self.size :]
        self._put(start, samples)
        self.end = start + len(samples)
        return start

    def _put(self, start: int, samples: npt.NDArray[np.int16]) -> None:
        i = start % self.size
        first = min(len(samples), self.size - i)
        self.ring[i : i + first] = samples[:first]
        self.ring[: len(samples) - first] = samples[first:]

    def read(self, start: int, n: int) -> npt.NDArray[np.int16]:
        """``n`` samples from ``start``; silence where nothing (still) known was played."""
        out = np.zeros(n, dtype=np.int16)
        end = self.end
        if end is None:
            return out
        lo, hi = max(start, end - self.size), min(start + n, end)
        if hi > lo:
            out[lo - start : hi - start] = self.ring[np.arange(lo, hi) % self.size]
        return out


class EchoCanceller:
    """Removes what the speaker played from the microphone's 16 kHz mono int16 frames.

    ``apm`` is a WebRTC ``AudioProcessingModule`` (default: :func:`load_apm`); ``clock`` is
    the clock both timestamps are on. With each microphone piece the APM gets the reference
    up to ``lead_ms`` after it: PortAudio's latency figures are estimates, and the APM cancels
    a reference that comes early (its delay estimator finds by how much) but never one that
    comes after its echo. ``delay_ms`` is the APM's stream-delay hint.
    """

    def __init__(
        self,
        apm: Any = None,
        *,
        lead_ms: int = 30,
        delay_ms: int = 40,
        history_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 <= lead_ms <= 500 or not 0 <= delay_ms <= 500 or not 0.1 <= history_s <= 30:
            raise AudioError(
                AudioCode.ECHO_SETTINGS,
                f"lead_ms and delay_ms must be 0-500 and history_s 0.1-30; got {lead_ms}, "
                f"{delay_ms}, {history_s}.",
            )
        self._apm = apm if apm is not None else load_apm()
        self._clock = clock
        self._origin = clock()
        self._lead = SAMPLE_RATE * lead_ms // 1000
        self._delay_ms = delay_ms
        self._ref_lock = threading.Lock()
        self._apm_lock = threading.Lock()
        self._ref = _Timeline(int(history_s * SAMPLE_RATE))
        self._played = _Track()
        self._heard = _Track()
        self.frames_cleaned = 0
        """Microphone frames that went through the canceller."""
        self.reference_samples = 0
        """16 kHz samples of played audio the canceller was given."""

    def _index(self, t: float) -> int:
        return round((t - self._origin) * SAMPLE_RATE)

    def tap(self, device_rate: int) -> ReferenceTap:
        """A tap for a player whose device runs at ``device_rate`` (one per opened stream:
        a new stream is placed by its own timestamps, not after the last one's samples)."""
        with self._ref_lock:
            self._played = _Track()
        return ReferenceTap(self, device_rate)

    def play(self, pcm: bytes | npt.NDArray[np.int16], at: float | None) -> None:
        """Any thread: 16 kHz mono int16 that the speaker plays from ``at`` (monotonic s);
        ``None``: the device gave no usable time, the block follows the last one."""
        samples = _samples(pcm)
        if len(samples) == 0:
            return
        stamp = None if at is None else self._index(at)
        with self._ref_lock:
            start = self._played.place(stamp, len(samples), self._index(self._clock()))
            self._ref.write(start, samples)
            self.reference_samples += len(samples)

    def clean(self, frame: bytes, at: float | None = None) -> bytes:
        """Any thread: a microphone frame (a whole number of 10 ms) heard from ``at``, without
        the echo. ``None`` for ``at``: the frame continues the last one (or ends now)."""
        if len(frame) % (2 * PIECE):
            raise AudioError(
                AudioCode.FRAME_SIZE,
                f"The echo canceller takes whole 10 ms pieces ({2 * PIECE} bytes); got "
                f"{len(frame)} bytes.",
            )
        from livekit.rtc import AudioFrame  # loaded by load_apm already

        n = len(frame) // 2
        with self._apm_lock:
            stamp = None if at is None else self._index(at)
            start = self._heard.place(stamp, n, self._index(self._clock()) - n)
            with self._ref_lock:
                refs = [self._ref.read(start + k + self._lead, PIECE) for k in range(0, n, PIECE)]
            out = bytearray()
            for i, ref in enumerate(refs):
                far = AudioFrame(bytearray(ref.tobytes()), SAMPLE_RATE, 1, PIECE)
                self._apm.process_reverse_stream(far)
                piece = frame[i * 2 * PIECE : (i + 1) * 2 * PIECE]
                near = AudioFrame(bytearray(piece), SAMPLE_RATE, 1, PIECE)
                self._apm.set_stream_delay_ms(self._delay_ms)
                self._apm.process_stream(near)
                out += near.data.tobytes()
            self.frames_cleaned += 1
        return bytes(out)


class ReferenceTap:
    """The player's side: device-rate mono blocks in, 16 kHz reference out.

    Called on PortAudio's output thread with each block as it goes to the device; the block's
    DAC time stamps it (the resampler's few samples of delay are below the snapping tolerance).
    A block without a usable DAC time follows the one before: PortAudio over PulseAudio reports
    none now and then while the stream plays silence between replies, and "now" in its place
    is a whole output latency early, which moved the reference by up to 150 ms.
    """

    def __init__(self, canceller: EchoCanceller, device_rate: int) -> None:
        self._canceller = canceller
        self._resampler = StreamResampler(device_rate, SAMPLE_RATE)
        self.device_rate = device_rate

    def push(self, pcm: bytes, dac_time: float | None) -> None:
        """One block (mono int16 at the device's rate) whose first sample plays at
        ``dac_time`` (monotonic seconds; None when the device did not say)."""
        samples = _samples(pcm)
        if self.device_rate != SAMPLE_RATE:
            samples = self._resampler.process(samples)
        self._canceller.play(samples, dac_time)


def _samples(pcm: bytes | npt.NDArray[np.int16]) -> npt.NDArray[np.int16]:
    if isinstance(pcm, np.ndarray):
        return pcm.astype(np.int16, copy=False)
    out: npt.NDArray[np.int16] = np.frombuffer(pcm[: len(pcm) - len(pcm) % 2], dtype="<i2")
    return out.astype(np.int16)
