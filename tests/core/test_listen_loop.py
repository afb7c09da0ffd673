"""The listening loop with the real endpointer on Piper speech: turns, barge-in, push-to-talk."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

import pytest

from app.audio.vad import Endpointer
from app.core.conversation import Conversation
from app.core.events import SpeechStarted, TurnCancelled, TurnFinished
from app.core.listen_loop import ListenLoop
from app.core.pipeline import VoicePipeline
from app.core.tools import ToolRegistry
from app.core.types import ChatDelta
from tests.core.scripted import (
    MemorySink,
    Recorder,
    ScriptedChat,
    ScriptedTranscriber,
    ScriptedVoice,
    frames,
)
from tests.support.speech import speech_clip

pytestmark = pytest.mark.slow


class StagedSource:
    """Yields the first stretch, waits for a signal, then yields the second."""

    def __init__(self, first: bytes, then: asyncio.Event | None = None, second: bytes = b""):
        self.first, self.then, self.second = first, then, second
        self.closed = False
        self.done = asyncio.Event()

    async def frames(self) -> AsyncGenerator[bytes, None]:
        for f in frames(self.first):
            yield f
        if self.then is not None:
            await self.then.wait()
        for f in frames(self.second):
            yield f
        self.done.set()

    async def aclose(self) -> None:
        self.closed = True


def pipeline(
    chat: ScriptedChat, sink: MemorySink, rec: Recorder, asr: ScriptedTranscriber | None = None
) -> VoicePipeline:
    return VoicePipeline(
        chat=chat,
        tools=ToolRegistry(),
        conversation=Conversation("sys", 2),
        sink=sink,
        emit=rec,
        transcriber=asr or ScriptedTranscriber("hello"),
        voice=ScriptedVoice(),
    )


async def test_each_utterance_becomes_a_turn():
    a = speech_clip("Turn on the lights.", 0.3, 0.8).pcm
    b = speech_clip("What time is it?", 0.3, 0.8).pcm
    rec, sink = Recorder(), MemorySink()
    source = StagedSource(a, then=rec.finished, second=b)  # speak again once Hark is done
    loop = ListenLoop(source, Endpointer(), pipeline(ScriptedChat(), sink, rec), rec)
    await loop.run()
    assert loop.turns_started == 2
    finished = [e for e in rec.of(TurnFinished) if not e.result.cancelled]
    assert len(finished) == 2


async def test_speaking_while_hark_talks_interrupts_it():
    first = speech_clip("Tell me a long story.", 0.3, 0.8).pcm
    second = speech_clip("Stop, that is enough.", 0.3, 0.8).pcm
    gate = asyncio.Event()  # the model never finishes its first reply on its own
    chat = ScriptedChat([ChatDelta("Once upon a time there was a fox. "), gate])
    rec, sink = Recorder(), MemorySink()
    sink.release = asyncio.Event()
    source = StagedSource(first, then=sink.written, second=second)
    loop = ListenLoop(source, Endpointer(), pipeline(chat, sink, rec), rec, barge_in=True)
    await loop.run()
    cancelled = rec.of(TurnCancelled)
    assert [c.reason for c in cancelled] == ["barge-in"]
    assert sink.stopped >= 1
    assert loop.turns_started == 2
    assert len(rec.of(SpeechStarted)) == 2
    assert source.closed


async def test_going_on_after_a_pause_joins_the_two_utterances():
    a = speech_clip("Turn on the lights", 0.3, 0.8).pcm
    b = speech_clip("in the kitchen, please.", 0.3, 0.8).pcm
    gate = asyncio.Event()  # the model is still thinking about the first part
    chat = ScriptedChat([gate], [ChatDelta("Done."), ChatDelta(done=True)])
    rec, sink, asr = Recorder(), MemorySink(), ScriptedTranscriber("hello")
    source = StagedSource(a, then=chat.waiting, second=b)  # speak again while it thinks
    loop = ListenLoop(source, Endpointer(), pipeline(chat, sink, rec, asr), rec)
    await loop.run()
    assert [e.result.cancelled for e in rec.of(TurnFinished)] == [True, False]
    assert [c.reason for c in rec.of(TurnCancelled)] == ["continued speech"]
    first_s, joined_s = asr.heard_s
    assert joined_s > first_s + 1.0  # the second turn heard both parts
    assert chat.cut_off == 1  # the first turn's model was stopped while still thinking


async def test_without_barge_in_hark_does_not_hear_itself_speak():
    a = speech_clip("Tell me a story.", 0.3, 0.8).pcm
    echo = speech_clip("Once upon a time there was a fox.", 0.3, 0.8).pcm
    rec, sink = Recorder(), MemorySink()
    sink.release = asyncio.Event()  # Hark goes on speaking until released
    source = StagedSource(a, then=sink.written, second=echo)
    loop = ListenLoop(
        source, Endpointer(), pipeline(ScriptedChat(), sink, rec), rec, barge_in=False
    )
    run = asyncio.create_task(loop.run())
    await source.done.wait()
    sink.release.set()
    await run
    assert loop.turns_started == 1
    assert rec.of(TurnCancelled) == []
    assert len(rec.of(SpeechStarted)) == 1


async def test_push_to_talk_ignores_speech_until_armed():
    a = speech_clip("This is not for Hark.", 0.3, 0.8).pcm
    b = speech_clip("What is the weather?", 0.3, 0.8).pcm
    armed = asyncio.Event()
    rec, sink = Recorder(), MemorySink()
    loop = ListenLoop(
        StagedSource(a, then=armed, second=b),
        Endpointer(),
        pipeline(ScriptedChat(), sink, rec),
        rec,
        push_to_talk=True,
    )
    task = asyncio.create_task(loop.run())
    loop.arm()
    loop.disarm()  # released before speaking: nothing heard, nothing armed
    assert not loop.armed
    loop.arm()
    armed.set()
    await task
    assert loop.turns_started == 1
    assert not loop.armed  # one utterance per press
