"""Shared fixtures for the voice tests: the fake ElevenLabs server and worker-thread hygiene."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from tests.fakes.elevenlabs import FakeElevenLabs


@pytest.fixture
def fake_elevenlabs() -> Iterator[FakeElevenLabs]:
    with FakeElevenLabs() as fake:
        yield fake


def join_voice_threads(prefix: str = "hark-tts-", timeout: float = 5.0) -> None:
    """Wait for the voices' worker threads to end; fail if one is still running."""
    for thread in threading.enumerate():
        if thread.name.startswith(prefix):
            thread.join(timeout)
            assert not thread.is_alive(), f"{thread.name} is still running"


@pytest.fixture(autouse=True)
def _no_leftover_voice_threads() -> Iterator[None]:
    yield
    join_voice_threads()
