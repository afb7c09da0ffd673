"""Garbage collection on Qt's own thread only.

Python collects cycles in whatever thread happens to allocate. When that is a worker thread
(the engine's, a keyring read) and the garbage holds Qt objects, PySide disconnects their
signals there, under Qt's connection lock, and then waits for the GIL, while the main thread,
holding the GIL, waits for that same lock to build a widget: the app freezes for good.
:class:`MainThreadCollector` turns automatic collection off and collects from a timer on the
Qt thread instead, generation by generation as Python itself would.
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QObject, QTimer

INTERVAL_MS = 500


def collect_due() -> int:
    """Collect the oldest generation whose count has passed its threshold; how many objects
    were found unreachable (0 when nothing was due)."""
    counts, thresholds = gc.get_count(), gc.get_threshold()
    for generation in (2, 1, 0):
        if counts[generation] > thresholds[generation]:
            return gc.collect(generation)
    return 0


class MainThreadCollector(QObject):
    """While it runs, only the Qt thread collects garbage (see the module docstring)."""

    def __init__(self, parent: QObject | None = None, interval_ms: int = INTERVAL_MS) -> None:
        super().__init__(parent)
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(collect_due)
        self._was_enabled = gc.isenabled()

    def start(self) -> None:
        self._was_enabled = gc.isenabled()
        gc.disable()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()
        gc.collect()
        if self._was_enabled:
            gc.enable()
