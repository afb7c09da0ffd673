"""What the tray shows: engine events folded into one state, plus the words for its tooltip.

Plain Python (no Qt), so the rules are easy to read and test: a turn goes listening →
thinking → speaking → idle; a failed turn shows the error until the next one starts; a
backend that went away (the LLM, the Hark server) shows "offline / degraded" while Hark is
idle; a pending confirmation and a paused microphone win over everything else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from app.core.events import (
    AudioStarted,
    BackendStatusChanged,
    Event,
    ListeningTimedOut,
    NoticeRaised,
    ServerStateChanged,
    SpeechStarted,
    TranscriptReady,
    TurnCancelled,
    TurnFailed,
    TurnFinished,
    TurnStarted,
    UtteranceEnded,
    WakeWordDetected,
)


class TrayState(StrEnum):
    """One icon each (``resources/icons/<value>.svg``)."""

    IDLE = "idle"
    LISTENING = "listening"
    THINKING = "thinking"
    SPEAKING = "speaking"
    CONFIRM = "confirm"
    OFFLINE = "offline"
    ERROR = "error"
    PAUSED = "paused"


WORDS = {
    TrayState.IDLE: "ready",
    TrayState.LISTENING: "listening",
    TrayState.THINKING: "thinking",
    TrayState.SPEAKING: "speaking",
    TrayState.CONFIRM: "needs your confirmation",
    TrayState.OFFLINE: "offline or degraded",
    TrayState.ERROR: "something went wrong",
    TrayState.PAUSED: "listening paused",
}


@dataclass
class StateTracker:
    """Folds events into :attr:`state`; ``feed`` says whether what is shown changed."""

    backend: str = "local"
    """Where the models run, in words: ``local``, or the server's address and price."""
    turn: TrayState = TrayState.IDLE
    last_error: str | None = None
    server: str | None = None
    """The rented server's state while it is not simply ready (``starting``, ``stopped``)."""
    down: dict[str, str] = field(default_factory=dict)
    """Backends that are not usable now, with why."""
    paused: bool = False
    confirming: int = 0
    talk_hint: str | None = None
    """How to talk: the hotkey, or why there is none."""

    @property
    def state(self) -> TrayState:
        if self.confirming:
            return TrayState.CONFIRM
        if self.paused:
            return TrayState.PAUSED
        if self.turn is TrayState.IDLE:
            if self.server == "starting":
                return TrayState.THINKING
            if self.down or self.server in ("stopped", "failed"):
                return TrayState.OFFLINE
        return self.turn

    def feed(self, event: Event) -> bool:
        before = (self.state, self.tooltip())
        if isinstance(event, SpeechStarted | WakeWordDetected):
            self.turn = TrayState.LISTENING
        elif isinstance(event, UtteranceEnded | TranscriptReady | TurnStarted):
            self.turn = TrayState.THINKING
            self.last_error = None if isinstance(event, TurnStarted) else self.last_error
        elif isinstance(event, AudioStarted):
            self.turn = TrayState.SPEAKING
        elif isinstance(event, TurnFinished):
            self.turn = TrayState.ERROR if event.result.error_code else TrayState.IDLE
        elif isinstance(event, TurnCancelled | ListeningTimedOut):
            self.turn = TrayState.IDLE
        elif isinstance(event, TurnFailed):
            self.turn = TrayState.ERROR  # shown until the next turn starts
            self.last_error = event.message
        elif isinstance(event, BackendStatusChanged):
            if event.ok:
                self.down.pop(event.backend, None)
            else:
                self.down[event.backend] = event.message
        elif isinstance(event, ServerStateChanged):
            self.server = None if event.state == "ready" else event.state
            if event.state == "failed":
                self.last_error = event.message
        elif isinstance(event, NoticeRaised) and event.code.endswith(("-failed", "-error")):
            self.last_error = event.message
        return (self.state, self.tooltip()) != before

    def tooltip(self) -> str:
        lines = [f"Hark — {WORDS[self.state]}", f"Models: {self.backend}"]
        if self.server:
            lines.append(f"Server: {self.server}")
        for backend, why in sorted(self.down.items()):
            lines.append(f"{backend}: {why}")
        if self.last_error:
            lines.append(f"Last error: {self.last_error}")
        if self.talk_hint:
            lines.append(self.talk_hint)
        return "\n".join(lines)
