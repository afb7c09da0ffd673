"""Endpointing: cutting utterances out of a stream of 30 ms frames with webrtcvad (and Silero).

webrtcvad classifies each frame as voiced or not; on its own that flickers in noise. The
:class:`Endpointer` smooths it the way py-webrtcvad's example does, with a short ring buffer:
speech starts when most of the last few frames are voiced, and ends once ``hangover_ms`` passed
without a voiced frame that belongs to speech. Around that it adds what a voice assistant
needs: audio from before the start (pre-roll, so the first consonant is not clipped), a
minimum length (a click or a cough is not a question) and a maximum (a radio left on must not
make one endless utterance).

With an end-of-turn model (``turn``, "smart" end of turn) a silence does not end the turn by
itself: the model hears the utterance so far and says whether the user has finished; if so the
turn ends after ``turn_silence_ms``, if not the endpointer keeps listening, and ends the turn
anyway after ``turn_max_wait_ms`` of silence. The model takes longer than a few frames, so its
time is hidden: the moment a silence begins (``turn_early_ms``) the inference starts on a thread
of its own, on the audio so far; by ``turn_silence_ms`` its answer is usually there, and if it is
late the ``feed`` that reached the short silence waits for it (``model_due`` says so beforehand,
so an asyncio caller makes that one call in a worker thread). Speech that resumes, ``reset`` or
the end of the utterance makes the early answer stale (a generation number), and a stale answer
is never used. Without a model (``end_of_turn = "silence"``, or while the model is being
downloaded or failed to) the hangover alone ends a turn, as before.

With a Silero ``gate`` (``audio.silero_vad``) a frame is speech only if Silero agrees with
webrtcvad; Silero runs only on the frames webrtcvad calls voiced, so silence costs nothing.

Time is stream time, counted in frames fed (30 ms each), so it is exact for files and tests and
follows the clock for a microphone.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable

import webrtcvad

from app.audio.silero import SileroGate, load_silero_gate
from app.audio.turn_guess import Guess, TurnJudge
from app.core.events import SpeechStarted
from app.core.types import FRAME_BYTES, FRAME_MS, SAMPLE_RATE, SpeechSoFar, Utterance
from app.settings.schema import AudioSettings
from app.shared.errors import AudioCode, AudioError

log = logging.getLogger(__name__)

VadEvent = SpeechStarted | SpeechSoFar | Utterance
"""What :meth:`Endpointer.feed` reports: speech began (confirmed), the utterance so far (when
asked for: at the first silence, and every so often during long speech), or an utterance
ended."""

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
        turn: TurnJudge | None = None,
        turn_silence_ms: int = 180,
        turn_max_wait_ms: int = 2000,
        turn_early_ms: int = 60,
        so_far_at_pause: bool = False,
        so_far_every_ms: int = 0,
        gate: SileroGate | None = None,
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
        if not FRAME_MS <= turn_silence_ms < turn_max_wait_ms:
            raise AudioError(
                AudioCode.VAD_SETTINGS,
                f"turn_silence_ms must be at least {FRAME_MS} and shorter than "
                f"turn_max_wait_ms; got {turn_silence_ms} ms and {turn_max_wait_ms} ms.",
            )
        self.turn = turn
        """The end-of-turn model; None: the hangover alone ends a turn (may be set later)."""
        self.gate = gate
        """Silero VAD behind webrtcvad (:mod:`app.audio.silero`); None: webrtcvad alone."""
        self.turn_silence_ms = turn_silence_ms
        self.turn_max_wait_ms = turn_max_wait_ms
        self.turn_checks = 0
        """How many of the model's answers were used (one per pause, at ``turn_silence_ms``)."""
        self.turn_guesses = 0
        """How many inferences were started, stale ones included (for tests and the bench)."""
        self.turn_waited_s = 0.0
        """How long the last answer used was waited for, wall time (0: it was there)."""
        self._lock = threading.Lock()
        self._epoch = 0  # the generation: bumped when speech resumes, ends or is forgotten
        self._asked = False  # the model's answer was used during the current silence
        self._guess: Guess | None = None  # the inference started in the current silence
        self._running = threading.Lock()  # held by the guess whose inference runs
        self._vad = webrtcvad.Vad(aggressiveness)
        self.aggressiveness = aggressiveness
        self.preroll_ms = preroll_ms
        self.hangover_ms = hangover_ms
        self.min_speech_ms = min_speech_ms
        self.max_utterance_s = max_utterance_s
        self._preroll_n = _frames(preroll_ms)
        self._hangover_n = _frames(hangover_ms)
        self._min_speech_n = max(1, _frames(min_speech_ms))
        # Silero has no overhang of its own, but it fades a little before a final plosive:
        # with it, the utterance keeps the frame or two after the last speech.
        self._tail_n = _VAD_HANGOVER[aggressiveness] if gate is None else 0
        self._keep_n = 0 if gate is None else 2
        self._ask_n = max(1, _frames(turn_silence_ms) - self._tail_n)
        self._wait_n = max(1, _frames(turn_max_wait_ms) - self._tail_n)
        self._early_n = max(1, _frames(turn_early_ms) - self._tail_n)
        self.so_far_at_pause = so_far_at_pause
        """Hand out the utterance so far (:class:`SpeechSoFar`) when a silence begins, at the
        moment the end-of-turn model is started, for transcribing it early."""
        self._every_n = _frames(so_far_every_ms) if so_far_every_ms > 0 else 0
        self._handed = False  # the utterance so far was handed out in the current silence
        self._handed_at = 0  # frame index of the last hand-out during speech
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
    def from_settings(
        cls,
        settings: AudioSettings,
        notice: Callable[[str, str], None] | None = None,
        progress: Callable[[str], None] | None = None,
        turn: TurnJudge | None = None,
    ) -> Endpointer:
        """The endpointer the user configured in the ``[audio]`` section.

        With ``end_of_turn = "smart"`` and no ``turn`` given, the end-of-turn model is loaded
        from Hark's cache, or downloaded in a background thread (``progress`` sees how far);
        until it is ready, or if that fails, turns end after a silence and ``notice(code,
        message)`` says so once. Both callbacks may be called from that thread.
        """
        gate = None
        if settings.silero_vad:
            try:
                gate = load_silero_gate(settings.silero_threshold)
            except AudioError as exc:  # webrtcvad alone still hears speech, only less well
                log.warning("Silero VAD unavailable: %s", exc.message)
                if notice is not None:
                    notice(exc.code, f"Hark hears speech less well in noise: {exc.message}")
        ep = cls(
            gate=gate,
            aggressiveness=settings.vad_aggressiveness,
            preroll_ms=settings.preroll_ms,
            hangover_ms=settings.hangover_ms,
            min_speech_ms=settings.min_speech_ms,
            max_utterance_s=settings.max_utterance_s,
            turn=turn,
            turn_silence_ms=settings.turn_silence_ms,
            turn_max_wait_ms=settings.turn_max_wait_ms,
            so_far_at_pause=settings.transcribe_early,
            so_far_every_ms=settings.partial_every_ms if settings.transcribe_early else 0,
        )
        if settings.end_of_turn == "smart" and turn is None:
            from app.audio.turn_loader import load_turn_model

            load_turn_model(ep, settings.turn_model_url, notice, progress)
        return ep

    @property
    def model_due(self) -> bool:
        """Whether the next ``feed`` may wait for the end-of-turn model: it reaches the short
        silence and the early answer is not there yet (then it may take a while)."""
        if not (self.turn is not None and self._open and self._confirmed and not self._asked):
            return False
        if self._n + 1 - self._last_speech < self._ask_n:
            return False
        guess = self._guess
        return guess is None or guess.gen != self._epoch or not guess.done.is_set()

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
        with self._lock:
            events, guess = self._advance(frame)
        if guess is None:
            return events
        started = time.perf_counter()
        guess.done.wait()  # only if it is late: the slow part, outside the lock
        self.turn_waited_s = time.perf_counter() - started
        self.turn_checks += 1
        if guess.error is not None:
            raise guess.error
        with self._lock:
            if guess.finished and guess.gen == self._epoch and self._open:
                utt = self._close_at_silence()
                if utt is not None:
                    events.append(utt)
        return events

    def _advance(self, frame: bytes) -> tuple[list[VadEvent], Guess | None]:
        """One frame under the lock: the events, and the model's answer to use, if it is time
        (the inference was started when the silence began, or is started now)."""
        cheap = self._vad.is_speech(frame, SAMPLE_RATE) and self._n >= _WARMUP_FRAMES
        voiced = cheap if self.gate is None else self._gated(frame, cheap)
        index = self._n
        self._n += 1
        self._history.append((frame, voiced))
        window = list(self._history)[-self._start_window :]
        speechy = voiced and sum(v for _, v in window) >= self._start_voiced
        if not self._open:
            if not speechy:
                return [], None
            self._open_utterance(index, window)
        else:
            self._pcm.append(frame)
            if speechy:
                self._last_speech = self._n
                self._asked = self._handed = False
                if self._guess is not None:  # the user goes on: the early answer is stale
                    self._drop_guess()
                    self._epoch += 1
        events: list[VadEvent] = []
        ask: Guess | None = None
        if not self._confirmed and self._last_speech - self._speech_start >= self._min_speech_n:
            self._confirmed = True
            events.append(SpeechStarted(at_s=_t(self._speech_start)))
        silent_n = self._n - self._last_speech
        turn = self.turn if self._confirmed else None  # a click is not worth asking about
        # webrtcvad's own overhang: its last `_tail_n` voiced frames follow the true end of
        # speech, so they count toward the silence (the audio itself is kept).
        limit_n = self._wait_n if turn is not None else self._hangover_n - self._tail_n
        if silent_n >= max(1, limit_n):
            utt = self._close_at_silence()
            if utt is not None:
                events.append(utt)
        elif turn is not None and not self._asked and silent_n >= self._ask_n:
            self._asked = True
            ask = self._guess if self._guess is not None else self._start_guess(turn)
            self._guess = None
        elif turn is not None and not self._asked and not self._guess and silent_n >= self._early_n:
            self._start_guess(turn)
        elif self._n - self._pcm_start >= self._max_n:
            log.info("Utterance reached max_utterance_s=%.1f s; splitting", self.max_utterance_s)
            utt = self._close(end=self._last_speech, detected=self._n)
            if utt is not None:
                events.append(utt)
            # Whoever is still talking goes on in a new utterance that starts right here.
            self._open = True
            self._pcm_start = self._speech_start = self._last_speech = self._n
        if self._open and self._confirmed:
            so_far = self._so_far(silent_n)
            if so_far is not None:
                events.append(so_far)
        return events, ask

    def _so_far(self, silent_n: int) -> SpeechSoFar | None:
        """The utterance so far, if it is time to hand it out: once when a silence begins, and
        every ``so_far_every_ms`` of an utterance still going on."""
        if silent_n == 0:
            if not self._every_n or self._n - max(self._handed_at, self._pcm_start) < self._every_n:
                return None
            self._handed_at = self._n
            paused = False
        elif self.so_far_at_pause and not self._handed and silent_n >= self._early_n:
            self._handed = True
            paused = True
        else:
            return None
        return SpeechSoFar(b"".join(self._pcm), _t(self._pcm_start), paused)

    def _gated(self, frame: bytes, cheap: bool) -> bool:
        """Silero behind webrtcvad; as in Silero's own use, speech under way goes on down to
        0.15 below the threshold that starts it (an opening "s" or a soft word is not lost)."""
        gate = self.gate
        assert gate is not None
        if not cheap:
            return gate.is_speech(frame, False)
        floor = gate.threshold - 0.15 if self._open else gate.threshold
        return gate.probability(frame) >= floor

    def _start_guess(self, turn: TurnJudge) -> Guess:
        self.turn_guesses += 1
        self._guess = Guess(turn, b"".join(self._pcm), self._epoch, self._running)
        return self._guess

    def _drop_guess(self) -> None:
        if self._guess is not None:
            self._guess.stale = True
            self._guess = None

    def _close_at_silence(self) -> Utterance | None:
        end = max(self._speech_start + 1, self._last_speech - self._tail_n)
        pcm_end = min(self._n, self._last_speech + self._keep_n)
        return self._close(end=end, detected=self._n, pcm_end=pcm_end)

    def flush(self) -> Utterance | None:
        """End of stream: close the open utterance, if it is long enough to keep."""
        with self._lock:
            if not self._open:
                return None
            return self._close(end=self._last_speech, detected=self._n)

    def reset(self) -> None:
        """Forget any speech in progress and the pre-roll; the clock keeps running."""
        with self._lock:
            self._history.clear()
            self._reset_speech()
            if self.gate is not None:
                self.gate.reset()

    def _reset_speech(self) -> None:
        self._epoch += 1
        self._asked = self._handed = False
        self._drop_guess()
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
