"""The voice starts at the first clause: a turn against the fake Ollama (through Hark's real
Ollama client), held by the fake right after the clause, has already spoken it."""

from __future__ import annotations

import asyncio
import threading

from app.core.conversation import Conversation
from app.core.events import Event, ReplyTextReceived, SentenceReady
from app.core.pipeline import PipelineOptions, VoicePipeline
from app.core.tools import ToolRegistry
from app.llm.ollama import OllamaChat
from app.settings.schema import LlmSettings
from tests.core.scripted import MemorySink, Recorder, ScriptedVoice
from tests.fakes.ollama import FakeOllama, tokenize

REPLY = "Your first meeting is tomorrow, at nine thirty in room four. Bring the notes."
CLAUSE = "Your first meeting is tomorrow,"


class Tokens(Recorder):
    """A recorder that also says when the model's first ``n`` pieces have arrived."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n = n
        self.arrived = asyncio.Event()

    def __call__(self, event: Event) -> None:
        super().__call__(event)
        if len(self.of(ReplyTextReceived)) >= self.n:
            self.arrived.set()


async def turn(words: int) -> tuple[list[str], list[str], bool]:
    """Run one turn; return what was spoken, what was shown, and whether the first piece was
    shown (and queued for the voice) while the model was still held after the clause."""
    gate = threading.Event()
    # the clause and the next token (its boundary is a comma *followed by a space*)
    after = len(tokenize(CLAUSE)) + 1
    with FakeOllama() as fake:
        fake.reply(REPLY, gate=gate, gate_after=after)
        chat = OllamaChat(LlmSettings(host=fake.url, timeout_s=10))
        voice, sink, rec = ScriptedVoice(), MemorySink(), Tokens(after)
        pipe = VoicePipeline(
            chat=chat,
            tools=ToolRegistry(),
            conversation=Conversation("You are Hark.", 0),
            sink=sink,
            emit=rec,
            voice=voice,
            options=PipelineOptions(first_clause_words=words),
        )
        try:
            running = asyncio.create_task(pipe.run_text("what is tomorrow?"))
            await asyncio.wait_for(rec.arrived.wait(), 10)  # all the model sent before its gate
            early = bool(rec.of(SentenceReady))
            if early:  # the voice gets it now, while the model is still held
                await asyncio.wait_for(sink.written.wait(), 10)
                assert not running.done()
            gate.set()
            result = await running
        finally:
            await chat.aclose()
    assert result.reply == REPLY
    shown = [e.text for e in rec.events if isinstance(e, SentenceReady)]
    return voice.spoken, shown, early


async def test_the_first_piece_spoken_is_the_clause_while_the_model_still_writes() -> None:
    spoken, shown, early = await turn(4)
    assert early
    assert spoken == [CLAUSE, "at nine thirty in room four.", "Bring the notes."]
    assert shown == spoken


async def test_without_the_setting_the_voice_waits_for_the_whole_first_sentence() -> None:
    spoken, _, early = await turn(0)
    assert not early
    assert spoken == [
        "Your first meeting is tomorrow, at nine thirty in room four.",
        "Bring the notes.",
    ]
