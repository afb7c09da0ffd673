"""The end-of-turn model's answer about a pause, computed on a thread of its own.

The endpointer (:mod:`app.audio.vad`) starts a :class:`Guess` the moment a silence begins, so
that by the time the short silence is over the model's answer is usually there.
"""

from __future__ import annotations

import threading
from typing import Protocol


class TurnJudge(Protocol):
    """An end-of-turn model (:class:`app.audio.turn.SmartTurn`): may take tens of ms; called
    from a thread of the endpointer's own, so it must be thread-safe."""

    def complete(self, pcm: bytes) -> bool: ...


class Guess:
    """One inference on the utterance so far, running on its own short-lived thread.

    ``gen`` is the endpointer's generation it was started in: once speech resumes or the
    utterance ends, it moves on and the answer is thrown away. Guesses run one at a time
    (``running``); one gone ``stale`` while it waited is skipped, so gaps never queue up."""

    def __init__(self, turn: TurnJudge, pcm: bytes, gen: int, running: threading.Lock) -> None:
        self.gen = gen
        self.stale = False
        self.done = threading.Event()
        self.finished = False
        self.error: Exception | None = None
        worker = threading.Thread(target=self._run, args=(turn, pcm, running), name="hark-turn")
        worker.daemon = True  # a model mid-inference must not hold up quitting
        worker.start()

    def _run(self, turn: TurnJudge, pcm: bytes, running: threading.Lock) -> None:
        try:
            with running:
                if not self.stale:
                    self.finished = turn.complete(pcm)
        except Exception as exc:  # handed to the feed that uses the answer
            self.error = exc
        finally:
            self.done.set()
