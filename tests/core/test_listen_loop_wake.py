"""The listening loop with a wake word and with push-to-talk: the real endpointer, the real
openWakeWord model and Piper speech; the turn's model, voice and speaker are scripted."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncGenerator, Iterator

import pytest

from app.audio.vad import Endpointer
from app.audio.wakeword import WakeWord
from app.core.conversation import Conversation
from app.core.events import (
    ListeningTimedOut,
    SpeechStarted,
    TurnCancelled,
    TurnFinished,
    TurnStarted,
    WakeWordDetected,
)
from app.core.listen_loop import ListenLoop
from app.core.pipeline import VoicePipeline
from app.core.tools import ToolRegistry
from app.core.types import ChatDelta, Utterance
from tests.core.scripted import (
    MemorySink,
    Recorder,
    ScriptedChat,
    ScriptedTranscriber,
    ScriptedVoice,
    frames,
)
from tests.support.speech import silence, speech_clip

pytestmark = pytest.mark.slow


class Stages:
    """A frame source in stages: each stage waits for its event (if any), then yields its audio.

    ``reached[i]`` is set once stage ``i``'s audio has all been taken.
    """

    def __init__(self, *stages: tuple[asyncio.Event | None, bytes]) -> None:
        self.stages = stages
        self.reached = [asyncio.Event() for _ in stages]
        self.done = asyncio.Event()
        self.closed = False

    async def frames(self) -> AsyncGenerator[bytes, None]:
        for i, (wait, pcm) in enumerate(self.stages):
            if wait is not None:
                await wait.wait()
            for f in frames(pcm):
                yield f
            self.reached[i].set()
        self.done.set()

    async def aclose(self) -> None:
        self.closed = True


def pipeline(chat: ScriptedChat, sink: MemorySink, rec: Recorder, asr: ScriptedTranscriber):
    return VoicePipeline(
        chat=chat,
        tools=ToolRegistry(),
        conversation=Conversation("sys", 2),
        sink=sink,
        emit=rec,
        transcriber=asr,
        voice=ScriptedVoice(),
    )


def say(text: str, lead: float = 0.5, trail: float = 1.0) -> bytes:
    return speech_clip(text, lead, trail).pcm


@pytest.fixture(scope="module")
def jarvis_model() -> Iterator[WakeWord]:
    detector = WakeWord("hey_jarvis")
    yield detector
    detector.close()


@pytest.fixture
def jarvis(jarvis_model: WakeWord) -> WakeWord:
    jarvis_model.reset()
    return jarvis_model


async def test_each_wake_word_arms_exactly_one_turn(jarvis: WakeWord) -> None:
    rec, sink, asr = Recorder(), MemorySink(), ScriptedTranscriber("what time is it")
    request = speech_clip("Hey Jarvis, what time is it?", 0.5, 1.0)
    source = Stages(
        (None, say("Turn on the lights in the kitchen.")),  # no wake word: not for Hark
        (None, request.pcm),
        (rec.finished, say("What is the weather like today?")),  # after the turn: ignored
        (None, say("Hey Jarvis, what is on my calendar tomorrow?")),
    )
    loop = ListenLoop(
        source, Endpointer(), pipeline(ScriptedChat(), sink, rec, asr), rec, wake=jarvis
    )
    await loop.run()
    assert loop.turns_started == 2
    assert loop.wake_words == 2
    woken = rec.of(WakeWordDetected)
    assert [(w.model, w.score > 0.9) for w in woken] == [("hey_jarvis", True)] * 2
    kinds = [type(e) for e in rec.events if isinstance(e, WakeWordDetected | TurnStarted)]
    assert kinds == [WakeWordDetected, TurnStarted, WakeWordDetected, TurnStarted]
    assert len([e for e in rec.of(TurnFinished) if not e.result.cancelled]) == 2
    # each turn heard the request after the wake word, not the whole sentence
    assert 0.5 < asr.heard_s[0] < request.duration_s - 1.0
    assert not loop.armed  # waiting for the wake word again
    assert rec.of(ListeningTimedOut) == []


async def test_silence_after_the_wake_word_times_out_and_it_waits_again(
    jarvis: WakeWord,
) -> None:
    rec, sink, asr = Recorder(), MemorySink(), ScriptedTranscriber("what time is it")
    source = Stages(
        (None, say("Hey Jarvis.", 0.5, 2.5)),
        (None, say("Hey Jarvis, what time is it?")),
    )
    loop = ListenLoop(
        source,
        Endpointer(),
        pipeline(ScriptedChat(), sink, rec, asr),
        rec,
        wake=jarvis,
        listen_timeout_s=1.5,
    )
    await loop.run()
    timed_out = rec.of(ListeningTimedOut)
    assert len(timed_out) == 1
    assert timed_out[0].after_s == pytest.approx(1.5, abs=0.031)
    assert loop.wake_words == 2
    assert loop.turns_started == 1  # only the second wake word was followed by a request
    order = [type(e) for e in rec.events if isinstance(e, WakeWordDetected | ListeningTimedOut)]
    assert order == [WakeWordDetected, ListeningTimedOut, WakeWordDetected]


async def test_saying_the_wake_word_while_hark_talks_interrupts_it(jarvis: WakeWord) -> None:
    gate = asyncio.Event()  # the first reply never ends on its own
    chat = ScriptedChat([ChatDelta("Once upon a time there was a fox. "), gate])
    rec, sink, asr = Recorder(), MemorySink(), ScriptedTranscriber("hello")
    sink.release = asyncio.Event()
    source = Stages(
        (None, say("Hey Jarvis, tell me a long story.")),
        (sink.written, say("Hey Jarvis, that is enough now.")),
    )
    loop = ListenLoop(source, Endpointer(), pipeline(chat, sink, rec, asr), rec, wake=jarvis)
    await loop.run()
    assert [c.reason for c in rec.of(TurnCancelled)] == ["wake word"]
    assert sink.stopped >= 1
    assert loop.wake_words == 2
    assert loop.turns_started == 2
    assert chat.cut_off == 1  # the first reply's stream was stopped while held mid-reply


async def test_without_barge_in_the_wake_word_is_not_heard_while_hark_talks(
    jarvis: WakeWord,
) -> None:
    rec, sink, asr = Recorder(), MemorySink(), ScriptedTranscriber("hello")
    sink.release = asyncio.Event()  # Hark goes on speaking until released
    source = Stages(
        (None, say("Hey Jarvis, tell me a story.")),
        (sink.written, say("Hey Jarvis, that is enough now.")),
    )
    loop = ListenLoop(
        source,
        Endpointer(),
        pipeline(ScriptedChat(), sink, rec, asr),
        rec,
        wake=jarvis,
        barge_in=False,
    )
    run = asyncio.create_task(loop.run())
    await source.done.wait()
    sink.release.set()
    await run
    assert loop.wake_words == 1
    assert loop.turns_started == 1
    assert rec.of(TurnCancelled) == []


async def test_paused_it_does_not_listen_for_the_wake_word(jarvis: WakeWord) -> None:
    rec, sink, asr = Recorder(), MemorySink(), ScriptedTranscriber("hello")
    resumed = asyncio.Event()
    source = Stages(
        (None, say("Hey Jarvis, what time is it?")),
        (resumed, say("Hey Jarvis, what time is it?")),
    )
    loop = ListenLoop(
        source, Endpointer(), pipeline(ScriptedChat(), sink, rec, asr), rec, wake=jarvis
    )
    loop.pause()
    seen = jarvis.frames_seen
    run = asyncio.create_task(loop.run())
    await source.reached[0].wait()
    assert jarvis.frames_seen == seen  # the detector never saw a frame while paused
    assert rec.events == []
    loop.pause(False)
    resumed.set()
    await run
    assert loop.wake_words == 1
    assert loop.turns_started == 1


async def test_the_hotkey_works_alongside_the_wake_word(jarvis: WakeWord) -> None:
    rec, sink, asr = Recorder(), MemorySink(), ScriptedTranscriber("hello")
    source = Stages(
        (None, say("What is the weather like today?", 0.3)),
        (None, say("Turn on the lights in the kitchen.")),
    )
    loop = ListenLoop(
        source, Endpointer(), pipeline(ScriptedChat(), sink, rec, asr), rec, wake=jarvis
    )
    loop.arm(skip_ms=0)
    await loop.run()
    assert loop.turns_started == 1  # the first sentence (the key), not the second
    assert loop.wake_words == 0
    assert asr.heard_s[0] < 3.0


class ThreadWatch:
    """The real detector, noting on which thread each frame was fed and whether the model ran."""

    def __init__(self, detector: WakeWord) -> None:
        self.detector = detector
        self.calls: list[tuple[bool, int]] = []

    @property
    def name(self) -> str:
        return self.detector.name

    @property
    def gate_open(self) -> bool:
        return self.detector.gate_open

    def feed(self, frame: bytes) -> float | None:
        self.calls.append((self.detector.gate_open, threading.get_ident()))
        return self.detector.feed(frame)

    def reset(self) -> None:
        self.detector.reset()


async def test_the_model_runs_off_the_loop_and_silence_stays_on_it(jarvis: WakeWord) -> None:
    rec, sink, asr = Recorder(), MemorySink(), ScriptedTranscriber("hello")
    watch = ThreadWatch(jarvis)
    source = Stages((None, silence(2.0) + say("Hey Jarvis, what time is it?")))
    loop = ListenLoop(
        source, Endpointer(), pipeline(ScriptedChat(), sink, rec, asr), rec, wake=watch
    )
    await loop.run()
    assert loop.turns_started == 1
    here = threading.get_ident()
    cheap = [t for gate_open, t in watch.calls if not gate_open]
    model = [t for gate_open, t in watch.calls if gate_open]
    assert len(cheap) > 2.0 / 0.03  # the silence: webrtcvad only, on the loop
    assert set(cheap) == {here}
    assert model  # the speech: in a worker thread
    assert here not in set(model)


# --- push-to-talk ----------------------------------------------------------------------------


class CountingEndpointer(Endpointer):
    """The real endpointer, counting the frames it is fed."""

    def __init__(self) -> None:
        super().__init__()
        self.fed = 0

    def feed(self, frame: bytes) -> list[SpeechStarted | Utterance]:
        self.fed += 1
        return super().feed(frame)


async def after_arm(pcm: bytes, skip_ms: int | None) -> tuple[int, list[float]]:
    """Arm (loop skip_ms 150), then play ``pcm``: frames the endpointer got, seconds heard."""
    rec, sink, asr = Recorder(), MemorySink(), ScriptedTranscriber("hello")
    endpointer = CountingEndpointer()
    loop = ListenLoop(
        Stages((None, pcm)),
        endpointer,
        pipeline(ScriptedChat(), sink, rec, asr),
        rec,
        push_to_talk=True,
        skip_ms=150,
    )
    loop.arm(skip_ms=skip_ms)
    await loop.run()
    return endpointer.fed, asr.heard_s


async def test_skip_ms_drops_the_first_audio_after_the_key_press() -> None:
    hum = silence(1.2)  # 40 frames; no utterance, so the loop stays armed throughout
    assert (await after_arm(hum, skip_ms=0))[0] == 40
    assert (await after_arm(hum, skip_ms=300))[0] == 30
    assert (await after_arm(hum, skip_ms=None))[0] == 35  # the loop's default, 150 ms
    assert (await after_arm(hum, skip_ms=100))[0] == 36  # rounded up to whole frames
    words = say("What time is it?", 0.0, 1.0)  # speech right at the key press
    _, [whole] = await after_arm(words, skip_ms=0)
    _, [skipped] = await after_arm(words, skip_ms=300)
    assert whole - skipped >= 0.3  # the turn lost the start that came with the click


async def test_toggle_mode_the_second_press_ends_the_utterance() -> None:
    rec, sink, asr = Recorder(), MemorySink(), ScriptedTranscriber("hello")
    pressed_again = asyncio.Event()
    source = Stages(
        (None, say("Turn on the lights in the kitchen", 0.3, 0.0)),  # still talking
        (pressed_again, silence(1.0) + say("This is not for Hark.")),
    )
    loop = ListenLoop(
        source, Endpointer(), pipeline(ScriptedChat(), sink, rec, asr), rec, push_to_talk=True
    )
    loop.toggle()
    assert loop.armed
    run = asyncio.create_task(loop.run())
    await source.reached[0].wait()
    assert loop.turns_started == 0  # no silence yet: the utterance is still open
    loop.toggle()
    assert not loop.armed
    assert loop.turns_started == 1
    pressed_again.set()
    await run
    assert loop.turns_started == 1  # the speech after the second press was not heard
    assert asr.heard_s[0] > 1.0


async def test_the_hotkey_while_hark_talks_stops_it_at_once() -> None:
    gate = asyncio.Event()  # the reply never ends on its own
    chat = ScriptedChat([ChatDelta("Once upon a time there was a fox. "), gate])
    rec, sink, asr = Recorder(), MemorySink(), ScriptedTranscriber("hello")
    sink.release = asyncio.Event()
    pressed = asyncio.Event()
    source = Stages((None, say("Tell me a long story.")), (pressed, silence(1.0)))
    voice = pipeline(chat, sink, rec, asr)
    loop = ListenLoop(source, Endpointer(), voice, rec, push_to_talk=True)
    loop.arm()
    run = asyncio.create_task(loop.run())
    await sink.written.wait()
    assert voice.speaking
    loop.arm()  # the hotkey again, while Hark talks
    assert sink.stopped == 1  # silenced in the same call, not at the next frame
    assert loop.armed
    pressed.set()
    await run
    assert [c.reason for c in rec.of(TurnCancelled)] == ["push-to-talk"]
    assert not voice.busy
    assert loop.turns_started == 1
    assert rec.of(SpeechStarted) != []
