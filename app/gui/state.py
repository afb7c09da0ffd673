"""What the tray shows: engine events folded into one state, plus the words for its tooltip.

Plain Python (no Qt), so the rules are easy to read and test: a turn goes listening →
thinking → speaking → idle; "listening" starts the moment a click, the hotkey or the wake
word arms the microphone (not when speech is first heard) and lasts until the request is
taken; a failed turn shows the error until the next one starts, or until the backend that
failed (the LLM) answers again; a backend that went away (the LLM, the Hark server) or a
missing microphone shows "offline / degraded" while Hark is idle; a pending confirmation
and a paused microphone win over everything else.
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
    Stage,
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

NO_MICROPHONE = "no microphone found: type to Hark instead"

_BACKEND_OF_STAGE = {Stage.LLM: "llm", Stage.ASR: "asr", Stage.TTS: "tts"}


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
    listening: bool = False
    """The microphone is armed for a request (a click, the hotkey, the wake word)."""
    no_microphone: str | None = None
    """Why Hark cannot hear (no microphone, the device failed); None while it can."""
    error_backend: str | None = None
    """The backend (``llm``, ``asr``, ``tts``) whose failure the error state shows."""
    starting: bool = False
    """The engine is being assembled (models loading)."""

    @property
    def state(self) -> TrayState:
        if self.confirming:
            return TrayState.CONFIRM
        if self.paused:
            return TrayState.PAUSED
        if self.listening:
            return TrayState.LISTENING
        if self.turn is TrayState.IDLE:
            if self.server == "starting" or self.starting:
                return TrayState.THINKING
            if self.down or self.server in ("stopped", "failed") or self.no_microphone:
                return TrayState.OFFLINE
        return self.turn

    def feed(self, event: Event) -> bool:
        before = (self.state, self.tooltip())
        if isinstance(event, SpeechStarted | WakeWordDetected):
            self.listening = True
        elif isinstance(event, ListeningTimedOut):
            self.listening = False
        elif isinstance(event, UtteranceEnded | TranscriptReady | TurnStarted):
            if isinstance(event, TurnStarted):
                self.last_error = self.error_backend = None
                if event.source == "voice":  # the request was taken: no longer listening
                    self.listening = False
            self.turn = TrayState.THINKING
        elif isinstance(event, AudioStarted):
            self.turn = TrayState.SPEAKING
        elif isinstance(event, TurnFinished):
            self.turn = TrayState.ERROR if event.result.error_code else TrayState.IDLE
        elif isinstance(event, TurnCancelled):
            self.turn = TrayState.IDLE
        elif isinstance(event, TurnFailed):
            self.turn = TrayState.ERROR  # shown until the next turn, or the backend is back
            self.last_error = event.message
            self.error_backend = _BACKEND_OF_STAGE.get(event.stage)
        elif isinstance(event, BackendStatusChanged):
            if event.ok:
                self.down.pop(event.backend, None)
                if self.error_backend == event.backend:  # what failed works again
                    self.last_error = self.error_backend = None
                    if self.turn is TrayState.ERROR:
                        self.turn = TrayState.IDLE
            else:
                self.down[event.backend] = event.message
        elif isinstance(event, ServerStateChanged):
            self.server = None if event.state == "ready" else event.state
            if event.state == "failed":
                self.last_error = event.message
        elif isinstance(event, NoticeRaised) and event.code.endswith(("-failed", "-error")):
            self.last_error = event.message
        return (self.state, self.tooltip()) != before

    def set_listening(self, listening: bool) -> None:
        """The app armed (or disarmed) the microphone: shown at once, before any speech."""
        self.listening = listening

    def headline(self) -> str:
        """The tooltip's first line."""
        state = self.state
        if self.starting and state is TrayState.THINKING:
            return "Hark — starting (loading the models)"
        degraded_by_mic_only = not self.down and self.server not in ("stopped", "failed")
        if self.no_microphone and state is TrayState.OFFLINE and degraded_by_mic_only:
            return f"Hark — {NO_MICROPHONE}"
        return f"Hark — {WORDS[state]}"

    def tooltip(self) -> str:
        lines = [self.headline(), f"Models: {self.backend}"]
        if self.no_microphone:
            lines.append(f"Microphone: {self.no_microphone}")
        if self.server:
            lines.append(f"Server: {self.server}")
        for backend, why in sorted(self.down.items()):
            lines.append(f"{backend}: {why}")
        if self.last_error:
            lines.append(f"Last error: {self.last_error}")
        if self.talk_hint and not self.no_microphone:
            lines.append(self.talk_hint)
        return "\n".join(lines)
