"""Speaks a turn's reply on its own task, so that generation never waits on audio; a voice or
speaker failure turns the rest of the turn into text only.

The reply reaches the voice in one of two ways:

* a voice that takes a whole reply as it is written
  (:class:`~app.core.ports.StreamingSynthesizer`: ElevenLabs over its WebSocket, and the
  fallback chain in front of it) gets one ``synthesize_stream`` per run of text, opened when
  the model writes its first words (:meth:`Speaker.begin`). Every piece the splitter cuts (the
  first clause, then sentences) goes into it the moment it is cut, and its audio is played as
  it arrives: one connection per reply rather than one per sentence, already up when the
  first piece is cut, and the text is at the service when a sentence ends.
* any other voice (Piper, espeak-ng), and the sequential mode, get one ``synthesize`` call per
  piece, in order.

A run of text ends where the model calls a tool (:meth:`Speaker.end_run`): the stream's input
ends there, so the text before the tool is heard while the tool runs, and the text after it
opens a new stream. One stream for the whole turn would sit idle through the tool call, which
may wait minutes for the user's confirmation, while the service closes a connection that has
had no text for a while and an open one holds one of the account's concurrent requests. A
reply whose tool calls come before any text (the usual case) still takes a single stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable

from app.core.events import AudioStarted, NoticeRaised, SentenceReady, Stage, StageTimed
from app.core.ports import AudioSink, Emit, StreamingSynthesizer, Synthesizer
from app.core.timing import TurnClock
from app.shared.errors import AudioError, TtsError

log = logging.getLogger(__name__)


class _Mark(enum.Enum):
    """What the speaker's queue holds besides text."""

    BEGIN = "begin"
    """The model started writing: a streaming voice connects now, before a piece is cut."""
    RUN_END = "run-end"
    """A tool call follows: the stream open now ends; text after it opens another."""
    TURN_END = "turn-end"
    """Nothing more will be said in this turn."""


_Item = str | _Mark


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
        self._queue: asyncio.Queue[_Item] = asyncio.Queue()
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

    def begin(self) -> None:
        """The model started writing text: a streaming voice opens its connection now, so it
        is up (and the service ready) by the time the first piece is cut."""
        if self._voice is None or self._voice_failed:
            return
        if self._task is None:
            self._task = asyncio.create_task(self._run())
        self._queue.put_nowait(_Mark.BEGIN)

    def end_run(self) -> None:
        """The model stopped writing to call a tool: end the stream open now, if any, so what
        it has is spoken while the tool runs (the text after opens a new one)."""
        if self._task is not None and not self._voice_failed:
            self._queue.put_nowait(_Mark.RUN_END)

    async def finish(self) -> None:
        """Wait until everything said has been heard."""
        if self._task is None:
            return
        self._queue.put_nowait(_Mark.TURN_END)
        await self._task

    async def abort(self) -> None:
        """Stop speaking now: the turn ends early (the voice's stream is closed at once)."""
        if self._task is None:
            return
        self._sink.stop()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _run(self) -> None:
        voice = self._voice
        assert voice is not None
        try:
            if isinstance(voice, StreamingSynthesizer) and not self._sequential:
                await self._speak_streams(voice)
            else:
                await self._speak_sentences(voice)
            if self._started:
                try:
                    await self._sink.drain()
                except AudioError as exc:
                    log.warning("playback failed: %s", exc.code)
                    self._emit(NoticeRaised(exc.code, exc.message))
        except asyncio.CancelledError:
            self._sink.stop()
            raise

    async def _speak_sentences(self, voice: Synthesizer) -> None:
        """One ``synthesize`` per piece, each heard before the next is asked for."""
        while (item := await self._queue.get()) is not _Mark.TURN_END:
            if isinstance(item, str):
                asked = _fixed(self._clock.now())
                if not await self._speak(voice.synthesize(item), asked):
                    return

    async def _speak_streams(self, voice: StreamingSynthesizer) -> None:
        """One ``synthesize_stream`` per run of text, fed from the queue as pieces are cut."""
        while (item := await self._queue.get()) is not _Mark.TURN_END:
            if item is _Mark.RUN_END:  # a tool call before any text of this run
                continue
            run = _TextRun(self._queue, item if isinstance(item, str) else None, self._clock)
            audio = voice.synthesize_stream(run.pieces())
            if not await self._speak(audio, run.first_at) or run.turn_ended:
                return

    async def _speak(self, audio: AsyncGenerator[bytes, None], asked: Callable[[], float]) -> bool:
        """Play ``audio`` as it comes; False when the voice or the speaker failed (the rest of
        the turn is text only). Leaving early closes ``audio``, and so its connection.
        ``asked()``: when the voice was given the text (the first audio is timed from it)."""
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
            return False
        return True

    async def _play(self, chunks: list[bytes], asked: Callable[[], float]) -> None:
        assert self._voice is not None
        for chunk in chunks:
            if not self._started:
                self._emit(StageTimed(Stage.TTS, (self._clock.now() - asked()) * 1000))
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


def _fixed(at: float) -> Callable[[], float]:
    return lambda: at


class _TextRun:
    """One run of the reply's text as a stream's pieces: the first piece (None: the stream
    was opened before it was cut), then whatever the queue brings, until the run (a tool
    call) or the turn ends."""

    def __init__(self, queue: asyncio.Queue[_Item], first: str | None, clock: TurnClock) -> None:
        self._queue = queue
        self._first = first
        self._clock = clock
        self._first_at: float | None = None
        self.turn_ended = False
        """Whether the run ended with the turn (the speaker then has nothing more to wait for)."""

    def first_at(self) -> float:
        """When the voice was handed the run's first piece (now, if it has not been yet)."""
        return self._first_at if self._first_at is not None else self._clock.now()

    async def pieces(self) -> AsyncIterator[str]:
        item: _Item = self._first if self._first is not None else await self._queue.get()
        while isinstance(item, str) or item is _Mark.BEGIN:
            if isinstance(item, str):
                if self._first_at is None:
                    self._first_at = self._clock.now()
                # the splitter strips its pieces; the voice must still see where a word ends
                yield item + " "
            item = await self._queue.get()
        self.turn_ended = item is _Mark.TURN_END
