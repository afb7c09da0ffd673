"""The listening loop with the "smart" end of turn: the real Smart Turn model decides, in a
worker thread (the engine's loop stays free), and a request with a thinking pause in the
middle becomes one turn."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncGenerator
from pathlib import Path

import pytest

from app.audio.turn import SmartTurn
from app.audio.vad import Endpointer
from app.core.conversation import Conversation
from app.core.events import TurnFinished
from app.core.listen_loop import ListenLoop
from app.core.pipeline import VoicePipeline
from app.core.tools import ToolRegistry
from tests.core.scripted import (
    MemorySink,
    Recorder,
    ScriptedChat,
    ScriptedTranscriber,
    ScriptedVoice,
    frames,
)
from tests.support.pauses import paused_clip

pytestmark = pytest.mark.slow


class Source:
    def __init__(self, pcm: bytes) -> None:
        self.pcm = pcm

    async def frames(self) -> AsyncGenerator[bytes, None]:
        for f in frames(self.pcm):
            yield f
            await asyncio.sleep(0)  # a microphone hands frames over one by one

    async def aclose(self) -> None:
        return None


class ThreadNoting:
    """The real model; notes the thread each call ran on."""

    def __init__(self, model: SmartTurn) -> None:
        self.model, self.threads = model, list[str]()

    def complete(self, pcm: bytes) -> bool:
        self.threads.append(threading.current_thread().name)
        return self.model.complete(pcm)


async def run_loop(pcm: bytes, endpointer: Endpointer) -> int:
    rec, sink = Recorder(), MemorySink()
    pipeline = VoicePipeline(
        chat=ScriptedChat(),
        tools=ToolRegistry(),
        conversation=Conversation("sys", 2),
        sink=sink,
        emit=rec,
        transcriber=ScriptedTranscriber("hello"),
        voice=ScriptedVoice(),
    )
    loop = ListenLoop(Source(pcm), endpointer, pipeline, rec)
    await loop.run()
    assert len(rec.of(TurnFinished)) == loop.turns_started
    return loop.turns_started


async def test_a_thinking_pause_stays_one_turn_and_the_model_runs_off_the_loop(
    turn_model_file: Path,
):
    clip = paused_clip(2, "hesitant", 1.0)  # "What is the weather like, um… tomorrow in Paris?"
    judge = ThreadNoting(SmartTurn(turn_model_file))
    assert await run_loop(clip.clip.pcm, Endpointer(turn=judge)) == 1
    assert judge.threads
    assert threading.main_thread().name not in judge.threads
    assert await run_loop(clip.clip.pcm, Endpointer()) == 2  # a silence timeout cuts it
