"""The bridge: engine events arrive on the GUI thread; work runs on the engine's loop."""

from __future__ import annotations

import asyncio
import threading

import pytest

from app.core.events import NoticeRaised
from app.gui.bridge import Bridge, EngineThread


def test_events_from_the_engine_thread_arrive_on_the_gui_thread(
    qtbot, bridge: Bridge, engine_thread: EngineThread
) -> None:
    seen: list[tuple[object, str]] = []
    bridge.event_received.connect(lambda e: seen.append((e, threading.current_thread().name)))
    with qtbot.waitSignal(bridge.event_received, timeout=5000):
        engine_thread.call_soon(bridge.publish, NoticeRaised("x", "hello"))
    assert seen == [(NoticeRaised("x", "hello"), threading.main_thread().name)]


def test_work_runs_on_the_engine_loop_and_answers_on_the_gui_thread(qtbot, bridge: Bridge) -> None:
    answers: list[tuple[str, str]] = []

    async def work() -> str:
        return threading.current_thread().name

    bridge.run(work, lambda name: answers.append((name, threading.current_thread().name)))
    qtbot.waitUntil(lambda: bool(answers), timeout=5000)
    assert answers == [("hark-engine", threading.main_thread().name)]


def test_errors_come_back_to_the_error_callback(qtbot, bridge: Bridge) -> None:
    errors: list[BaseException] = []

    async def broken() -> None:
        raise ValueError("no")

    bridge.run(broken(), lambda _: pytest.fail("no result expected"), errors.append)
    qtbot.waitUntil(lambda: bool(errors), timeout=5000)
    assert isinstance(errors[0], ValueError)


def test_stopping_cancels_what_still_runs() -> None:
    thread = EngineThread().start()
    started = threading.Event()
    cancelled = threading.Event()

    async def forever() -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    thread.submit(forever())
    assert started.wait(5)
    thread.stop()
    assert cancelled.is_set()
    assert not thread.running
