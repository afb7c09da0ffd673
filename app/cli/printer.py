"""Engine events in a terminal, for ``hark ask`` and ``hark listen``: what was heard and the
reply as it streams on stdout, notices, tool calls and progress on stderr.

While the user talks, the words heard so far overwrite one line on stderr when it is a
terminal (nothing is printed for them into a pipe or a file: only the final ``you:`` line).
"""

from __future__ import annotations

import sys
import threading
from typing import TextIO

from app.core.events import (
    BackendStatusChanged,
    Event,
    ListeningTimedOut,
    NoticeRaised,
    ReplyTextReceived,
    ServerStateChanged,
    SpeechStarted,
    ToolCallStarted,
    TranscriptPartial,
    TranscriptReady,
    TurnCancelled,
    TurnFailed,
    TurnFinished,
    WakeWordDetected,
)

_CANCELLED = {
    "continued speech": "(you went on: hearing it all as one request)",
    "barge-in": "(stopped)",
}
"""What a stopped answer is told as, by why it stopped."""


class Printer:
    """Shows engine events in a terminal; quiet on stdout when JSON is wanted."""

    def __init__(self, json_mode: bool) -> None:
        self.json_mode = json_mode
        self._replying = False
        self._progress_open = False
        self._partial_open = False
        self._lock = threading.Lock()  # progress comes from download threads too

    @property
    def out(self) -> TextIO:
        return sys.stdout

    @property
    def err(self) -> TextIO:
        return sys.stderr

    def __call__(self, event: Event) -> None:
        with self._lock:
            self._show(event)

    def _show(self, event: Event) -> None:
        if isinstance(event, TranscriptPartial):
            self._partial(event)
            return
        self._clear_partial()
        if self._progress_open:  # a percentage line is open: what follows starts a new line
            print(file=self.err, flush=True)
            self._progress_open = False
        if isinstance(
            event, (NoticeRaised | BackendStatusChanged | ServerStateChanged, TurnFailed)
        ):
            self._end_line()
            print(f"hark: {event.message}", file=self.err)
        elif self.json_mode:
            return
        elif isinstance(event, SpeechStarted):
            print("… listening", file=self.err)
        elif isinstance(event, WakeWordDetected):
            print(f"… yes? ({event.model}, {event.score:.2f})", file=self.err)
        elif isinstance(event, ListeningTimedOut):
            print("(nothing heard; say the wake word again)", file=self.err)
        elif isinstance(event, TranscriptReady):
            print(f"you: {event.text or '(nothing heard)'}", file=self.out)
        elif isinstance(event, ToolCallStarted):
            self._end_line()
            print(f"  [{event.name}]", file=self.err)
        elif isinstance(event, ReplyTextReceived):
            if not self._replying:
                print("hark: ", end="", file=self.out)
                self._replying = True
            print(event.text, end="", file=self.out, flush=True)
        elif isinstance(event, TurnCancelled):
            self._end_line()
            if event.reason in _CANCELLED:
                print(_CANCELLED[event.reason], file=self.err)
        elif isinstance(event, TurnFinished):
            self._end_line()

    def _partial(self, event: TranscriptPartial) -> None:
        if self.json_mode or not event.text or not self.err.isatty():
            return
        print(f"\r… {event.text}\033[K", end="", file=self.err, flush=True)
        self._partial_open = True

    def _clear_partial(self) -> None:
        if self._partial_open:
            print("\r\033[K", end="", file=self.err, flush=True)
            self._partial_open = False

    def _end_line(self) -> None:
        if self._replying:
            print(file=self.out)
            self._replying = False

    def progress(self, message: str) -> None:
        """Percent updates overwrite one line; other steps get a line each."""
        with self._lock:
            self._progress(message)

    def _progress(self, message: str) -> None:
        self._clear_partial()
        if "%" in message:
            print(f"\r{message}\033[K", end="", file=self.err, flush=True)
            self._progress_open = True
        else:
            print(("\n" if self._progress_open else "") + message, file=self.err, flush=True)
            self._progress_open = False
