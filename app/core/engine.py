"""The listening loop: microphone frames → endpointer → turns, with barge-in.

Runs on the engine's event loop. What new speech does depends on where the running turn is:

- Hark is speaking: barge-in, the reply stops at once (or, with barge-in off, the microphone is
  ignored while Hark speaks, so that it cannot answer its own voice from the loudspeakers);
- Hark is still transcribing or thinking: the user simply went on after a pause, so that turn
  is dropped and its audio is joined to the new utterance: nothing said is lost.

Listening can be paused (the tray's "Pause listening"), and in push-to-talk mode frames count
only while armed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from app.core.events import SpeechStarted
from app.core.pipeline import VoicePipeline
from app.core.ports import Emit, Endpointing, FrameSource
from app.core.types import Utterance

log = logging.getLogger(__name__)


class ListenLoop:
    """Feeds a frame source through the endpointer and runs a turn per utterance."""

    def __init__(
        self,
        source: FrameSource,
        endpointer: Endpointing,
        pipeline: VoicePipeline,
        emit: Emit,
        *,
        barge_in: bool = True,
        push_to_talk: bool = False,
    ) -> None:
        self._source = source
        self._endpointer = endpointer
        self._pipeline = pipeline
        self._emit = emit
        self._barge_in = barge_in
        self._push_to_talk = push_to_talk
        self._armed = not push_to_talk
        self._paused = False
        self._turns: set[asyncio.Task[object]] = set()
        self._current: Utterance | None = None
        self._carry: Utterance | None = None
        self.turns_started = 0

    @property
    def armed(self) -> bool:
        return self._armed and not self._paused

    def arm(self) -> None:
        """Push-to-talk: start listening for one utterance (interrupts Hark if it is speaking)."""
        self.interrupt("push-to-talk")
        self._endpointer.reset()
        self._armed = True

    def disarm(self) -> None:
        """Push-to-talk released: whatever was said so far ends the utterance."""
        if not self._push_to_talk:
            return
        self._armed = False
        utterance = self._endpointer.flush()
        if utterance is not None:
            self._start_turn(utterance)

    def pause(self, paused: bool = True) -> None:
        self._paused = paused
        if paused:
            self._endpointer.reset()

    def interrupt(self, reason: str = "barge-in") -> None:
        """Stop Hark speaking and writing now."""
        self._pipeline.cancel(reason)

    async def run(self) -> None:
        """Until the source ends or the task is cancelled; waits for the last turn to finish."""
        try:
            async for frame in self._source.frames():
                if not self.armed:
                    continue
                if not self._barge_in and self._pipeline.speaking:
                    self._endpointer.reset()  # half-duplex: don't hear ourselves
                    continue
                for item in self._endpointer.feed(frame):
                    if isinstance(item, SpeechStarted):
                        self._on_speech_started(item)
                    else:
                        self._start_turn(item)
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

    def _on_speech_started(self, event: SpeechStarted) -> None:
        self._emit(event)
        if not self._pipeline.busy:
            return
        if self._pipeline.speaking:
            self.interrupt("barge-in")
        else:
            self._carry = self._current
            self.interrupt("continued speech")

    def _start_turn(self, utterance: Utterance) -> None:
        if self._push_to_talk:
            self._armed = False
        if self._carry is not None:
            utterance = join(self._carry, utterance)
            self._carry = None
        self._current = utterance
        self.turns_started += 1
        task: asyncio.Task[object] = asyncio.create_task(self._pipeline.run_voice(utterance))
        self._turns.add(task)
        task.add_done_callback(self._turns.discard)


def join(first: Utterance, then: Utterance) -> Utterance:
    """One utterance from two separated by a pause (the pause itself is not kept)."""
    return Utterance(
        first.pcm + then.pcm, first.start_s, then.end_s, then.detected_s, then.sample_rate
    )
