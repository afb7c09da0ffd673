"""Scripted in-memory ports for the core's unit tests (the core has no I/O to fake)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Sequence

from app.core.conversation import Conversation
from app.core.events import Event, TurnFinished
from app.core.pipeline import PipelineOptions, VoicePipeline
from app.core.ports import Synthesizer, Transcriber
from app.core.tools import ToolRegistry, register_builtin_tools
from app.core.types import FRAME_BYTES, BackendStatus, ChatDelta, ChatMessage, ToolSpec, Transcript
from app.shared.errors import LlmError, TtsError


class ScriptedChat:
    """Replays scripted rounds of deltas; records what it was sent.

    A round may contain an ``asyncio.Event`` entry: the stream waits on it, so a test can hold
    the model "mid-sentence" and check that speech started before the rest was written.
    ``cut_off`` counts the streams stopped before their end (cancelled, or closed by the
    consumer): generation cut off mid-reply, as a barge-in must.
    """

    def __init__(self, *rounds: list[ChatDelta | asyncio.Event | Exception]) -> None:
        self._rounds = list(rounds)
        self.requests: list[tuple[list[ChatMessage], list[str]]] = []
        self.waiting = asyncio.Event()
        self.cut_off = 0

    async def stream_chat(
        self, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec]
    ) -> AsyncGenerator[ChatDelta, None]:
        self.requests.append((list(messages), [t.name for t in tools]))
        script = self._rounds.pop(0) if self._rounds else [ChatDelta("Okay."), ChatDelta(done=True)]
        try:
            for item in script:
                if isinstance(item, asyncio.Event):
                    self.waiting.set()
                    await item.wait()
                elif isinstance(item, Exception):
                    raise item
                else:
                    yield item
        except (asyncio.CancelledError, GeneratorExit):
            self.cut_off += 1
            raise

    async def check(self) -> BackendStatus:
        return BackendStatus(True, "ok", "scripted")


class ScriptedTranscriber:
    def __init__(self, text: str = "", error: Exception | None = None) -> None:
        self.text = text
        self.error = error
        self.calls = 0
        self.heard_s: list[float] = []

    async def transcribe(self, pcm: bytes, sample_rate: int) -> Transcript:
        self.calls += 1
        self.heard_s.append(len(pcm) / 2 / sample_rate)
        if self.error:
            raise self.error
        return Transcript(self.text, "en", len(pcm) / 2 / sample_rate)


class ScriptedVoice:
    """Speaks 10 samples of value n for the n-th sentence; fails when told to."""

    name = "scripted"
    sample_rate = 16_000

    def __init__(self, fail_with: TtsError | None = None) -> None:
        self.spoken: list[str] = []
        self.fail_with = fail_with

    async def synthesize(self, text: str) -> AsyncGenerator[bytes, None]:
        if self.fail_with:
            raise self.fail_with
        self.spoken.append(text)
        value = len(self.spoken)
        yield value.to_bytes(2, "little") * 10


class MemorySink:
    """An AudioSink that keeps everything; ``drain`` waits on ``release`` when one is set."""

    def __init__(self, fail_with: Exception | None = None) -> None:
        self.fail_with = fail_with
        self.pcm = bytearray()
        self.rate: int | None = None
        self.stopped = 0
        self.release: asyncio.Event | None = None
        self.written = asyncio.Event()
        self._first: float | None = None

    async def start(self, sample_rate: int) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        self.rate = sample_rate
        self._first = None

    async def write(self, pcm: bytes) -> None:
        if self._first is None:
            self._first = time.monotonic()
        self.pcm += pcm
        self.written.set()

    async def drain(self) -> None:
        if self.release is not None:
            await self.release.wait()

    def stop(self) -> None:
        self.stopped += 1
        if self.release is not None:
            self.release.set()

    @property
    def first_sample_at(self) -> float | None:
        return self._first


class Recorder:
    """Collects emitted events; ``finished`` is set when a turn finishes."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.finished = asyncio.Event()

    def __call__(self, event: Event) -> None:
        self.events.append(event)
        if isinstance(event, TurnFinished):
            self.finished.set()

    def of(self, kind: type) -> list[Event]:
        return [e for e in self.events if isinstance(e, kind)]


def llm_down() -> LlmError:
    return LlmError("llm-unreachable", "Ollama at http://127.0.0.1:9 did not answer")


def frames(pcm: bytes) -> list[bytes]:
    """``pcm`` cut into 30 ms frames, the last one padded with silence."""
    pcm += b"\0" * (-len(pcm) % FRAME_BYTES)
    return [pcm[i : i + FRAME_BYTES] for i in range(0, len(pcm), FRAME_BYTES)]


def make(
    chat: ScriptedChat,
    *,
    voice: Synthesizer | None = None,
    transcriber: Transcriber | None = None,
    stream: bool = True,
    conversation: Conversation | None = None,
) -> tuple[VoicePipeline, Recorder, MemorySink]:
    """A pipeline on ``chat`` with the builtin tools, a recorder and a memory sink."""
    rec = Recorder()
    sink = MemorySink()
    tools = ToolRegistry()
    register_builtin_tools(tools)
    pipe = VoicePipeline(
        chat=chat,
        tools=tools,
        conversation=conversation if conversation is not None else Conversation("You are Hark.", 4),
        sink=sink,
        emit=rec,
        transcriber=transcriber,
        voice=voice if voice is not None else ScriptedVoice(),
        options=PipelineOptions(stream_sentences=stream),
    )
    return pipe, rec, sink


def words(text: str) -> list[ChatDelta]:
    """``text`` as the model would stream it: one delta per word, then ``done``."""
    return [ChatDelta(w) for w in text.split(" ") if w for w in (w + " ",)] + [ChatDelta(done=True)]
