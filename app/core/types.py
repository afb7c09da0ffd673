"""Value types that flow between the stages of a voice turn.

All are frozen, slotted dataclasses: they cross threads (the audio callback, the engine loop,
the GUI) and must never change once made.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

SAMPLE_RATE = 16_000
"""Hark's internal audio rate: every microphone frame and utterance is 16 kHz mono int16."""
FRAME_MS = 30
FRAME_SAMPLES = SAMPLE_RATE * FRAME_MS // 1000  # 480
FRAME_BYTES = FRAME_SAMPLES * 2  # 960


@dataclass(frozen=True, slots=True)
class Utterance:
    """One stretch of speech cut out of the frame stream by the endpointer.

    Times are stream seconds (frames counted since the source started), so they are exact for
    files and real-time for microphones. ``end_s`` is where speech stopped; ``detected_s`` is when
    the endpointer decided so; the difference is the endpoint delay.
    """

    pcm: bytes
    start_s: float
    end_s: float
    detected_s: float
    sample_rate: int = SAMPLE_RATE

    @property
    def duration_s(self) -> float:
        return len(self.pcm) / 2 / self.sample_rate

    @property
    def endpoint_delay_s(self) -> float:
        return max(0.0, self.detected_s - self.end_s)


@dataclass(frozen=True, slots=True)
class SpeechSoFar:
    """The utterance in progress, handed out before it ends, so that it can be transcribed
    while the user is still talking (see :mod:`app.core.early`).

    ``start_s`` is the utterance's own ``start_s`` (the same utterance, once it ends, has the
    same start); ``paused``: a silence has just begun (it may be the end of the turn), else the
    user is still speaking and this is a partial look at a long utterance.
    """

    pcm: bytes
    start_s: float
    paused: bool
    sample_rate: int = SAMPLE_RATE


@dataclass(frozen=True, slots=True)
class Transcript:
    """What the recogniser heard. Empty ``text`` means nothing worth answering."""

    text: str
    language: str | None
    audio_s: float
    no_speech_prob: float | None = None


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A function the model may call, described by a JSON schema (Ollama's tool format)."""

    name: str
    description: str
    parameters: Mapping[str, Any] = field(
        default_factory=lambda: {"type": "object", "properties": {}}
    )

    def to_wire(self) -> dict[str, Any]:
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": dict(self.parameters),
            },
        }


@dataclass(frozen=True, slots=True)
class ToolCall:
    """The model's request to run one tool. ``id`` is the server's name for this call (OpenAI's
    ``tool_call_id``); Ollama sends none."""

    name: str
    arguments: Mapping[str, Any]
    id: str = ""


@dataclass(frozen=True, slots=True)
class ToolResult:
    """A tool's answer, kept short and structured for the model (``content`` is JSON text).

    The action policy adds what the user should see: ``ran``, the arguments the tool really
    ran with (after the user's edits; None when it did not run), and ``summary``, the action
    in words."""

    name: str
    ok: bool
    content: str
    ran: Mapping[str, Any] | None = None
    summary: str = ""


Role = Literal["system", "user", "assistant", "tool"]


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One message of a conversation, in the shape Ollama's ``/api/chat`` takes."""

    role: Role
    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    tool_name: str | None = None
    tool_call_id: str | None = None
    """A tool result: the ``id`` of the call it answers (OpenAI-compatible servers need it)."""

    def to_wire(self) -> dict[str, Any]:
        msg: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.tool_calls:
            msg["tool_calls"] = [
                {"function": {"name": c.name, "arguments": dict(c.arguments)}}
                for c in self.tool_calls
            ]
        if self.tool_name is not None:
            msg["tool_name"] = self.tool_name
        return msg


@dataclass(frozen=True, slots=True)
class ChatDelta:
    """One piece of a streamed reply: text, tool calls, or the final ``done`` marker."""

    content: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    done: bool = False


@dataclass(frozen=True, slots=True)
class BackendStatus:
    """Whether a backend (LLM, ASR, TTS) is usable now, and if not, why in plain words."""

    ok: bool
    code: str
    message: str


class Risk(StrEnum):
    """How much a tool call matters, which decides the action policy's default for it."""

    READ = "read"
    """Looks, changes nothing (list events, read mail)."""
    WRITE = "write"
    """Changes something only the user sees and can undo (a draft, an event without guests)."""
    EXTERNAL = "external"
    """Reaches other people or cannot be undone (send mail, invite guests, delete)."""


@dataclass(frozen=True, slots=True)
class ActionProposal:
    """What the policy asks the user about: one tool call, described for a person.

    ``preview`` holds the fields the user may edit before approving (a mail's to/cc/subject/
    body; an event's title/start/end/attendees); the approved, edited values are what runs.
    """

    id: str
    tool: str
    arguments: Mapping[str, Any]
    risk: Risk
    summary: str
    preview: Mapping[str, Any]
    reasons: tuple[str, ...] = ()
    review: Callable[[Mapping[str, Any]], Awaitable[ActionReview]] | None = field(
        default=None, compare=False, repr=False
    )
    """Judges the proposal again with the user's edits (changed preview fields): the policy's
    own summary and reasons for what would run then. A coroutine for the engine loop."""


@dataclass(frozen=True, slots=True)
class ActionReview:
    """An edited proposal judged again: what it would do and why it needs a yes."""

    summary: str
    reasons: tuple[str, ...]
    risk: Risk


@dataclass(frozen=True, slots=True)
class Decision:
    """The user's answer to a proposal; ``edits`` are changed preview fields (approve only)."""

    approved: bool
    edits: Mapping[str, Any] = field(default_factory=dict)
    note: str = ""
    """Why, in words: ``rejected``, ``timed out``, ``no one to ask``..."""
