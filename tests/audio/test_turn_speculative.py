"""The end-of-turn model's time is hidden: its inference starts as soon as a silence begins, on
the endpointer's own thread, and its answer is heeded at ``turn_silence_ms``; speech that
resumes makes that early answer stale, and a stale answer never ends a turn.

Real webrtcvad on Piper speech; the judge is scripted (its verdicts, and when it answers, are
the test's to choose), so every figure here is counted in frames, not wall time.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from app.audio.vad import Endpointer, VadEvent
from app.core.types import FRAME_BYTES, FRAME_MS, Utterance
from tests.audio.sound import frames_of
from tests.support.speech import speech_clip

pytestmark = pytest.mark.slow

WAIT_S = 10.0
"""The most any step waits for the judge's thread (it answers in microseconds)."""


class Scripted:
    """An end-of-turn judge that says what it is told, once per call, when it is let go."""

    def __init__(self, *verdicts: bool, gated: bool = False) -> None:
        self.verdicts = list(verdicts)
        self.pcms: list[bytes] = []
        self.threads: list[str] = []
        self.entered = threading.Semaphore(0)
        self.answered = threading.Semaphore(0)
        self.go = threading.Semaphore(0)
        self.gated = gated

    def complete(self, pcm: bytes) -> bool:
        self.pcms.append(pcm)
        self.threads.append(threading.current_thread().name)
        self.entered.release()
        if self.gated:
            assert self.go.acquire(timeout=WAIT_S), "the test never let the judge answer"
        verdict = self.verdicts.pop(0)
        self.answered.release()
        return verdict

    def wait_entered(self) -> None:
        assert self.entered.acquire(timeout=WAIT_S), "the judge was not asked"

    def wait_answer(self) -> None:
        assert self.answered.acquire(timeout=WAIT_S), "the judge did not answer"


def feed_until_guess(ep: Endpointer, frames: list[bytes], at: int) -> int:
    """Feed frames from ``at`` until an inference starts; the index after that frame."""
    before = ep.turn_guesses
    for i in range(at, len(frames)):
        assert not [e for e in ep.feed(frames[i]) if isinstance(e, Utterance)]
        if ep.turn_guesses > before:
            return i + 1
    raise AssertionError("no inference was started")


def first_utterance(ep: Endpointer, frames: list[bytes], at: int) -> tuple[Utterance, int, bool]:
    """Feed from ``at`` to the first utterance: it, the index of the frame that ended it, and
    whether ``model_due`` announced that frame."""
    for i in range(at, len(frames)):
        due = ep.model_due
        utts = [e for e in ep.feed(frames[i]) if isinstance(e, Utterance)]
        if utts:
            return utts[0], i, due
    raise AssertionError("the turn never ended")


def test_the_early_answer_ends_the_turn_at_the_short_silence():
    judge = Scripted(True)
    ep = Endpointer(turn=judge, turn_silence_ms=300, turn_max_wait_ms=2000)
    frames = frames_of(speech_clip("Turn off the lights in the kitchen.", 0.5, 2.5).pcm)
    started = feed_until_guess(ep, frames, 0)
    judge.wait_answer()  # the model finished while the silence went on
    utt, ended, due = first_utterance(ep, frames, started)
    # The inference started one frame into the silence, on the audio up to that frame.
    assert len(judge.pcms[0]) == len(utt.pcm) + FRAME_BYTES
    assert judge.threads == ["hark-turn"]
    # ...and its answer ended the turn at turn_silence_ms, with no wait for the model.
    assert not due
    assert ep.turn_checks == ep.turn_guesses == 1
    assert round((utt.detected_s - utt.end_s) * 1000) == 300
    assert started * FRAME_MS / 1000 - utt.end_s <= 0.12  # within 120 ms of the end of speech
    assert ended > started  # the turn did not end before turn_silence_ms


def test_a_late_answer_ends_the_turn_the_moment_it_comes():
    judge = Scripted(True, gated=True)
    ep = Endpointer(turn=judge, turn_silence_ms=300, turn_max_wait_ms=2000)
    frames = frames_of(speech_clip("Turn off the lights in the kitchen.", 0.5, 2.5).pcm)
    i = feed_until_guess(ep, frames, 0)
    while not ep.model_due:  # up to the frame that reaches the short silence
        assert not ep.feed(frames[i])
        i += 1
    with ThreadPoolExecutor(1) as pool:  # as the listening loop does: off the event loop
        waiting = pool.submit(ep.feed, frames[i])
        assert not waiting.done()  # the feed waits for the model...
        judge.go.release()
        events: list[VadEvent] = waiting.result(timeout=WAIT_S)
    [utt] = events  # ...and the answer, "finished", ends the turn there
    assert isinstance(utt, Utterance)
    assert round((utt.detected_s - utt.end_s) * 1000) == 300
    assert ep.turn_guesses == 1


@pytest.mark.parametrize("answer", ["before", "after"])
def test_speech_that_resumes_makes_the_early_answer_stale(answer: str):
    first = speech_clip("Remind me to call", 0.5, 0.25)
    then = speech_clip("my mother at five.", 0.0, 3.0)
    gap_s = first.duration_s - first.speech_end_s + then.speech_start_s
    assert 0.15 < gap_s < 0.6  # starts an inference, but shorter than turn_silence_ms
    judge = Scripted(True, False, gated=answer == "after")  # the stale one says "finished"
    ep = Endpointer(turn=judge, turn_silence_ms=700, turn_max_wait_ms=1500)
    frames = frames_of(first.pcm + then.pcm)
    started = feed_until_guess(ep, frames, 0)  # in the pause
    judge.wait_entered()  # the model is at work
    if answer == "before":
        judge.wait_answer()  # "finished" is there before the user goes on
    resumed = round((len(first.pcm) / 2 / 16000 + then.speech_start_s + 0.3) * 1000) // FRAME_MS
    for frame in frames[started:resumed]:  # on into the second phrase
        assert not ep.feed(frame)
    if answer == "after":
        judge.go.release()  # "finished" comes after the user went on
        judge.wait_answer()
        judge.go.release()  # the next answer may come at once
    utt, _, _ = first_utterance(ep, frames, resumed)
    # One turn: the whole request, ended by the longest wait (the fresh answer: not finished).
    assert utt.start_s < first.speech_start_s
    assert abs(utt.end_s - (first.duration_s + then.speech_end_s)) < 0.1
    assert round((utt.detected_s - utt.end_s) * 1000) == 1500
    assert ep.turn_guesses == 2  # one in the pause (thrown away), one at the end
    assert ep.turn_checks == 1
    assert len(judge.pcms[1]) - len(judge.pcms[0]) >= then.speech_end_s * 2 * 16000


def test_reset_while_the_model_runs_drops_its_answer():
    judge = Scripted(True, gated=True)
    ep = Endpointer(turn=judge, turn_silence_ms=300, turn_max_wait_ms=2000)
    frames = frames_of(speech_clip("Turn off the lights in the kitchen.", 0.5, 2.5).pcm)
    i = feed_until_guess(ep, frames, 0)
    judge.wait_entered()
    ep.reset()  # the user's Cancel, while the model still thinks
    judge.go.release()
    judge.wait_answer()
    assert not ep.model_due
    assert not [e for f in frames[i:] for e in ep.feed(f)]
    assert ep.flush() is None
    assert ep.turn_checks == 0


def test_a_guess_gone_stale_before_its_turn_is_never_run():
    parts = [
        speech_clip("Remind me to call", 0.5, 0.25),
        speech_clip("my mother", 0.0, 0.25),
        speech_clip("at five.", 0.0, 3.0),
    ]
    judge = Scripted(True, False, gated=True)
    ep = Endpointer(turn=judge, turn_silence_ms=700, turn_max_wait_ms=1500)
    frames = frames_of(b"".join(p.pcm for p in parts))
    i = feed_until_guess(ep, frames, 0)  # the first pause: the model is at work...
    judge.wait_entered()
    into_third = (len(parts[0].pcm) + len(parts[1].pcm)) // FRAME_BYTES + 10
    while ep.turn_guesses < 2:  # ...and still, when the second pause starts another guess
        assert not ep.feed(frames[i])
        i += 1
    for frame in frames[i:into_third]:  # the user goes on again: both guesses are stale
        assert not ep.feed(frame)
    judge.go.release()  # the first answers ("finished", thrown away); the second never runs
    judge.wait_answer()
    judge.go.release()  # the last pause's answer
    utt, _, _ = first_utterance(ep, frames, into_third)
    assert round((utt.detected_s - utt.end_s) * 1000) == 1500  # "not finished": the wait
    assert ep.turn_guesses == 3
    assert len(judge.pcms) == 2
