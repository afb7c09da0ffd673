"""Endpointing: cutting utterances out of a stream of 30 ms frames with webrtcvad.

webrtcvad classifies each frame as voiced or not; on its own that flickers in noise. The
:class:`Endpointer` smooths it the way py-webrtcvad's example does, with a short ring buffer:
speech starts when most of the last few frames are voiced, and ends once ``hangover_ms`` passed
without a voiced frame that belongs to speech. Around that it adds what a voice assistant
needs: audio from before the start (pre-roll, so the first consonant is not clipped), a
minimum length (a click or a cough is not a question) and a maximum (a radio left on must not
make one endless utterance).

Time is stream time, counted in frames fed (30 ms each), so it is exact for files and tests and
follows the clock for a microphone.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import AsyncIterator, Callable

import webrtcvad

from app.core.events import SpeechStarted
from app.core.ports import FrameSource
from app.core.types import FRAME_BYTES, FRAME_MS, SAMPLE_RATE, Utterance
from app.settings.schema import AudioSettings
from app.shared.errors import AudioCode, AudioError

log = logging.getLogger(__name__)

VadEvent = SpeechStarted | Utterance
"""What :meth:`Endpointer.feed` reports: speech began (confirmed), or an utterance ended."""

_VAD_HANGOVER = {0: 4, 1: 4, 2: 3, 3: 3}
"""Frames webrtcvad itself goes on calling voiced after one voiced 30 ms frame, per mode
(measured): a single voiced frame shows up as a run of 4-5."""
_WARMUP_FRAMES = 5
"""webrtcvad calls the first 3-4 frames of any stream voiced while it adapts; ignore them."""


def _frames(ms: float) -> int:
    """Milliseconds to a whole number of frames, rounding up."""
    return max(0, -(-round(ms) // FRAME_MS))


def _t(frames: int) -> float:
    return frames * FRAME_MS / 1000


class Endpointer:
    """Turns 30 ms frames into :class:`SpeechStarted` events and whole :class:`Utterance` s.

    ``SpeechStarted`` is reported once the speech has lasted ``min_speech_ms`` (so a click
    never starts a turn), with ``at_s`` the time speech really began. An ``Utterance`` starts
    ``preroll_ms`` before the speech; ``end_s`` is where the speech ended, which is the last
    frame webrtcvad called voiced less its own few frames of overhang (the PCM keeps those
    frames). ``detected_s`` is the end of the frame at which the hangover ran out, so
    ``detected_s - end_s``, the endpoint delay, is ``hangover_ms`` measured from the true end.
    """

    def __init__(
        self,
        *,
        aggressiveness: int = 2,
        preroll_ms: int = 300,
        hangover_ms: int = 450,
        min_speech_ms: int = 240,
        max_utterance_s: float = 30.0,
    ) -> None:
        if not 0 <= aggressiveness <= 3:
            raise AudioError(
                AudioCode.VAD_SETTINGS,
                f"VAD aggressiveness must be 0, 1, 2 or 3; got {aggressiveness}.",
            )
        if hangover_ms < FRAME_MS or max_utterance_s * 1000 < 2 * FRAME_MS:
            raise AudioError(
                AudioCode.VAD_SETTINGS,
                f"hangover_ms must be at least {FRAME_MS} and max_utterance_s at least "
                f"{2 * FRAME_MS / 1000}; got {hangover_ms} ms and {max_utterance_s} s.",
            )
        self._vad = webrtcvad.Vad(aggressiveness)
        self.aggressiveness = aggressiveness
        self.preroll_ms = preroll_ms
        self.hangover_ms = hangover_ms
        self.min_speech_ms = min_speech_ms
        self.max_utterance_s = max_utterance_s
        self._preroll_n = _frames(preroll_ms)
        self._hangover_n = _frames(hangover_ms)
        self._min_speech_n = max(1, _frames(min_speech_ms))
        self._tail_n = _VAD_HANGOVER[aggressiveness]
        self._max_n = max(2, int(max_utterance_s * 1000) // FRAME_MS)
        self._n = 0  # frames fed so far (the clock)
        # Speech starts when the last few frames hold more voiced ones than webrtcvad's own
        # hangover makes out of a single voiced frame (py-webrtcvad's ring buffer, tuned).
        self._start_voiced = _VAD_HANGOVER[aggressiveness] + 2
        self._start_window = self._start_voiced + 2
        self._history: deque[tuple[bytes, bool]] = deque(
            maxlen=self._preroll_n + self._start_window
        )
        self._open = False
        self._confirmed = False
        self._pcm: list[bytes] = []
        self._pcm_start = 0  # frame index where the utterance's audio starts
        self._speech_start = 0  # frame index of the first voiced frame
        self._last_speech = 0  # frame index just after the last voiced frame of speech

    @classmethod
    def from_settings(cls, settings: AudioSettings) -> Endpointer:
        """The endpointer the user configured in the ``[audio]`` section."""
        return cls(
            aggressiveness=settings.vad_aggressiveness,
            preroll_ms=settings.preroll_ms,
            hangover_ms=settings.hangover_ms,
            min_speech_ms=settings.min_speech_ms,
            max_utterance_s=settings.max_utterance_s,
        )

    @property
    def in_speech(self) -> bool:
        """Whether an utterance is open (speech heard and not yet ended)."""
        return self._open

    @property
    def time_s(self) -> float:
        """Stream time: the end of the last frame fed."""
        return _t(self._n)

    def feed(self, frame: bytes) -> list[VadEvent]:
        """Classify one 30 ms frame (``FRAME_BYTES`` of 16 kHz mono int16) and advance."""
        if len(frame) != FRAME_BYTES:
            raise AudioError(
                AudioCode.FRAME_SIZE,
                f"The endpointer takes 30 ms frames of 16 kHz mono int16 ({FRAME_BYTES} bytes); "
                f"got {len(frame)} bytes. Re-chunk the audio (FrameSource does this).",
            )
        voiced = self._vad.is_speech(frame, SAMPLE_RATE) and self._n >= _WARMUP_FRAMES
        index = self._n
        self._n += 1
        self._history.append((frame, voiced))
        window = list(self._history)[-self._start_window :]
        speechy = voiced and sum(v for _, v in window) >= self._start_voiced
        if not self._open:
            if not speechy:
                return []
            self._open_utterance(index, window)
        else:
            self._pcm.append(frame)
            if speechy:
                self._last_speech = self._n
        events: list[VadEvent] = []
        if not self._confirmed and self._last_speech - self._speech_start >= self._min_speech_n:
            self._confirmed = True
            events.append(SpeechStarted(at_s=_t(self._speech_start)))
        if self._n - self._last_speech >= max(1, self._hangover_n - self._tail_n):
            # webrtcvad's own overhang: its last `_tail_n` voiced frames follow the true end
            # of speech, so count them toward the hangover (the audio itself is kept).
            end = max(self._speech_start + 1, self._last_speech - self._tail_n)
            utt = self._close(end=end, detected=self._n, pcm_end=self._last_speech)
            if utt is not None:
                events.append(utt)
        elif self._n - self._pcm_start >= self._max_n:
            log.info("Utterance reached max_utterance_s=%.1f s; splitting", self.max_utterance_s)
            utt = self._close(end=self._last_speech, detected=self._n)
            if utt is not None:
                events.append(utt)
            # Whoever is still talking goes on in a new utterance that starts right here.
            self._open = True
            self._pcm_start = self._speech_start = self._last_speech = self._n
        return events

    def flush(self) -> Utterance | None:
        """End of stream: close the open utterance, if it is long enough to keep."""
        if not self._open:
            return None
        return self._close(end=self._last_speech, detected=self._n)

    def reset(self) -> None:
        """Forget any speech in progress and the pre-roll; the clock keeps running."""
        self._history.clear()
        self._reset_speech()

    def _reset_speech(self) -> None:
        self._open = False
        self._confirmed = False
        self._pcm = []
        self._pcm_start = self._speech_start = self._last_speech = 0

    def _open_utterance(self, index: int, window: list[tuple[bytes, bool]]) -> None:
        first_voiced = next(i for i, (_, v) in enumerate(window) if v)
        self._speech_start = index - (len(window) - 1) + first_voiced
        frames = [f for f, _ in self._history]
        first_kept = max(0, len(frames) - (index + 1 - self._speech_start) - self._preroll_n)
        self._pcm = frames[first_kept:]
        self._pcm_start = index + 1 - len(self._pcm)
        self._last_speech = index + 1
        self._open = True
        self._confirmed = False
        log.debug("Speech may have started at %.2f s", _t(self._speech_start))

    def _close(self, end: int, detected: int, pcm_end: int | None = None) -> Utterance | None:
        confirmed = self._confirmed or end - self._speech_start >= self._min_speech_n
        pcm = b"".join(self._pcm[: (pcm_end or end) - self._pcm_start])
        start = self._pcm_start
        speech_ms = (end - self._speech_start) * FRAME_MS
        self._reset_speech()
        if not confirmed:
            log.debug("Dropped %d ms of sound: shorter than min_speech_ms", speech_ms)
            return None
        return Utterance(pcm=pcm, start_s=_t(start), end_s=_t(end), detected_s=_t(detected))


async def utterances(
    source: FrameSource,
    endpointer: Endpointer,
    on_event: Callable[[VadEvent], None] | None = None,
) -> AsyncIterator[Utterance]:
    """Feed a source's frames through an endpointer and yield each utterance as it ends.

    ``on_event`` sees every event (speech started, utterance ended) as it happens, for the GUI's
    "listening" state; at the end of the source the open utterance is flushed.
    """
    async for frame in source.frames():
        for event in endpointer.feed(frame):
            if on_event is not None:
                on_event(event)
            if isinstance(event, Utterance):
                yield event
    last = endpointer.flush()
    if last is not None:
        if on_event is not None:
            on_event(last)
        yield last
