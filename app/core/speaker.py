"""Speaks a turn's reply sentence by sentence on its own task, so that generation never waits
on audio; a voice or speaker failure turns the rest of the turn into text only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from app.core.events import AudioStarted, NoticeRaised, SentenceReady, Stage, StageTimed
from app.core.ports import AudioSink, Emit, Synthesizer
from app.core.timing import TurnClock
from app.shared.errors import AudioError, TtsError

log = logging.getLogger(__name__)


class Speaker:
    """Speaks queued sentences in order on its own task, so generation never waits on audio."""

    def __init__(
        self,
        voice: Synthesizer | None,
        sink: AudioSink,
        emit: Emit,
        clock: TurnClock,
        lead_ms: float | None,
        *,
        sequential: bool = False,
        on_audio: Callable[[], None] | None = None,
    ) -> None:
        self._sequential = sequential
        self._on_audio = on_audio
        self._voice = voice
        self._sink = sink
        self._emit = emit
        self._clock = clock
        self._lead_ms = lead_ms or 0.0
        self._queue: asyncio.Queue[str | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._started = False
        self._announced = False
        self._voice_failed = False

    @property
    def first_audio_at(self) -> float | None:
        """When the first sample of the reply was played, once it was."""
        return self._sink.first_sample_at if self._started else None

    def say(self, sentence: str) -> None:
        """Show the sentence, and queue it for the voice unless there is none (or it failed)."""
        self._emit(SentenceReady(sentence))
        if self._voice is None or self._voice_failed:
            return
        if self._task is None:
            self._task = asyncio.create_task(self._run())
        self._queue.put_nowait(sentence)

    async def finish(self) -> None:
        """Wait until everything said has been heard."""
        if self._task is None:
            return
        self._queue.put_nowait(None)
        await self._task

    async def abort(self) -> None:
        """Stop speaking now: the turn ends early."""
        if self._task is None:
            return
        self._sink.stop()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _run(self) -> None:
        assert self._voice is not None
        voice = self._voice
        try:
            while (sentence := await self._queue.get()) is not None:
                asked = self._clock.now()
                audio = voice.synthesize(sentence)
                try:
                    async with contextlib.aclosing(audio):
                        if self._sequential:
                            await self._play([c async for c in audio], asked)
                        else:
                            async for chunk in audio:
                                await self._play([chunk], asked)
                except (TtsError, AudioError) as exc:  # no voice or no speaker: text only
                    self._voice_failed = True
                    log.warning("cannot speak, going on in text only: %s", exc.code)
                    self._emit(NoticeRaised(exc.code, exc.message))
                    break
            if self._started:
                try:
                    await self._sink.drain()
                except AudioError as exc:
                    log.warning("playback failed: %s", exc.code)
                    self._emit(NoticeRaised(exc.code, exc.message))
        except asyncio.CancelledError:
            self._sink.stop()
            raise

    async def _play(self, chunks: list[bytes], asked: float) -> None:
        assert self._voice is not None
        for chunk in chunks:
            if not self._started:
                self._emit(StageTimed(Stage.TTS, (self._clock.now() - asked) * 1000))
                await self._sink.start(self._voice.sample_rate)
                self._started = True
            await self._sink.write(chunk)
            if not self._announced:
                self._announce()

    def _announce(self) -> None:
        self._announced = True
        if self._on_audio is not None:
            self._on_audio()
        at = self._sink.first_sample_at or self._clock.now()
        self._emit(AudioStarted(self._lead_ms + (at - self._clock.start) * 1000))
