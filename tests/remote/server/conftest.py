"""Fixtures for the Hark server tests: a shared Whisper tiny.en engine and FakeOllama."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from remote.server.whisper import WhisperEngine
from tests.fakes.ollama import FakeOllama
from tests.remote.server.harness import MODEL, make_settings


@pytest.fixture
def fake() -> Iterator[FakeOllama]:
    with FakeOllama(models=[MODEL]) as server:
        yield server


@pytest.fixture(scope="session")
def shared_engine(tiny_en_dir: Path) -> WhisperEngine:
    """One loaded tiny.en engine for the tests that only transcribe (it serves any loop)."""
    engine = WhisperEngine(make_settings(tiny_en_dir, "http://127.0.0.1:9"))
    asyncio.run(engine.load())
    return engine
