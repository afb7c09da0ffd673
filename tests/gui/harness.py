"""Microphones for tests that run the whole desktop app (``HarkApp``), and how to start it.

The fixtures that use these are in ``tests/gui/conftest.py``: ``ollama`` (the fake Ollama and
the environment a test app runs with: real Whisper tiny.en, no voice) and ``start_app``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from app.shared.errors import AudioError
from tests.core.scripted import frames


class GatedMicrophone:
    """A microphone that hears nothing until the test opens the gate, then says one clip."""

    def __init__(self, pcm: bytes) -> None:
        self.frames_said = frames(pcm)
        self.gate = asyncio.Event()
        self.closed = False

    async def frames(self) -> AsyncIterator[bytes]:
        await self.gate.wait()
        for frame in self.frames_said:
            if self.closed:
                return
            yield frame

    async def aclose(self) -> None:
        self.closed = True


class QueuedMicrophone:
    """A microphone the test speaks into: each :meth:`say` (on the engine loop) is heard once;
    in between it yields nothing, so the loop waits without spinning."""

    def __init__(self) -> None:
        self._said: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.closed = False

    def say(self, pcm: bytes) -> None:
        """Engine loop only: ``hark.engine_thread.call_soon(mic.say, pcm)``."""
        self._said.put_nowait(pcm)

    async def frames(self) -> AsyncIterator[bytes]:
        while not self.closed:
            pcm = await self._said.get()
            if pcm is None:
                return
            for frame in frames(pcm):
                yield frame

    async def aclose(self) -> None:
        self.closed = True
        self._said.put_nowait(None)


class MissingMicrophone:
    """What the real microphone does on a computer without one: it fails when opened."""

    closed = False

    async def frames(self) -> AsyncIterator[bytes]:
        raise AudioError(
            "audio-no-input-device",
            "No input device was found. This computer has no input devices that PortAudio "
            "can see. Plug one in, or check that your user may use audio (the `audio` group).",
        )
        yield b""  # pragma: no cover - makes this an async generator

    async def aclose(self) -> None:
        self.closed = True
