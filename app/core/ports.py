"""The ports: what the engine needs from the outside world, as Protocols.

Adapters (``app.audio``, ``app.asr``, ``app.llm``, ``app.tts``, ``app.google``) implement them;
the core and the tests depend only on these shapes. Blocking adapters do their work in
``asyncio.to_thread`` so that every method here is safe to await on the engine loop.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Callable, Sequence
from typing import Protocol, runtime_checkable

from app.core.events import Event, SpeechStarted
from app.core.types import (
    ActionProposal,
    BackendStatus,
    ChatDelta,
    ChatMessage,
    Decision,
    SpeechSoFar,
    ToolCall,
    ToolResult,
    ToolSpec,
    Transcript,
    Utterance,
)

Emit = Callable[[Event], None]
"""The engine's only way out: the GUI bridge, the CLI printer and tests all receive events."""


class FrameSource(Protocol):
    """A stream of 30 ms frames of 16 kHz mono int16 PCM (``FRAME_BYTES`` each)."""

    def frames(self) -> AsyncIterator[bytes]:
        """Yield frames until the source ends (a file) or is closed (a microphone)."""
        ...

    async def aclose(self) -> None:
        """Stop producing frames and release the device."""
        ...


class Endpointing(Protocol):
    """Cuts a frame stream into utterances (voice activity detection); pure, no I/O."""

    def feed(self, frame: bytes) -> list[SpeechStarted | SpeechSoFar | Utterance]:
        """Take one frame; return a speech start, the utterance so far (for an early
        transcription) and/or finished utterances, if any."""
        ...

    def flush(self) -> Utterance | None:
        """End of stream: the utterance in progress, if it is long enough."""
        ...

    def reset(self) -> None: ...

    @property
    def model_due(self) -> bool:
        """Whether the next ``feed`` may have to wait for the end-of-turn model's answer
        (slow): the loop then makes that call in a worker thread. Must be cheap."""
        ...


class WakeDetector(Protocol):
    """Hears a wake word in 30 ms frames (16 kHz mono int16); pure apart from its model.

    Fed every frame while Hark waits for the wake word, one call at a time. While
    ``gate_open`` is false a call must be cheap (it runs on the engine's loop); while it is
    true the loop makes the call in a worker thread, so the model may take its time.
    """

    @property
    def name(self) -> str:
        """The wake word model's name, for the ``WakeWordDetected`` event."""
        ...

    @property
    def gate_open(self) -> bool:
        """Whether the next ``feed`` runs the model (speech nearby), not just a cheap check."""
        ...

    def feed(self, frame: bytes) -> float | None:
        """Take one frame; return the detection score when the wake word fires, else ``None``."""
        ...

    def reset(self) -> None:
        """Forget the audio heard so far (Hark goes back to waiting for the wake word)."""
        ...


class Transcriber(Protocol):
    """Speech to text."""

    async def transcribe(self, pcm: bytes, sample_rate: int) -> Transcript:
        """Transcribe int16 mono PCM; silence or noise gives an empty ``text``."""
        ...


class ChatModel(Protocol):
    """A streaming chat model with function calling (Ollama's ``/api/chat``)."""

    def stream_chat(
        self, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec]
    ) -> AsyncGenerator[ChatDelta, None]:
        """Stream the reply to ``messages``; raises ``LlmError`` with a code on failure.

        An async generator, so that a caller who stops early can ``aclose()`` it and the
        request ends at once.
        """
        ...

    async def check(self) -> BackendStatus:
        """Is the server reachable and the configured model present?"""
        ...


class Tools(Protocol):
    """The tools the model may call (a registry; later wrapped by the action policy)."""

    def specs(self) -> Sequence[ToolSpec]: ...

    async def call(self, call: ToolCall) -> ToolResult:
        """Run one call; never raises for a tool's own failure (``ok=False`` instead)."""
        ...


class Synthesizer(Protocol):
    """Text to speech, streamed as int16 mono PCM at ``sample_rate``."""

    @property
    def name(self) -> str: ...

    @property
    def sample_rate(self) -> int: ...

    def synthesize(self, text: str) -> AsyncGenerator[bytes, None]:
        """Yield PCM chunks as soon as they are made; raises ``TtsError`` on failure.

        Callers that stop early (barge-in) ``aclose()`` it, which stops the worker at once.
        """
        ...


@runtime_checkable
class StreamingSynthesizer(Synthesizer, Protocol):
    """A voice that can also take a whole reply as text pieces while the model writes them
    (ElevenLabs over its WebSocket, and the fallback chain in front of it). Voices that only
    take sentences (Piper, espeak-ng) need not offer it; a caller checks with ``isinstance``.
    """

    def synthesize_stream(self, pieces: AsyncIterable[str]) -> AsyncGenerator[bytes, None]:
        """Speak the text of ``pieces`` (any cut: tokens, words, sentences) as one reply;
        yield PCM as soon as it is made, before the text has ended. Raises ``TtsError``."""
        ...


class AudioSink(Protocol):
    """Where spoken audio goes: the speaker, or a WAV file for ``hark ask --out``."""

    async def start(self, sample_rate: int) -> None:
        """Prepare to receive PCM at ``sample_rate``; resets ``first_sample_at``."""
        ...

    async def write(self, pcm: bytes) -> None:
        """Queue int16 mono PCM; returns without waiting for it to be heard."""
        ...

    async def drain(self) -> None:
        """Return when everything written has been heard, or at once after ``stop``."""
        ...

    def stop(self) -> None:
        """Barge-in: silence now and drop whatever is queued. Safe from any thread."""
        ...

    @property
    def first_sample_at(self) -> float | None:
        """``time.monotonic()`` when the first sample since ``start`` actually went out."""
        ...


class Confirmer(Protocol):
    """Asks the user about an action the policy holds: the GUI's dialog, the CLI's prompt, or a
    test's script. Never raises for a refusal: it answers ``Decision(approved=False)``."""

    async def confirm(self, proposal: ActionProposal) -> Decision: ...
