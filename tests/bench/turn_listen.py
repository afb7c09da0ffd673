"""A turn as the user has it, for the latency benchmark: a clip handed over frame by frame at the
microphone's pace into Hark's real listening loop (endpointer, end-of-turn model, early
transcription, the join of a resumed request), its real pipeline, and a speaker that plays in
real time; every figure is wall time from the true end of speech.

A benchmark may sleep: here it stands for the microphone's and the speaker's clocks.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Any

from app.audio.turn_guess import TurnJudge
from app.audio.vad import Endpointer
from app.core.conversation import Conversation
from app.core.early import EarlyTranscripts
from app.core.events import (
    AudioStarted,
    Event,
    SentenceReady,
    Stage,
    StageTimed,
    TranscriptReady,
    TurnFinished,
    TurnResult,
    TurnStarted,
)
from app.core.listen_loop import ListenLoop
from app.core.pipeline import PipelineOptions, VoicePipeline
from app.core.ports import ChatModel, Synthesizer, Transcriber
from app.core.tools import ToolRegistry
from app.core.types import FRAME_BYTES, FRAME_MS
from app.settings.schema import AudioSettings

FRAME_S = FRAME_MS / 1000


class PacedSource:
    """The clip's frames, each handed over when it has been fully "recorded"."""

    def __init__(self, pcm: bytes) -> None:
        self.pcm = pcm + b"\0" * (-len(pcm) % FRAME_BYTES)
        self.t0 = 0.0

    async def frames(self) -> AsyncGenerator[bytes, None]:
        self.t0 = time.monotonic()
        for n, i in enumerate(range(0, len(self.pcm), FRAME_BYTES), start=1):
            await asyncio.sleep(max(0.0, self.t0 + n * FRAME_S - time.monotonic()))
            yield self.pcm[i : i + FRAME_BYTES]

    async def aclose(self) -> None:
        pass


class RealTimeSink:
    """Plays nothing, but takes as long as the audio lasts (so Hark is "speaking" while a
    user might resume), and stops at once on a barge-in."""

    def __init__(self) -> None:
        self.rate = 16_000
        self._until = 0.0
        self._first: float | None = None
        self._stopped = asyncio.Event()

    @property
    def first_sample_at(self) -> float | None:
        return self._first

    async def start(self, sample_rate: int) -> None:
        self.rate, self._first, self._until = sample_rate, None, 0.0
        self._stopped = asyncio.Event()

    async def write(self, pcm: bytes) -> None:
        now = time.monotonic()
        if self._first is None and pcm:
            self._first = now
        self._until = max(self._until, now) + len(pcm) / 2 / self.rate

    async def drain(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopped.wait(), max(0.0, self._until - time.monotonic()))

    def stop(self) -> None:
        self._stopped.set()


@dataclass
class Marks:
    """When each event of a run came (monotonic seconds)."""

    events: list[tuple[float, Event]] = field(default_factory=list)

    def __call__(self, event: Event) -> None:
        self.events.append((time.monotonic(), event))

    def first(self, kind: type, after: float = 0.0) -> float | None:
        return next((t for t, e in self.events if isinstance(e, kind) and t >= after), None)

    def tts_first_chunk_ms(self) -> float | None:
        return next(
            (e.ms for _, e in self.events if isinstance(e, StageTimed) and e.stage is Stage.TTS),
            None,
        )

    def answered(self) -> list[TurnResult]:
        return [
            e.result
            for _, e in self.events
            if isinstance(e, TurnFinished) and not e.result.cancelled and e.result.transcript
        ]


async def listen(
    pcm: bytes,
    audio: AudioSettings,
    *,
    turn: TurnJudge | None,
    asr: Transcriber,
    chat: ChatModel,
    voice: Synthesizer,
    stream: bool = True,
) -> tuple[Marks, PacedSource, EarlyTranscripts | None]:
    """Run a clip through the listening loop as ``audio`` says; the events and the source."""
    marks = Marks()
    endpointer = Endpointer.from_settings(
        audio, turn=turn if audio.end_of_turn == "smart" else None
    )
    pipeline = VoicePipeline(
        chat=chat,
        tools=ToolRegistry(),
        conversation=Conversation("You are Hark.", 0),
        sink=RealTimeSink(),
        emit=marks,
        transcriber=asr,
        voice=voice,
        options=PipelineOptions(stream_sentences=stream, first_clause_words=5 if stream else 0),
    )
    early = EarlyTranscripts(asr, marks) if audio.transcribe_early else None
    source = PacedSource(pcm)
    loop = ListenLoop(
        source, endpointer, pipeline, marks, early=early, join_within_s=audio.join_within_ms / 1000
    )
    await loop.run()
    return marks, source, early


def turn_figures(marks: Marks, true_end_wall: float) -> dict[str, Any]:
    """The first answered turn's figures, from the true end of speech (wall time)."""
    started = marks.first(TurnStarted, after=true_end_wall - 0.5)
    heard = marks.first(TranscriptReady, after=true_end_wall - 0.5)
    sentence = marks.first(SentenceReady, after=true_end_wall - 0.5)
    audio = marks.first(AudioStarted, after=true_end_wall - 0.5)
    tts_ms = marks.tts_first_chunk_ms()
    if started is None or heard is None or sentence is None or audio is None or tts_ms is None:
        raise RuntimeError("the turn did not get as far as speaking")
    first_audio = (audio - true_end_wall) * 1000
    model_to_clause = (sentence - heard) * 1000
    return {
        "endpoint_ms": (started - true_end_wall) * 1000,
        "asr_wait_ms": (heard - started) * 1000,
        "model_to_clause_ms": model_to_clause,
        "tts_first_chunk_ms": tts_ms,
        "first_audio_ms": first_audio,
        "before_model_ms": first_audio - model_to_clause - tts_ms,
    }
