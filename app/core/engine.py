"""The listening loop: microphone frames → endpointer → turns, with barge-in.

Runs on the engine's event loop. While Hark is speaking, new speech from the user (or a call to
:meth:`ListenLoop.interrupt`) stops the reply at once. Listening can be paused (the tray's
"Pause listening", or push-to-talk mode where frames count only while armed).
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
                for item in self._endpointer.feed(frame):
                    if isinstance(item, SpeechStarted):
                        self._emit(item)
                        if self._barge_in and self._pipeline.busy:
                            self.interrupt("barge-in")
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

    def _start_turn(self, utterance: Utterance) -> None:
        if self._push_to_talk:
            self._armed = False
        self.turns_started += 1
        task: asyncio.Task[object] = asyncio.create_task(self._pipeline.run_voice(utterance))
        self._turns.add(task)
        task.add_done_callback(self._turns.discard)
