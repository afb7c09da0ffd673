"""Shared fixtures for the voice tests: the fake ElevenLabs server and worker-thread hygiene."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.tts.elevenlabs import ElevenLabsVoice
from tests.fakes.elevenlabs import FakeElevenLabs
from tests.tts.voice_threads import join_voice_threads


@pytest.fixture
def fake_elevenlabs() -> Iterator[FakeElevenLabs]:
    with FakeElevenLabs() as fake:
        yield fake


@pytest.fixture(autouse=True)
def _no_leftover_voice_threads() -> Iterator[None]:
    yield
    join_voice_threads()


@pytest.fixture
def voices() -> Iterator[list[ElevenLabsVoice]]:
    """ElevenLabs voices made by a test; their connections are closed afterwards."""
    made: list[ElevenLabsVoice] = []
    yield made
    for voice in made:
        voice.close()
