"""Typed events the engine emits, named as facts.

The GUI bridge turns them into Qt signals, the CLI prints them, tests collect them. They are
frozen and slotted so they can cross from the engine thread to the GUI thread safely.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Stage(StrEnum):
    """The stages of a voice turn, in order."""

    ENDPOINT = "endpoint"
    ASR = "asr"
    LLM = "llm"
    TOOL = "tool"
    TTS = "tts"
    PLAYBACK = "playback"


@dataclass(frozen=True, slots=True)
class TurnTimings:
    """Latency breakdown of one turn, in milliseconds (``None`` where a stage did not run).

    ``first_audio_ms`` and ``total_ms`` count from the end of the user's speech for a voice
    turn (so they include the endpoint delay) and from submission for a text turn.
    """

    endpoint_ms: float | None = None
    asr_ms: float | None = None
    llm_first_token_ms: float | None = None
    first_audio_ms: float | None = None
    total_ms: float | None = None

    def as_dict(self) -> dict[str, float | None]:
        return {
            "endpoint": _r(self.endpoint_ms),
            "asr": _r(self.asr_ms),
            "llm_first_token": _r(self.llm_first_token_ms),
            "first_audio": _r(self.first_audio_ms),
            "total": _r(self.total_ms),
        }


def _r(v: float | None) -> float | None:
    return None if v is None else round(v, 1)


@dataclass(frozen=True, slots=True)
class ToolCallRecord:
    """A tool the model called during a turn, and how it went."""

    name: str
    arguments: dict[str, Any]
    ok: bool
    result: str


@dataclass(frozen=True, slots=True)
class TurnResult:
    """Everything one turn produced: what was heard, said and done, and how long it took."""

    turn_id: int
    transcript: str
    reply: str
    tool_calls: tuple[ToolCallRecord, ...]
    timings: TurnTimings
    cancelled: bool = False
    error_code: str | None = None
    error_message: str | None = None


@dataclass(frozen=True, slots=True)
class TurnStarted:
    turn_id: int
    source: str  # "voice" or "text"
    text: str = ""
    """A text turn's request as the user should see it (empty for a voice turn, whose
    words come with ``TranscriptReady``)."""


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    at_s: float


@dataclass(frozen=True, slots=True)
class UtteranceEnded:
    duration_s: float
    endpoint_ms: float


@dataclass(frozen=True, slots=True)
class TranscriptReady:
    text: str
    language: str | None


@dataclass(frozen=True, slots=True)
class TranscriptPartial:
    """The words heard so far while the user is still talking; ``stable`` is the start of
    ``text`` that will not change any more (the rest is the latest guess)."""

    text: str
    stable: str


@dataclass(frozen=True, slots=True)
class ReplyTextReceived:
    """A piece of the reply as the model writes it."""

    text: str


@dataclass(frozen=True, slots=True)
class SentenceReady:
    """A whole sentence of the reply, handed to the voice."""

    text: str


@dataclass(frozen=True, slots=True)
class ToolCallStarted:
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ToolCallFinished:
    """A tool call ended. ``arguments`` are those it really ran with (the user may have edited
    the model's proposal before approving; None when it did not run) and ``summary`` says
    in words what it did or would have done (empty when the policy did not describe it)."""

    name: str
    ok: bool
    result: str
    arguments: dict[str, Any] | None = None
    summary: str = ""


@dataclass(frozen=True, slots=True)
class AudioStarted:
    """The first sample of the reply went out to the speaker (or file)."""

    latency_ms: float


@dataclass(frozen=True, slots=True)
class StageTimed:
    stage: Stage
    ms: float


@dataclass(frozen=True, slots=True)
class TurnFailed:
    """A turn ended early; ``message`` is for the user (and is spoken when a voice works)."""

    turn_id: int
    stage: Stage
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class TurnCancelled:
    turn_id: int
    reason: str


@dataclass(frozen=True, slots=True)
class TurnFinished:
    result: TurnResult


@dataclass(frozen=True, slots=True)
class BackendStatusChanged:
    """A backend (``llm``, ``asr``, ``tts``) became usable or unusable."""

    backend: str
    ok: bool
    message: str


@dataclass(frozen=True, slots=True)
class ServerStateChanged:
    """Hark's own rented server changed state: ``stopped``, ``starting``, ``ready``,
    ``stopping`` or ``failed`` (what the tray shows while a stopped server comes back)."""

    state: str
    message: str


@dataclass(frozen=True, slots=True)
class NoticeRaised:
    """Something the user should be told once (e.g. the hosted voice failed, local voice used)."""

    code: str
    message: str


@dataclass(frozen=True, slots=True)
class WakeWordDetected:
    """The wake word was heard: Hark now listens for one request (the tray shows "listening")."""

    model: str
    score: float


@dataclass(frozen=True, slots=True)
class ListeningTimedOut:
    """Hark was listening for a request after the wake word, but none came; it went back to
    waiting for the wake word (the tray stops showing "listening")."""

    after_s: float


Event = (
    TurnStarted
    | SpeechStarted
    | UtteranceEnded
    | TranscriptReady
    | TranscriptPartial
    | ReplyTextReceived
    | SentenceReady
    | ToolCallStarted
    | ToolCallFinished
    | AudioStarted
    | StageTimed
    | TurnFailed
    | TurnCancelled
    | TurnFinished
    | BackendStatusChanged
    | ServerStateChanged
    | NoticeRaised
    | WakeWordDetected
    | ListeningTimedOut
)
