"""The one crossing between the engine's asyncio loop and the Qt GUI thread.

The engine runs on its own thread (:class:`EngineThread`, one asyncio loop); the Qt main
thread only draws. Engine → GUI: the engine's ``emit(event)`` is :meth:`Bridge.publish`, which
re-emits the event as the Qt signal ``event_received`` — Qt queues it to the GUI thread.
GUI → engine: :meth:`Bridge.run` schedules a coroutine on the engine loop
(``asyncio.run_coroutine_threadsafe``) and hands its result or error back on the GUI thread.

An answer may arrive after the window that asked was closed: :func:`while_alive` wraps each
callback so it is skipped then. :class:`Relay` carries a stream of values (progress, levels)
from the engine loop to the GUI thread the same way.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import shiboken6
from PySide6.QtCore import QObject, Signal

from app.core.events import Event

log = logging.getLogger(__name__)

OnResult = Callable[[Any], None]
OnError = Callable[[BaseException], None]
T = TypeVar("T")


class EngineThread:
    """An asyncio event loop on a daemon thread named ``hark-engine``."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._main, name="hark-engine", daemon=True)
        self._started = threading.Event()

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(self._started.set)
        self.loop.run_forever()
        # stopped: finish what was cancelled, then close
        pending = asyncio.all_tasks(self.loop)
        for task in pending:
            task.cancel()
        if pending:
            self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        self.loop.close()

    def start(self) -> EngineThread:
        self._thread.start()
        self._started.wait(timeout=10)
        return self

    def submit(self, coro: Coroutine[Any, Any, Any]) -> concurrent.futures.Future[Any]:
        """Run ``coro`` on the engine loop; safe from any thread."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def call_soon(self, callback: Callable[..., Any], *args: Any) -> None:
        """Run a plain callback on the engine loop (e.g. to answer a future); any thread."""
        self.loop.call_soon_threadsafe(callback, *args)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Cancel every task, stop the loop and wait for the thread (idempotent)."""
        if not self._thread.is_alive():
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=timeout_s)
        if self._thread.is_alive():
            log.warning("the engine thread did not stop within %.0f s", timeout_s)


class Bridge(QObject):
    """Engine events as a Qt signal, and coroutines run for the GUI with callbacks on it.

    Create it on the GUI thread. ``publish`` is the ``emit`` the engine is built with.
    """

    event_received = Signal(object)
    """Every engine :class:`~app.core.events.Event`, delivered on the GUI thread."""
    _settled = Signal(object, object, object)

    def __init__(self, engine: EngineThread, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.engine = engine
        self._settled.connect(self._on_settled)

    def publish(self, event: Event) -> None:
        """The engine's emit callback: safe from any thread."""
        self.event_received.emit(event)

    def run(
        self,
        work: Awaitable[Any] | Callable[[], Awaitable[Any]],
        on_result: OnResult | None = None,
        on_error: OnError | None = None,
    ) -> concurrent.futures.Future[Any]:
        """Run ``work`` (a coroutine, or a function making one) on the engine loop; the result
        or the error comes back to ``on_result`` / ``on_error`` on the GUI thread."""

        async def job() -> Any:
            awaitable = work() if callable(work) else work
            return await awaitable

        future = self.engine.submit(job())

        def settled(done: concurrent.futures.Future[Any]) -> None:
            if done.cancelled():
                return
            error = done.exception()
            if error is not None:
                if on_error is None:
                    log.warning("background work failed: %r", error)
                    return
                self._settled.emit(on_error, error, None)
            elif on_result is not None:
                self._settled.emit(on_result, done.result(), None)

        future.add_done_callback(settled)
        return future

    def _on_settled(self, callback: Callable[[Any], None], value: Any, _: object) -> None:
        callback(value)


class Relay(QObject):
    """Carries values from the engine loop to the GUI thread (a queued Qt signal).

    Made a child of the long-lived :class:`Bridge`, not of the page: the engine thread may
    still be emitting when the user closes the window, and it must never emit on an object Qt
    is deleting. Receivers (the page's slots) disconnect themselves when the page goes away.
    """

    carried = Signal(object)


def while_alive(owner: QObject, callback: Callable[[T], None]) -> Callable[[T], None]:
    """``callback``, skipped once ``owner`` is gone: an answer from the engine loop may arrive
    after the user closed the window or pane, and touching a widget Qt has deleted raises."""

    def call(value: T) -> None:
        if shiboken6.isValid(owner):
            callback(value)

    return call
