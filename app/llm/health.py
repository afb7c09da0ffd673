"""Watch whether the chat model can be used, and say so when that changes.

Hark starts and keeps running without its LLM (the user may start Ollama later, or pull the
model): :class:`LlmMonitor` checks at start-up, tells the GUI/CLI through
``BackendStatusChanged`` events, and retries in the background until the model answers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from app.core.events import BackendStatusChanged
from app.core.ports import ChatModel, Emit
from app.core.types import BackendStatus

log = logging.getLogger(__name__)

BACKEND = "llm"

Wait = Callable[[float], Awaitable[None]]
"""How the monitor waits between retries: ``asyncio.sleep`` in Hark, a test's own clock in
tests (so no test sleeps)."""


class LlmMonitor:
    """Check the chat model now, retry while it is down, report each change as an event.

    Run :meth:`run` as a task on the engine loop (cancel it to stop). While the model is
    down it rechecks every ``retry_interval_s``. Once up it waits quietly until someone calls
    :meth:`report_failure` (the pipeline, when a turn finds the server gone) and then starts
    retrying again. :meth:`recheck` checks at once (a "Retry" button, ``hark doctor``).
    Events are emitted only when the state changes, so a long outage is one event.
    """

    def __init__(self, chat: ChatModel, emit: Emit, retry_interval_s: float = 30.0) -> None:
        self._chat = chat
        self._emit = emit
        self._retry_interval_s = retry_interval_s
        self._status = BackendStatus(
            False, "llm-unchecked", "the language model is not checked yet"
        )
        self._announced: BackendStatus | None = None
        self._trouble = asyncio.Event()

    @property
    def status(self) -> BackendStatus:
        """The latest known state (``llm-unchecked`` before the first check)."""
        return self._status

    async def recheck(self) -> BackendStatus:
        """Check now, publish the result if it changed, and return it."""
        try:
            status = await self._chat.check()
        except Exception as exc:  # check() should not raise; a monitor must never die of it
            code = getattr(exc, "code", "llm-check-failed")
            status = BackendStatus(False, str(code), f"checking the language model failed: {exc}")
        self._publish(status)
        return status

    def report_failure(self, code: str, message: str) -> None:
        """Mark the model down (a turn just failed to reach it) and resume retrying."""
        self._publish(BackendStatus(False, code, message))
        self._trouble.set()

    async def run(self, wait: Wait = asyncio.sleep) -> None:
        """Check at once, then retry every ``retry_interval_s`` while down; runs until cancelled."""
        await self.recheck()
        while True:
            if self._status.ok:
                self._trouble.clear()
                await self._trouble.wait()
                continue
            await wait(self._retry_interval_s)
            if not self._status.ok:
                await self.recheck()

    def _publish(self, status: BackendStatus) -> None:
        self._status = status
        previous = self._announced
        if previous is not None and (previous.ok, previous.code) == (status.ok, status.code):
            log.debug("LLM still %s: %s", "up" if status.ok else "down", status.code)
            return
        self._announced = status
        if status.ok:
            if previous is not None:
                log.info("LLM available again: %s", status.message)
        else:
            log.warning(
                "LLM unavailable (%s), retrying every %g s: %s",
                status.code,
                self._retry_interval_s,
                status.message,
            )
        self._emit(BackendStatusChanged(BACKEND, status.ok, status.message))
