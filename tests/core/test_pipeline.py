"""The turn pipeline with scripted ports: ordering, streaming, tools, failures, barge-in."""

from __future__ import annotations

import asyncio
import json

import pytest

from app.core.conversation import Conversation
from app.core.events import (
    AudioStarted,
    NoticeRaised,
    SentenceReady,
    ToolCallFinished,
    TranscriptReady,
    TurnCancelled,
    TurnFailed,
    TurnFinished,
)
from app.core.types import ChatDelta, ToolCall, Utterance
from app.shared.errors import AsrError, AudioError, TtsError
from tests.core.scripted import (
    ScriptedChat,
    ScriptedTranscriber,
    ScriptedVoice,
    llm_down,
    make,
    words,
)


async def test_text_turn_speaks_each_sentence_in_order():
    voice = ScriptedVoice()
    pipe, rec, sink = make(
        ScriptedChat(words("It is sunny today. Take a hat with you. Bye now!")), voice=voice
    )
    result = await pipe.run_text("weather?")
    assert result.reply == "It is sunny today. Take a hat with you. Bye now!"
    assert voice.spoken == ["It is sunny today.", "Take a hat with you.", "Bye now!"]
    assert [e.text for e in rec.of(SentenceReady)] == voice.spoken
    assert sink.rate == 16_000
    assert len(sink.pcm) == 3 * 20
    assert result.timings.first_audio_ms is not None
    assert result.timings.llm_first_token_ms is not None
    assert result.timings.total_ms >= result.timings.first_audio_ms
    assert isinstance(rec.events[-1], TurnFinished)


async def test_first_sentence_is_spoken_while_the_model_is_still_writing():
    gate = asyncio.Event()
    chat = ScriptedChat(
        [ChatDelta("First sentence here. "), gate, ChatDelta("Second one."), ChatDelta(done=True)]
    )
    pipe, rec, sink = make(chat)
    turn = asyncio.create_task(pipe.run_text("hi"))
    await sink.written.wait()  # audio went out although the model is held mid-reply
    assert not turn.done()
    assert [e.text for e in rec.of(SentenceReady)] == ["First sentence here."]
    gate.set()
    result = await turn
    assert result.reply.endswith("Second one.")


async def test_sequential_mode_speaks_only_after_the_whole_reply():
    gate = asyncio.Event()
    chat = ScriptedChat(
        [ChatDelta("First sentence here. "), gate, ChatDelta("Second one."), ChatDelta(done=True)]
    )
    voice = ScriptedVoice()
    pipe, rec, sink = make(chat, voice=voice, stream=False)
    turn = asyncio.create_task(pipe.run_text("hi"))
    await chat.waiting.wait()  # the model is held after its first sentence
    assert rec.of(SentenceReady) == []
    assert not sink.written.is_set()
    gate.set()
    await turn
    assert voice.spoken == ["First sentence here. Second one."]


async def test_tool_call_loop_runs_the_clock_tool_and_sends_the_result_back():
    chat = ScriptedChat(
        [ChatDelta(tool_calls=(ToolCall("get_current_time", {}),)), ChatDelta(done=True)],
        words("It is noon."),
    )
    pipe, rec, _ = make(chat)
    result = await pipe.run_text("what time is it?")
    assert [r.name for r in result.tool_calls] == ["get_current_time"]
    assert result.tool_calls[0].ok
    assert "weekday" in json.loads(result.tool_calls[0].result)
    second_messages, offered = chat.requests[1]
    assert offered == ["get_current_time"]
    assert second_messages[-2].tool_calls[0].name == "get_current_time"
    assert second_messages[-1].role == "tool"
    assert second_messages[-1].tool_name == "get_current_time"
    assert rec.of(ToolCallFinished)[0].ok
    assert result.reply == "It is noon."


async def test_unknown_tool_is_reported_to_the_model_not_raised():
    chat = ScriptedChat(
        [ChatDelta(tool_calls=(ToolCall("launch_rocket", {}),)), ChatDelta(done=True)],
        words("I can't do that."),
    )
    pipe, _, _ = make(chat)
    result = await pipe.run_text("launch")
    assert result.tool_calls[0].ok is False
    assert "no tool named" in result.tool_calls[0].result


async def test_llm_failure_ends_the_turn_cleanly_and_says_so():
    voice = ScriptedVoice()
    pipe, rec, _ = make(ScriptedChat([llm_down()]), voice=voice)
    result = await pipe.run_text("hello")
    assert result.error_code == "llm-unreachable"
    failed = rec.of(TurnFailed)
    assert failed
    assert failed[0].code == "llm-unreachable"
    assert voice.spoken == ["Sorry, I can't reach the language model right now."]
    # the pipeline keeps working for the next turn
    ok = await pipe.run_text("again")
    assert ok.error_code is None
    assert ok.reply == "Okay."


async def test_voice_turn_transcribes_then_answers_and_remembers():
    conversation = Conversation("sys", 4)
    chat = ScriptedChat(words("Hello there."), words("Still here."))
    pipe, rec, _ = make(chat, transcriber=ScriptedTranscriber("hi hark"), conversation=conversation)
    utt = Utterance(b"\0\0" * 16000, start_s=0.0, end_s=1.0, detected_s=1.45)
    result = await pipe.run_voice(utt)
    assert result.transcript == "hi hark"
    assert result.timings.endpoint_ms == pytest.approx(450.0)
    assert result.timings.asr_ms is not None
    assert result.timings.first_audio_ms >= 450.0
    assert rec.of(TranscriptReady)[0].text == "hi hark"
    await pipe.run_text("you there?")
    history = [m.content for m in chat.requests[1][0]]
    assert history == ["sys", "hi hark", "Hello there.", "you there?"]


async def test_empty_transcript_makes_no_llm_request():
    chat = ScriptedChat()
    pipe, _, _ = make(chat, transcriber=ScriptedTranscriber(""))
    result = await pipe.run_voice(Utterance(b"\0\0" * 800, 0.0, 0.05, 0.5))
    assert result.reply == ""
    assert chat.requests == []


async def test_asr_failure_is_a_failed_turn():
    err = AsrError("asr-model-missing", "no model")
    pipe, rec, _ = make(ScriptedChat(), transcriber=ScriptedTranscriber(error=err))
    result = await pipe.run_voice(Utterance(b"\0\0" * 800, 0.0, 0.05, 0.5))
    assert result.error_code == "asr-model-missing"
    assert rec.of(TurnFailed)[0].stage == "asr"


async def test_voice_failure_leaves_a_text_reply_and_a_notice():
    voice = ScriptedVoice(fail_with=TtsError("tts-elevenlabs-auth", "key refused"))
    pipe, rec, _ = make(ScriptedChat(words("One sentence. Two sentences here.")), voice=voice)
    result = await pipe.run_text("hi")
    assert result.reply == "One sentence. Two sentences here."
    assert [n.code for n in rec.of(NoticeRaised)] == ["tts-elevenlabs-auth"]
    assert result.timings.first_audio_ms is None


async def test_no_speaker_leaves_a_text_reply_and_a_notice():
    pipe, rec, sink = make(ScriptedChat(words("Hello there. How are you?")))
    sink.fail_with = AudioError("audio-no-output-device", "No output device was found.")
    result = await pipe.run_text("hi")
    assert result.error_code is None
    assert result.reply == "Hello there. How are you?"
    assert [n.code for n in rec.of(NoticeRaised)] == ["audio-no-output-device"]


async def test_cancel_stops_playback_and_generation_at_once():
    gate = asyncio.Event()
    chat = ScriptedChat([ChatDelta("A first sentence. "), gate, ChatDelta("Never said.")])
    pipe, rec, sink = make(chat)
    sink.release = asyncio.Event()
    turn = asyncio.create_task(pipe.run_text("talk"))
    await sink.written.wait()
    pipe.cancel("barge-in")
    result = await turn
    assert result.cancelled
    assert sink.stopped >= 1
    assert rec.of(TurnCancelled)[0].reason == "barge-in"
    assert "Never said." not in [e.text for e in rec.of(SentenceReady)]
    assert chat.cut_off == 1  # the model's stream was stopped while held mid-reply


async def test_a_new_turn_cancels_the_running_one():
    gate = asyncio.Event()
    chat = ScriptedChat([ChatDelta("Long answer begins. "), gate], words("Second."))
    pipe, rec, sink = make(chat)
    first = asyncio.create_task(pipe.run_text("one"))
    await sink.written.wait()
    second = await pipe.run_text("two")
    assert (await first).cancelled
    assert second.reply == "Second."
    assert len(rec.of(AudioStarted)) == 2
