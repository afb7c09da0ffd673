"""The listening loop: microphone frames → endpointer → turns, with barge-in.

Runs on the engine's event loop. What new speech does depends on where the running turn is:

- Hark is speaking: barge-in, the reply stops at once (or, with barge-in off, the microphone is
  ignored while Hark speaks, so that it cannot answer its own voice from the loudspeakers);
- Hark is still transcribing or thinking: the user simply went on after a pause, so that turn
  is dropped and its audio is joined to the new utterance: nothing said is lost. The same holds
  when Hark has just begun to answer but the new speech began within ``join_within_s`` of the end
  of the request: it is the rest of the request, not an interruption.

With ``early`` transcriptions (:mod:`app.core.early`) the utterance so far is transcribed while
the user still talks and at the first short silence, and a turn takes that transcription when it
heard the turn's own audio.

Listening can be paused (the tray's "Pause listening"). In push-to-talk mode frames count only
while armed: ``arm()`` on the key press (the first ``skip_ms`` are dropped, so the key's click is
not taken for speech), ``disarm()`` on release in hold mode, ``toggle()`` for toggle mode.

With a wake word detector the loop waits for the wake word: frames go to the detector only,
until it fires; then ``WakeWordDetected`` is emitted (the tray's "listening"), Hark stops
talking if it was, and the loop listens for one utterance, which the endpointer ends at the
next silence. Then it waits for the wake word again (also if nothing was said within
``listen_timeout_s``: ``ListeningTimedOut``). Push-to-talk works alongside.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from app.core.early import EarlyTranscripts
from app.core.events import ListeningTimedOut, SpeechStarted, WakeWordDetected
from app.core.pipeline import VoicePipeline
from app.core.ports import Emit, Endpointing, FrameSource, WakeDetector
from app.core.types import FRAME_MS, SpeechSoFar, Utterance

log = logging.getLogger(__name__)


class ListenLoop:
    """Feeds a frame source through the endpointer and runs a turn per utterance.

    ``push_to_talk`` or a ``wake`` detector make listening one-shot: one utterance per key
    press or per wake word. ``skip_ms`` is what ``arm()`` drops by default after a key press.
    """

    def __init__(
        self,
        source: FrameSource,
        endpointer: Endpointing,
        pipeline: VoicePipeline,
        emit: Emit,
        *,
        barge_in: bool = True,
        push_to_talk: bool = False,
        wake: WakeDetector | None = None,
        skip_ms: int = 150,
        listen_timeout_s: float = 8.0,
        early: EarlyTranscripts | None = None,
        join_within_s: float = 0.0,
    ) -> None:
        self._source = source
        self._endpointer = endpointer
        self._pipeline = pipeline
        self._emit = emit
        self._barge_in = barge_in
        self._push_to_talk = push_to_talk
        self._wake = wake
        self._one_shot = push_to_talk or wake is not None
        self._armed = not self._one_shot
        self._paused = False
        self._skip_ms = skip_ms
        self._skip = 0  # frames still to drop after a key press
        self._listen_timeout_n = max(1, round(listen_timeout_s * 1000 / FRAME_MS))
        self._woken = False  # armed by the wake word (not by a key): times out if nothing said
        self._heard = False  # speech started since the loop was armed
        self._armed_n = 0  # frames fed since the loop was armed
        self._wake_stale = False  # the detector must forget what it heard before its next frame
        self._early = early
        self._join_within_s = join_within_s
        self._turns: set[asyncio.Task[object]] = set()
        self._current: Utterance | None = None
        self._carry: Utterance | None = None
        self.turns_started = 0
        self.wake_words = 0

    @property
    def early(self) -> EarlyTranscripts | None:
        """The early transcriptions the loop hands the utterance so far to, if any."""
        return self._early

    @property
    def armed(self) -> bool:
        return self._armed and not self._paused

    def arm(self, skip_ms: int | None = None) -> None:
        """Push-to-talk: start listening for one utterance (interrupts Hark if it is speaking).

        The first ``skip_ms`` of audio (default: the loop's ``skip_ms``) are dropped: they hold
        the click of the key that was just pressed, not speech.
        """
        self.interrupt("push-to-talk")
        self._listen(skip_ms=self._skip_ms if skip_ms is None else skip_ms, woken=False)

    def disarm(self) -> None:
        """Push-to-talk released: whatever was said so far ends the utterance."""
        if not self._one_shot:
            return
        self._stop_listening()
        utterance = self._endpointer.flush()
        if utterance is not None:
            self._start_turn(utterance)

    def toggle(self) -> None:
        """Push-to-talk in toggle mode: the first press arms, the second ends the utterance."""
        if self._one_shot and self.armed:
            self.disarm()
        else:
            self.arm()

    def pause(self, paused: bool = True) -> None:
        self._paused = paused
        if paused:
            self._reset()
            self._wake_stale = True

    def interrupt(self, reason: str = "barge-in") -> None:
        """Stop Hark speaking and writing now."""
        self._pipeline.cancel(reason)

    def cancel(self, reason: str = "cancelled") -> None:
        """The user's Cancel: forget what is being heard (no turn is made of it), stop
        listening, and stop the running turn."""
        if self._one_shot:
            self._stop_listening()
        self._reset()
        self._carry = None
        self.interrupt(reason)

    async def run(self) -> None:
        """Until the source ends or the task is cancelled; waits for the last turn to finish."""
        try:
            async for frame in self._source.frames():
                if self._paused:
                    continue
                if not self._armed:
                    await self._listen_for_wake_word(frame)
                    continue
                if self._skip:
                    self._skip -= 1
                    continue
                if not self._barge_in and self._pipeline.speaking:
                    self._reset()  # half-duplex: don't hear ourselves
                    continue
                self._armed_n += 1
                if self._endpointer.model_due:  # waits for a late end-of-turn answer: off the loop
                    items = await asyncio.to_thread(self._endpointer.feed, frame)
                else:
                    items = self._endpointer.feed(frame)
                if not self.armed:
                    continue  # paused, cancelled or disarmed while the model ran
                for item in items:
                    if isinstance(item, SpeechStarted):
                        self._on_speech_started(item)
                    elif isinstance(item, SpeechSoFar):
                        if self._early is not None:
                            self._early.offer(item)
                    else:
                        self._start_turn(item)
                if self._woken and not self._heard and self._armed_n >= self._listen_timeout_n:
                    self._time_out()
            last = self._endpointer.flush()
            if last is not None and self.armed:
                self._start_turn(last)
            if self._turns:
                await asyncio.gather(*self._turns, return_exceptions=True)
        finally:
            for task in self._turns:
                task.cancel()
            with contextlib.suppress(Exception):
                await self._source.aclose()

    async def _listen_for_wake_word(self, frame: bytes) -> None:
        wake = self._wake
        if wake is None:
            return
        if self._wake_stale:  # reset here, never while a feed may be running in a thread
            self._wake_stale = False
            wake.reset()
        if not self._barge_in and self._pipeline.speaking:
            return  # half-duplex: Hark's own voice must not wake it
        if wake.gate_open:  # the model runs: keep the loop free for the turn in progress
            score = await asyncio.to_thread(wake.feed, frame)
        else:
            score = wake.feed(frame)
        if score is None or self._armed or self._paused:
            return  # no wake word, or a key press / pause came while the model ran
        self.wake_words += 1
        self._emit(WakeWordDetected(model=wake.name, score=score))
        if self._pipeline.busy:
            self.interrupt("wake word")
        self._listen(skip_ms=0, woken=True)

    def _reset(self) -> None:
        """Forget the speech in progress, and its early transcriptions."""
        self._endpointer.reset()
        if self._early is not None:
            self._early.forget()

    def _listen(self, *, skip_ms: int, woken: bool) -> None:
        self._reset()
        self._armed = True
        self._skip = max(0, -(-skip_ms // FRAME_MS))
        self._woken = woken
        self._heard = False
        self._armed_n = 0

    def _stop_listening(self) -> None:
        """Back to waiting: for the key, or for the wake word (whose detector starts afresh)."""
        self._armed = False
        self._woken = False
        self._skip = 0
        self._wake_stale = True

    def _time_out(self) -> None:
        log.info("No request after the wake word; waiting for the wake word again")
        self._stop_listening()
        self._reset()
        self._emit(ListeningTimedOut(after_s=self._armed_n * FRAME_MS / 1000))

    def _on_speech_started(self, event: SpeechStarted) -> None:
        self._heard = True
        self._emit(event)
        if not self._pipeline.busy:
            return
        if self._pipeline.speaking and not self._continues(event):
            self.interrupt("barge-in")
        else:
            self._carry = self._current
            self.interrupt("continued speech")

    def _continues(self, event: SpeechStarted) -> bool:
        """Whether speech that starts while Hark answers is the rest of the request: it began
        within ``join_within_s`` of the request's end (a pause, not an interruption)."""
        current = self._current
        return current is not None and event.at_s - current.end_s <= self._join_within_s

    def _start_turn(self, utterance: Utterance) -> None:
        if self._one_shot:
            self._stop_listening()
        if self._carry is not None:
            utterance = join(self._carry, utterance)
            self._carry = None
        self._current = utterance
        self.turns_started += 1
        early = self._early.claim(utterance) if self._early is not None else None
        task: asyncio.Task[object] = asyncio.create_task(self._pipeline.run_voice(utterance, early))
        self._turns.add(task)
        task.add_done_callback(self._turns.discard)


def join(first: Utterance, then: Utterance) -> Utterance:
    """One utterance from two separated by a pause (the pause itself is not kept)."""
    return Utterance(
        first.pcm + then.pcm, first.start_s, then.end_s, then.detected_s, then.sample_rate
    )
