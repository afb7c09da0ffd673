"""Garbage collection on the Qt thread only (``app.gui.gc_main``)."""

from __future__ import annotations

import gc
import threading
from typing import Any

from app.gui.gc_main import MainThreadCollector, collect_due


class Cycle:
    def __init__(self) -> None:
        self.me: Any = self


def test_the_collector_takes_collection_off_every_thread_and_does_it_on_its_timer(
    qtbot: Any,
) -> None:
    gc.enable()
    collector = MainThreadCollector(interval_ms=20)
    collector.start()
    try:
        assert not gc.isenabled()
        found: list[int] = []
        worker = threading.Thread(target=lambda: [Cycle() for _ in range(5000)])
        worker.start()
        worker.join()  # garbage made on another thread is not collected there
        original = gc.collect

        def watched(generation: int = 2) -> int:
            found.append(generation)
            return original(generation)

        gc.collect = watched  # type: ignore[assignment]
        try:
            qtbot.waitUntil(lambda: bool(found), timeout=3000)
        finally:
            gc.collect = original
    finally:
        collector.stop()
    assert gc.isenabled()


def test_collect_due_collects_only_when_a_generation_is_over_its_threshold() -> None:
    enabled = gc.isenabled()
    gc.disable()
    try:
        gc.collect()
        assert collect_due() == 0  # nothing due right after a full collection
        for _ in range(gc.get_threshold()[0] + 10):
            Cycle()
        assert collect_due() > 0  # the cycles are found
    finally:
        if enabled:
            gc.enable()
