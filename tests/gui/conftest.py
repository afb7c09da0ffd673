"""Shared fixtures for the desktop app's tests: a real engine loop on its own thread and the
bridge to it, as the app has them (Qt runs offscreen; pytest-qt gives ``qtbot``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.gui.bridge import Bridge, EngineThread


@pytest.fixture
def engine_thread() -> Iterator[EngineThread]:
    thread = EngineThread().start()
    try:
        yield thread
    finally:
        thread.stop()


@pytest.fixture
def bridge(qtbot: object, engine_thread: EngineThread) -> Bridge:
    return Bridge(engine_thread)
