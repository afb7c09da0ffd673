"""Transcribing a request while the user is still talking.

The endpointer hands out the utterance so far (:class:`~app.core.types.SpeechSoFar`) the
moment a silence begins, and every so often while a long request goes on. Each is transcribed in
the background, one at a time (Whisper already uses every core: two at once would only slow
both; the newest waits, an older waiting one is dropped). When the utterance ends, its turn
takes the transcription of the pause that ended it, if that run heard the same audio (the turn's
audio, followed only by the few silent frames heard before the run began): the work is done, or
under way, by the time the turn begins, instead of starting then. Speech that resumes after the
pause makes a longer utterance, which that run does not cover, so it is never used for it.

A look during speech is only taken where it cannot hold up the turn: Whisper runs one at a
time, so a look still running when the pause comes delays the pause's own run. Looks during
speech are therefore taken only while a run takes at most ``max_look_s`` (measured on the runs
so far; a GPU server or a fast CPU), never on a machine where Whisper is slow, which gets the
pause's run alone.

A look transcribes the whole utterance so far, not only what was said since the last one:
Whisper needs the context, and a short request costs little in the window fitted to it
(:mod:`app.asr.short_window`); that is why the turn reuses a whole run of the utterance.

Every result is also a :class:`~app.core.events.TranscriptPartial` for the listening window.
What is *stable* follows LocalAgreement: the words that two consecutive looks at the same
utterance agree on, from the start, are stable and are never taken back; the rest is the latest
guess (the last word of audio cut mid-word is often wrong, and the next look corrects it).
"""

from __future__ import annotations

import asyncio
import logging
import string
import time
from collections.abc import Awaitable
from dataclasses import dataclass

from app.core.events import TranscriptPartial
from app.core.ports import Emit, Transcriber
from app.core.types import SpeechSoFar, Transcript, Utterance
from app.shared.errors import HarkError

log = logging.getLogger(__name__)

_PUNCTUATION = str.maketrans("", "", string.punctuation)


@dataclass
class _Run:
    so_far: SpeechSoFar
    task: asyncio.Task[Transcript]


def _same(a: str, b: str) -> bool:
    """Two words agree when they differ only in case and punctuation ("five," and "Five")."""
    return a.lower().translate(_PUNCTUATION) == b.lower().translate(_PUNCTUATION)


class EarlyTranscripts:
    """The background transcriptions of the utterance in progress; lives on the engine loop.

    ``max_extra_s``: how much audio (silence) a pause's run may hold beyond the turn's own audio
    and still stand for it. ``max_look_s``: the longest a run may take for looks during speech
    to be taken; ``run_s`` is how long runs take (None until one was timed, and no looks then).
    ``runs`` and ``reused`` count started and claimed runs, ``skipped`` the looks not taken.
    """

    def __init__(
        self,
        transcriber: Transcriber,
        emit: Emit,
        *,
        max_extra_s: float = 1.0,
        max_look_s: float = 0.3,
        run_s: float | None = None,
    ):
        self._transcriber = transcriber
        self._emit = emit
        self._max_extra_s = max_extra_s
        self._max_look_s = max_look_s
        self.run_s = run_s
        self.skipped = 0
        self._running: _Run | None = None
        self._pending: SpeechSoFar | None = None
        self._pause: _Run | None = None  # the run of the latest pause in the current utterance
        self._utterance: float | None = None  # start_s of the utterance being followed
        self._guess: list[str] = []  # the latest hypothesis, in words
        self._stable: list[str] = []
        self.runs = 0
        self.reused = 0

    @property
    def stable(self) -> str:
        """The words of the current utterance that will not change any more."""
        return " ".join(self._stable)

    def offer(self, so_far: SpeechSoFar) -> None:
        """Transcribe ``so_far`` now, or as soon as the run in progress has finished."""
        if so_far.start_s != self._utterance:
            self._follow(so_far.start_s)
        if not so_far.paused and (self.run_s is None or self.run_s > self._max_look_s):
            self.skipped += 1  # it could hold up the pause's run: Whisper is too slow here
            return
        if self._running is not None:
            self._pending = so_far  # the newest look is the one worth having
            return
        self._start(so_far)

    def claim(self, utterance: Utterance) -> Awaitable[Transcript] | None:
        """The transcription of ``utterance``, if a pause's run heard exactly its audio (it may
        still be running); None: the turn must transcribe it itself. Either way the looks at
        this utterance end here: what is still waiting is dropped."""
        run, self._pause = self._pause, None
        if self._pending is not None and self._pending.start_s == utterance.start_s:
            self._pending = None
        self._utterance = None
        if run is None or not self._covers(run.so_far, utterance):
            return None
        if run is self._running:
            self._running = None  # the turn owns it now; the next look may start
            self._start_pending()
        self.reused += 1
        return run.task

    def forget(self) -> None:
        """What was being heard is dropped (reset, pause, cancel): stop following it."""
        self._pending = None
        self._pause = None
        self._utterance = None
        if self._running is not None:
            self._running.task.cancel()

    def _covers(self, so_far: SpeechSoFar, utterance: Utterance) -> bool:
        pcm, wanted = so_far.pcm, utterance.pcm
        extra = len(pcm) - len(wanted)
        if so_far.sample_rate != utterance.sample_rate or extra < 0:
            return False
        if extra > 2 * self._max_extra_s * utterance.sample_rate:
            return False
        return pcm[: len(wanted)] == wanted

    def _follow(self, start_s: float) -> None:
        """A new utterance: its looks start afresh."""
        self._utterance = start_s
        self._pause = None
        self._guess = []
        self._stable = []

    def _start(self, so_far: SpeechSoFar) -> None:
        self.runs += 1
        task = asyncio.create_task(self._transcribe(so_far))
        run = _Run(so_far, task)
        self._running = run
        if so_far.paused:
            self._pause = run
        task.add_done_callback(lambda _: self._finished(run))

    def _finished(self, run: _Run) -> None:
        if not run.task.cancelled() and run.task.exception() is not None:
            log.debug("an early transcription failed: %s", run.task.exception())
        if self._running is run:
            self._running = None
            self._start_pending()

    def _start_pending(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None and pending.start_s == self._utterance:
            self._start(pending)

    async def _transcribe(self, so_far: SpeechSoFar) -> Transcript:
        started = time.monotonic()
        try:
            transcript = await self._transcriber.transcribe(so_far.pcm, so_far.sample_rate)
            took = time.monotonic() - started
            self.run_s = took if self.run_s is None else 0.7 * self.run_s + 0.3 * took
        except HarkError as exc:
            log.info("early transcription failed (%s); the turn will try again", exc.code)
            raise
        if so_far.start_s == self._utterance and transcript.text.strip():
            self._agree(transcript.text.split())
        return transcript

    def _agree(self, words: list[str]) -> None:
        """LocalAgreement between the previous look and this one; emits the partial text."""
        n = len(self._stable)
        if all(_same(a, b) for a, b in zip(self._stable, words[:n], strict=False)):
            common = n
            while common < min(len(self._guess), len(words)) and _same(
                self._guess[common], words[common]
            ):
                common += 1
            self._stable = self._stable + words[n:common]
        self._guess = words
        tail = words[len(self._stable) :]
        self._emit(TranscriptPartial(" ".join(self._stable + tail), " ".join(self._stable)))
