"""Time that tests control, so no test waits for real time: a clock a test moves by hand, a
clock moved only by the code's own sleeps, and a sleep that records each wait and returns."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable


class ManualClock:
    """A clock (seconds; monotonic or wall time alike) that moves only when a test says so:
    set ``now`` or call :meth:`advance`. Safe to read from a server's threads."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds


class SimClock:
    """A clock that only moves when the code under test sleeps: each :meth:`sleep` is recorded
    in ``waits``, moves ``now`` on and then runs the ``on_sleep`` hooks (a fake service's next
    step, say)."""

    def __init__(self, start: float = 0.0) -> None:
        self.now = start
        self.waits: list[float] = []
        self.on_sleep: list[Callable[[], None]] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds
        for hook in list(self.on_sleep):
            hook()


class Sleeps:
    """An injectable ``sleep`` that records each wait in ``waits`` and returns at once.

    With ``then``, each wait awaits that future or task instead (shielded from the caller's
    cancellation), so a test can hold the code in its wait until it says so.
    """

    def __init__(self, then: asyncio.Future[object] | asyncio.Task[object] | None = None) -> None:
        self.waits: list[float] = []
        self.then = then

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        if self.then is not None:
            await asyncio.shield(self.then)
