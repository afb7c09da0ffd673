"""Early transcriptions on their own: one run at a time, which run a turn may take, and the
stable words of LocalAgreement. The transcriber is held at will, so every order can be made."""

from __future__ import annotations

import asyncio

import pytest

from app.core.early import EarlyTranscripts
from app.core.events import TranscriptPartial
from app.core.types import SpeechSoFar, Transcript, Utterance
from app.shared.errors import AsrCode, AsrError
from tests.core.scripted import Recorder

RATE = 16_000
SPEECH = b"\x01\x02" * RATE  # one second of "speech"
QUIET = b"\0\0" * (RATE // 10)  # 100 ms of silence after it


class HeldTranscriber:
    """Answers with the next scripted text once released; records what it heard."""

    def __init__(self, *texts: str, fail: bool = False) -> None:
        self.texts = list(texts)
        self.fail = fail
        self.heard: list[bytes] = []
        self.running = 0
        self.most_at_once = 0
        self.release = asyncio.Event()
        self.release.set()

    async def transcribe(self, pcm: bytes, sample_rate: int) -> Transcript:
        self.heard.append(pcm)
        self.running += 1
        self.most_at_once = max(self.most_at_once, self.running)
        try:
            await self.release.wait()
        finally:
            self.running -= 1
        if self.fail:
            raise AsrError(AsrCode.REMOTE_UNREACHABLE, "the speech server is not answering")
        text = self.texts.pop(0) if self.texts else ""
        return Transcript(text, "en", len(pcm) / 2 / sample_rate)


def paused(pcm: bytes, start_s: float = 0.5) -> SpeechSoFar:
    return SpeechSoFar(pcm, start_s, paused=True)


def ended(pcm: bytes, start_s: float = 0.5) -> Utterance:
    return Utterance(pcm, start_s, start_s + len(pcm) / 2 / RATE, start_s + 1.5)


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)  # let the background runs take their turn on the loop


async def test_a_turn_takes_the_run_of_the_pause_that_ended_it() -> None:
    asr = HeldTranscriber("set a timer for ten minutes")
    early = EarlyTranscripts(asr, Recorder())
    early.offer(paused(SPEECH + QUIET))
    claimed = early.claim(ended(SPEECH))
    assert claimed is not None
    transcript = await claimed
    assert transcript.text == "set a timer for ten minutes"
    assert asr.heard == [SPEECH + QUIET]  # transcribed once, before the turn asked
    assert (early.runs, early.reused) == (1, 1)


async def test_speech_after_the_pause_makes_the_run_useless() -> None:
    asr = HeldTranscriber("set a timer for")
    early = EarlyTranscripts(asr, Recorder())
    early.offer(paused(SPEECH))
    await settle()
    longer = SPEECH + QUIET + SPEECH  # the user went on: the utterance holds more
    assert early.claim(ended(longer)) is None
    assert early.reused == 0


async def test_a_run_that_heard_other_audio_or_much_more_is_not_taken() -> None:
    early = EarlyTranscripts(HeldTranscriber("a", "b", "c"), Recorder(), max_extra_s=0.5)
    early.offer(paused(SPEECH + QUIET))
    other = b"\x03\x04" * RATE
    assert early.claim(ended(other)) is None  # the same length of audio, but not the same
    early.offer(paused(SPEECH + b"\0\0" * RATE))  # a whole second beyond the turn's audio
    assert early.claim(ended(SPEECH)) is None
    early.offer(paused(SPEECH, start_s=2.0))
    assert early.claim(ended(SPEECH, start_s=0.5)) is None  # another utterance


async def test_runs_go_one_at_a_time_and_only_the_newest_waits() -> None:
    asr = HeldTranscriber("one", "two", "three")
    asr.release.clear()
    early = EarlyTranscripts(asr, Recorder(), run_s=0.0)
    early.offer(SpeechSoFar(SPEECH[:8000], 0.5, paused=False))
    await settle()
    early.offer(SpeechSoFar(SPEECH[:16000], 0.5, paused=False))  # waits
    early.offer(SpeechSoFar(SPEECH[:24000], 0.5, paused=False))  # replaces the one waiting
    await settle()
    assert asr.running == 1
    asr.release.set()
    for _ in range(20):
        await settle()
    assert [len(p) for p in asr.heard] == [8000, 24000]
    assert asr.most_at_once == 1


async def test_stable_words_follow_local_agreement_and_never_go_back() -> None:
    rec = Recorder()
    asr = HeldTranscriber(
        "Remind me to cool",  # the last word cut mid-way: a wrong guess
        "Remind me to call Pete",
        "Remind me to call Peter at",
        "Remind me, to call Peter at five.",  # punctuation alone is no disagreement
    )
    early = EarlyTranscripts(asr, rec, run_s=0.0)
    pcm = b""
    for _ in range(4):
        pcm += SPEECH[:8000]
        early.offer(SpeechSoFar(pcm, 0.5, paused=False))
        for _ in range(5):
            await settle()
    partials = [(e.text, e.stable) for e in rec.of(TranscriptPartial)]
    assert partials == [
        ("Remind me to cool", ""),
        ("Remind me to call Pete", "Remind me to"),
        ("Remind me to call Peter at", "Remind me to call"),
        ("Remind me to call Peter at five.", "Remind me to call Peter at"),
    ]
    assert early.stable == "Remind me to call Peter at"


async def test_a_new_utterance_starts_its_stable_words_afresh() -> None:
    rec = Recorder()
    early = EarlyTranscripts(HeldTranscriber("turn on", "turn on the", "what"), rec, run_s=0.0)
    for pcm in (SPEECH[:8000], SPEECH[:16000]):
        early.offer(SpeechSoFar(pcm, 0.5, paused=False))
        await settle()
    assert early.stable == "turn on"
    early.offer(SpeechSoFar(SPEECH[:8000], 4.0, paused=False))
    await settle()
    assert early.stable == ""
    assert rec.of(TranscriptPartial)[-1] == TranscriptPartial("what", "")


async def test_forget_drops_what_was_being_heard() -> None:
    rec = Recorder()
    asr = HeldTranscriber("never shown")
    asr.release.clear()
    early = EarlyTranscripts(asr, rec)
    early.offer(paused(SPEECH + QUIET))
    await settle()
    early.forget()  # the user pressed Cancel
    asr.release.set()
    await settle()
    assert early.claim(ended(SPEECH)) is None
    assert rec.of(TranscriptPartial) == []


async def test_a_failed_early_run_surfaces_to_the_turn_that_claims_it() -> None:
    early = EarlyTranscripts(HeldTranscriber(fail=True), Recorder())
    early.offer(paused(SPEECH + QUIET))
    claimed = early.claim(ended(SPEECH))
    assert claimed is not None
    with pytest.raises(AsrError):
        await claimed


async def test_on_a_slow_machine_no_look_is_taken_during_speech_only_at_the_pause() -> None:
    asr = HeldTranscriber("what time is it")
    early = EarlyTranscripts(asr, Recorder(), run_s=1.2)  # Whisper takes 1.2 s a run here
    early.offer(SpeechSoFar(SPEECH[:16000], 0.5, paused=False))
    await settle()
    assert (asr.heard, early.skipped) == ([], 1)  # it would hold up the pause's run
    early.offer(paused(SPEECH + QUIET))
    claimed = early.claim(ended(SPEECH))
    assert claimed is not None
    assert (await claimed).text == "what time is it"


async def test_looks_during_speech_wait_until_a_run_has_been_timed() -> None:
    asr = HeldTranscriber("a", "b", "c")
    early = EarlyTranscripts(asr, Recorder())
    early.offer(SpeechSoFar(SPEECH[:16000], 0.5, paused=False))
    assert early.skipped == 1  # how long a run takes is not known yet
    early.offer(paused(SPEECH[:16000] + QUIET))
    await settle()
    assert early.run_s is not None
    assert early.run_s < 0.3
    early.offer(SpeechSoFar(SPEECH[:24000], 9.0, paused=False))  # fast: now they are taken
    await settle()
    assert len(asr.heard) == 2
