"""The listening loop transcribing while the user talks, and hearing a resumed request as one:
the real endpointer and the real Whisper tiny.en on Piper speech, the pipeline's own turns."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncGenerator
from pathlib import Path

import pytest

from app.asr.local import LocalWhisper
from app.audio.vad import Endpointer
from app.core.early import EarlyTranscripts
from app.core.events import (
    SpeechStarted,
    TranscriptPartial,
    TranscriptReady,
    TurnCancelled,
    TurnFinished,
)
from app.core.listen_loop import ListenLoop
from app.core.types import ChatDelta, Transcript
from tests.core.scripted import MemorySink, Recorder, ScriptedChat, frames
from tests.core.test_listen_loop import StagedSource, pipeline
from tests.support.speech import speech_clip, tiny_settings, words

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def whisper(tiny_en_dir: Path) -> LocalWhisper:
    w = LocalWhisper(tiny_settings(tiny_en_dir))
    asyncio.run(w.load())
    return w


class Counted:
    """The real model, counted; ``idle`` is set while no transcription runs."""

    def __init__(self, model: LocalWhisper) -> None:
        self.model = model
        self.calls = 0
        self.idle = asyncio.Event()
        self.idle.set()

    async def transcribe(self, pcm: bytes, sample_rate: int) -> Transcript:
        self.calls += 1
        self.idle.clear()
        try:
            return await self.model.transcribe(pcm, sample_rate)
        finally:
            self.idle.set()


class FastMachineSource:
    """Hands over the clip's frames, each once no transcription runs: as on a machine where
    Whisper takes no time at all compared with speech, so every look the loop asks for is had."""

    def __init__(self, pcm: bytes, asr: Counted) -> None:
        self.pcm, self.asr = pcm, asr

    async def frames(self) -> AsyncGenerator[bytes, None]:
        for frame in frames(self.pcm):
            await asyncio.sleep(0)  # a look asked for at the last frame gets to start...
            await self.asr.idle.wait()  # ...and to finish
            yield frame

    async def aclose(self) -> None:
        pass


async def test_words_show_while_the_user_talks_and_the_turn_reuses_the_pause_run(
    whisper: LocalWhisper,
) -> None:
    said = "Send an email to Sam about the meeting and tell him that I will be late."
    clip = speech_clip(said, 0.3, 0.9)
    asr, rec = Counted(whisper), Recorder()
    early = EarlyTranscripts(asr, rec, max_look_s=60.0, run_s=0.0)  # a fast machine's runs
    loop = ListenLoop(
        FastMachineSource(clip.pcm, asr),
        Endpointer(so_far_at_pause=True, so_far_every_ms=1200),
        pipeline(ScriptedChat(), MemorySink(), rec, asr),
        rec,
        early=early,
    )
    await loop.run()
    partials = rec.of(TranscriptPartial)
    assert len(partials) >= 2  # a look every 1.2 s of a ~4 s request, and one at the pause
    assert words(partials[0].text)  # words, while the user was still talking
    stables = [words(p.stable) for p in partials]
    for before, after in itertools.pairwise(stables):
        assert after[: len(before)] == before  # stable words are never taken back
    assert stables[-1]  # some words settled before the end
    (heard,) = rec.of(TranscriptReady)
    assert words(heard.text) == words(said)
    assert words(heard.text)[: len(stables[-1])] == stables[-1]
    assert early.reused == 1  # the turn took the pause's run...
    assert asr.calls == early.runs  # ...and did not transcribe again


async def test_without_early_transcription_the_turn_transcribes_once_itself(
    whisper: LocalWhisper,
) -> None:
    clip = speech_clip("What time is it in Tokyo?", 0.3, 0.9)
    asr, rec = Counted(whisper), Recorder()
    loop = ListenLoop(
        FastMachineSource(clip.pcm, asr),
        Endpointer(),
        pipeline(ScriptedChat(), MemorySink(), rec, asr),
        rec,
    )
    await loop.run()
    assert asr.calls == 1
    assert rec.of(TranscriptPartial) == []
    assert words(rec.of(TranscriptReady)[0].text) == words("What time is it in Tokyo?")


@pytest.mark.parametrize(
    ("join_within_s", "reasons"), [(1.5, ["continued speech"]), (0.0, ["barge-in"])]
)
async def test_going_on_as_hark_begins_to_answer_is_the_rest_of_the_request(
    whisper: LocalWhisper, join_within_s: float, reasons: list[str]
) -> None:
    first = speech_clip("Remind me to call Peter", 0.3, 0.8).pcm
    rest = speech_clip("at the office tomorrow.", 0.3, 0.8).pcm  # ~1.1 s after the first part
    gate = asyncio.Event()  # the first answer goes on until interrupted
    chat = ScriptedChat([ChatDelta("Sure, I will remind you. "), gate])
    rec, sink, asr = Recorder(), MemorySink(), Counted(whisper)
    sink.release = asyncio.Event()
    source = StagedSource(first, then=sink.written, second=rest)  # Hark has begun to speak
    loop = ListenLoop(
        source,
        Endpointer(),
        pipeline(chat, sink, rec, asr),
        rec,
        join_within_s=join_within_s,
    )
    await loop.run()
    assert [c.reason for c in rec.of(TurnCancelled)] == reasons
    assert len(rec.of(SpeechStarted)) == 2
    last = [e.result for e in rec.of(TurnFinished) if not e.result.cancelled][-1]
    if join_within_s:
        assert words(last.transcript) == words("Remind me to call Peter at the office tomorrow.")
    else:  # an interruption: the rest is a request of its own
        assert words(last.transcript) == words("at the office tomorrow.")
