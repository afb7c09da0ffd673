"""One ElevenLabs WebSocket per reply: real turns (VoicePipeline, Hark's Ollama client against
the fake Ollama) spoken by the real ElevenLabs voice against the fake ElevenLabs on 127.0.0.1.

What is checked: a reply takes one connection, opened while the model writes its first words
(a voice that only takes sentences takes one per piece); all its text reaches the voice in
order and its audio is played in order while the model still writes; a tool call ends the
stream; barge-in hangs up at once; a voice that fails leaves the turn as text; the fallback
chain goes on mid-reply without saying anything twice and keeps the first clause; the
sequential mode keeps one call for the whole reply.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Iterator

import pytest

from app.core.conversation import Conversation
from app.core.events import AudioStarted, NoticeRaised, SentenceReady, Stage, StageTimed
from app.core.pipeline import PipelineOptions, VoicePipeline
from app.core.ports import StreamingSynthesizer, Synthesizer
from app.core.tools import ToolRegistry, register_builtin_tools
from app.llm.ollama import OllamaChat
from app.settings.schema import ElevenLabsSettings, LlmSettings
from app.shared.errors import TtsCode
from app.tts.elevenlabs import ElevenLabsVoice
from app.tts.fallback import FallbackVoice
from app.tts.piper import PiperLocalVoice
from tests.core.scripted import MemorySink, Recorder, ScriptedVoice
from tests.fakes.elevenlabs import DEFAULT_KEY, FakeElevenLabs
from tests.fakes.ollama import FakeOllama, tokenize
from tests.support.notices import Notices
from tests.tts.voice_threads import join_voice_threads

REPLY = "Your first meeting is tomorrow, at nine thirty in room four. Bring the notes. Bye now."
FIRST = "Your first meeting is tomorrow, at nine thirty in room four."
PIECES = ["Your first meeting is tomorrow,", "at nine thirty in room four.", "Bring the notes."]
SHOWN = [*PIECES, "Bye now."]
AFTER_FIRST = len(tokenize(FIRST)) + 1  # the full stop and the space after it


class SentenceOnly:
    """The same voice without ``synthesize_stream``: how the speaker spoke before."""

    def __init__(self, voice: Synthesizer) -> None:
        self._voice = voice
        self.name = voice.name
        self.sample_rate = voice.sample_rate

    def synthesize(self, text: str) -> AsyncGenerator[bytes, None]:
        return self._voice.synthesize(text)


class Counted:
    """A streaming voice that counts which of its two ways the speaker used."""

    def __init__(self, voice: ElevenLabsVoice) -> None:
        self._voice = voice
        self.name = voice.name
        self.sample_rate = voice.sample_rate
        self.sentences = 0
        self.streams = 0

    def synthesize(self, text: str) -> AsyncGenerator[bytes, None]:
        self.sentences += 1
        return self._voice.synthesize(text)

    def synthesize_stream(self, pieces: AsyncIterable[str]) -> AsyncGenerator[bytes, None]:
        self.streams += 1
        return self._voice.synthesize_stream(pieces)


class Rig:
    """The fakes, Hark's Ollama client and a recorder and sink for one test."""

    def __init__(self, ollama: FakeOllama, eleven: FakeElevenLabs) -> None:
        self.ollama = ollama
        self.eleven = eleven
        self.chat = OllamaChat(LlmSettings(host=ollama.url, timeout_s=10))
        self.sink = MemorySink()
        self.rec = Recorder()
        self.voices: list[ElevenLabsVoice] = []

    def elevenlabs(self, key: str = DEFAULT_KEY, transport: str = "websocket") -> ElevenLabsVoice:
        settings = ElevenLabsSettings.model_validate(
            {"base_url": self.eleven.url, "transport": transport}
        )
        voice = ElevenLabsVoice(settings, key, timeout_s=5.0)
        self.voices.append(voice)
        return voice

    def pipeline(
        self, voice: Synthesizer, *, first_clause_words: int = 4, stream: bool = True
    ) -> VoicePipeline:
        tools = ToolRegistry()
        register_builtin_tools(tools)
        options = PipelineOptions(stream_sentences=stream, first_clause_words=first_clause_words)
        return VoicePipeline(
            chat=self.chat,
            tools=tools,
            conversation=Conversation("You are Hark.", 0),
            sink=self.sink,
            emit=self.rec,
            voice=voice,
            options=options,
        )

    def shown(self) -> list[str]:
        return [e.text for e in self.rec.events if isinstance(e, SentenceReady)]

    def pcm(self, *texts: str) -> bytes:
        return b"".join(self.eleven.pcm_for(t) for t in texts)


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    with FakeOllama() as ollama, FakeElevenLabs() as eleven:
        made = Rig(ollama, eleven)
        try:
            yield made
        finally:
            await made.chat.aclose()
            for voice in made.voices:
                voice.close()


@pytest.fixture(autouse=True)
def _no_leftover_voice_threads() -> Iterator[None]:
    yield
    join_voice_threads()


async def test_a_reply_goes_over_one_connection_in_order_while_the_model_writes(
    rig: Rig,
) -> None:
    gate = threading.Event()
    rig.ollama.reply(REPLY, gate=gate, gate_after=AFTER_FIRST)
    voice = Counted(rig.elevenlabs())
    assert isinstance(voice, StreamingSynthesizer)
    turn = asyncio.create_task(rig.pipeline(voice).run_text("what is tomorrow?"))

    await asyncio.wait_for(rig.sink.written.wait(), 10)  # heard while the model is held
    assert not turn.done()
    gate.set()
    result = await turn

    assert result.reply == REPLY
    assert (voice.streams, voice.sentences) == (1, 0)
    (req,) = rig.eleven.requests  # one connection for the whole reply
    assert req.method == "WEBSOCKET"
    assert req.completed
    assert "".join(m["text"] for m in req.body[1:]) == REPLY + " "  # every piece, in order
    flushed = [m["text"] for m in req.body if m.get("flush")]
    assert flushed[-3:] == ["at nine thirty in room four. ", "Bring the notes. ", "Bye now. "]
    assert " ".join(req.spoken) == REPLY
    assert bytes(rig.sink.pcm) == rig.pcm(*req.spoken)
    assert rig.shown() == SHOWN  # the first clause is still shown on its own
    assert len(rig.rec.of(AudioStarted)) == 1
    tts = [e for e in rig.rec.of(StageTimed) if isinstance(e, StageTimed) and e.stage is Stage.TTS]
    assert len(tts) == 1
    assert result.timings.first_audio_ms is not None


async def test_the_connection_is_up_before_the_first_piece_is_cut(rig: Rig) -> None:
    gate = threading.Event()  # the model is held after its first three words
    rig.ollama.reply(REPLY, gate=gate, gate_after=3)
    turn = asyncio.create_task(rig.pipeline(rig.elevenlabs()).run_text("what is tomorrow?"))
    try:
        (req,) = await asyncio.to_thread(rig.eleven.wait_for_requests, 1)
        assert req.method == "WEBSOCKET"
        assert rig.shown() == []  # nothing was cut yet
    finally:
        gate.set()
    await turn
    assert len(rig.eleven.requests) == 1
    assert bytes(rig.sink.pcm) == rig.pcm(*rig.eleven.requests[0].spoken)


async def test_a_voice_that_takes_only_sentences_keeps_a_request_per_piece(rig: Rig) -> None:
    rig.ollama.reply(REPLY)
    result = await rig.pipeline(SentenceOnly(rig.elevenlabs())).run_text("what is tomorrow?")
    assert result.reply == REPLY
    assert [r.spoken for r in rig.eleven.requests] == [[s] for s in SHOWN]
    assert bytes(rig.sink.pcm) == rig.pcm(*SHOWN)


@pytest.mark.parametrize("before", ["Let me look that up. ", ""])
async def test_a_tool_call_ends_the_stream_and_the_answer_opens_another(
    rig: Rig, before: str
) -> None:
    rig.ollama.reply_tool_call("get_current_time", {}, content=before)
    rig.ollama.reply("It is noon now. Anything else?")
    result = await rig.pipeline(rig.elevenlabs()).run_text("what time is it?")

    assert [c.name for c in result.tool_calls] == ["get_current_time"]
    answer = ["It is noon now.", "Anything else?"]
    spoken = [r.spoken for r in rig.eleven.requests]
    if before:  # the text before the tool was heard (its stream ended) before the tool ran
        assert spoken == [[before.strip()], answer]
        assert rig.eleven.requests[0].completed
    else:  # no text before the tool call: no stream was opened for it
        assert spoken == [answer]
    assert rig.shown() == [before.strip()] * bool(before) + answer
    assert bytes(rig.sink.pcm) == rig.pcm(*(s for run in spoken for s in run))


async def test_barge_in_hangs_up_the_connection_at_once(rig: Rig) -> None:
    gate = threading.Event()  # the model never gets past its first sentence
    rig.ollama.reply(REPLY, gate=gate, gate_after=AFTER_FIRST)
    pipe = rig.pipeline(rig.elevenlabs(), first_clause_words=0)
    turn = asyncio.create_task(pipe.run_text("what is tomorrow?"))
    try:
        await asyncio.wait_for(rig.sink.written.wait(), 10)
        pipe.cancel()
        result = await turn
    finally:
        gate.set()
    assert result.cancelled
    assert rig.sink.stopped >= 1
    (req,) = rig.eleven.requests
    # without a hang-up the fake would wait for more text for a minute
    assert await asyncio.to_thread(req.done.wait, 5)
    assert not req.completed  # the end of input was never sent
    assert req.spoken == [FIRST]


async def test_a_voice_failure_leaves_the_rest_of_the_turn_as_text(rig: Rig) -> None:
    rig.ollama.reply(REPLY)
    result = await rig.pipeline(rig.elevenlabs(key="revoked")).run_text("what is tomorrow?")
    assert result.reply == REPLY
    assert rig.shown() == SHOWN
    notices = [e for e in rig.rec.of(NoticeRaised) if isinstance(e, NoticeRaised)]
    assert [n.code for n in notices] == [TtsCode.ELEVENLABS_AUTH]
    assert [r.method for r in rig.eleven.requests] == ["WEBSOCKET"]  # tried once, not per piece
    assert rig.sink.pcm == b""


async def test_the_fallback_goes_on_mid_reply_saying_nothing_twice(rig: Rig) -> None:
    told = asyncio.Event()
    notices = Notices()

    def notice(code: str, message: str) -> None:
        notices(code, message)
        told.set()

    local = rig.elevenlabs(transport="http")  # a "local" voice whose audio is known exactly
    voice = FallbackVoice(rig.elevenlabs(), local, notice)
    rig.eleven.chunk_bytes = 1024
    rig.eleven.drop_after_first_chunk()
    gate = threading.Event()
    rig.ollama.reply(REPLY, gate=gate, gate_after=AFTER_FIRST)
    pipe = rig.pipeline(voice, first_clause_words=0)  # the first piece: a whole sentence
    turn = asyncio.create_task(pipe.run_text("what is tomorrow?"))
    try:
        await asyncio.wait_for(told.wait(), 10)  # cut after the first chunk; the model is held
    finally:
        gate.set()
    result = await turn

    assert result.reply == REPLY
    assert [c for c, _ in notices.got] == [TtsCode.ELEVENLABS_CUT]
    assert [r.method for r in rig.eleven.requests] == ["WEBSOCKET", "POST", "POST"]
    assert [r.body["text"] for r in rig.eleven.requests[1:]] == ["Bring the notes.", "Bye now."]
    heard = rig.eleven.pcm_for(FIRST)[:1024] + rig.pcm("Bring the notes.", "Bye now.")
    assert bytes(rig.sink.pcm) == heard
    assert rig.shown() == [FIRST, "Bring the notes.", "Bye now."]


async def test_piper_takes_over_when_elevenlabs_is_cut_mid_reply(rig: Rig) -> None:
    told = asyncio.Event()
    voice = FallbackVoice(rig.elevenlabs(), PiperLocalVoice(), lambda code, msg: told.set())
    rig.eleven.chunk_bytes = 1024
    rig.eleven.drop_after_first_chunk()
    gate = threading.Event()
    rig.ollama.reply(REPLY, gate=gate, gate_after=AFTER_FIRST)
    pipe = rig.pipeline(voice, first_clause_words=0)
    turn = asyncio.create_task(pipe.run_text("what is tomorrow?"))
    try:
        await asyncio.wait_for(told.wait(), 10)
    finally:
        gate.set()
    await turn
    assert voice.name == "elevenlabs→piper"
    assert bytes(rig.sink.pcm[:1024]) == rig.eleven.pcm_for(FIRST)[:1024]
    assert len(rig.sink.pcm) > 1024 + 16000  # and then at least half a second of Piper
    assert [r.method for r in rig.eleven.requests] == ["WEBSOCKET"]


async def test_the_local_voice_keeps_the_first_clause_when_elevenlabs_cannot_speak(
    rig: Rig,
) -> None:
    local = ScriptedVoice()
    voice = FallbackVoice(rig.elevenlabs(key="revoked"), local, Notices())
    rig.ollama.reply(REPLY)
    await rig.pipeline(voice).run_text("what is tomorrow?")
    assert local.spoken == SHOWN  # the clause on its own, as the speaker cut it
    assert len(rig.sink.pcm) == 20 * len(SHOWN)


async def test_the_sequential_mode_asks_once_for_the_whole_reply(rig: Rig) -> None:
    rig.ollama.reply(REPLY)
    voice = Counted(rig.elevenlabs())
    result = await rig.pipeline(voice, stream=False).run_text("what is tomorrow?")
    assert result.reply == REPLY
    assert (voice.streams, voice.sentences) == (0, 1)
    (req,) = rig.eleven.requests
    assert " ".join(req.spoken) == REPLY
    assert rig.shown() == [REPLY]
    assert bytes(rig.sink.pcm) == rig.pcm(*req.spoken)


async def test_the_first_clause_is_heard_while_the_model_is_still_writing(rig: Rig) -> None:
    gate = threading.Event()  # the model is held right after the first clause
    rig.ollama.reply(REPLY, gate=gate, gate_after=len(tokenize(PIECES[0])) + 1)
    turn = asyncio.create_task(rig.pipeline(rig.elevenlabs()).run_text("what is tomorrow?"))
    try:
        await asyncio.wait_for(rig.sink.written.wait(), 3)
        assert rig.shown() == [PIECES[0]]
    finally:
        gate.set()
        await turn
