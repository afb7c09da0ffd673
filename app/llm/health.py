"""Watch whether the chat model can be used, and say so when that changes.

Hark starts and keeps running without its LLM (the user may start Ollama later, or pull the
model): :class:`LlmMonitor` checks at start-up, tells the GUI/CLI through
``BackendStatusChanged`` events, and retries in the background until the model answers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from app.core.events import BackendStatusChanged, Event, Stage, TurnFailed
from app.core.ports import ChatModel, Emit
from app.core.types import BackendStatus
from app.shared.errors import LlmCode

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

    ``watch_s`` also rechecks every ``watch_s`` while the model is up, so a server that dies
    while nobody talks shows as down within that time. Leave it None for a rented or shared
    server: a check counts as use there and would keep an idle server from stopping.
    """

    def __init__(
        self,
        chat: ChatModel,
        emit: Emit,
        retry_interval_s: float = 30.0,
        *,
        watch_s: float | None = None,
    ) -> None:
        self._chat = chat
        self._emit = emit
        self._retry_interval_s = retry_interval_s
        self._watch_s = watch_s
        self._status = BackendStatus(
            False, LlmCode.UNCHECKED, "the language model is not checked yet"
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
            code = getattr(exc, "code", LlmCode.CHECK_FAILED)
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
                if self._watch_s is None:
                    await self._trouble.wait()
                    continue
                await self._watch(wait, self._watch_s)
                if not self._trouble.is_set():
                    await self.recheck()
                continue
            await wait(self._retry_interval_s)
            if not self._status.ok:
                await self.recheck()

    async def _watch(self, wait: Wait, seconds: float) -> None:
        """Until ``seconds`` have passed or a turn reports trouble, whichever comes first."""
        timer = asyncio.ensure_future(wait(seconds))
        trouble = asyncio.ensure_future(self._trouble.wait())
        try:
            await asyncio.wait({timer, trouble}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (timer, trouble):
                task.cancel()
            await asyncio.gather(timer, trouble, return_exceptions=True)

    def _publish(self, status: BackendStatus) -> None:
        self._status = status
        previous = self._announced
        if previous is not None and (previous.ok, previous.code) == (status.ok, status.code):
            log.debug("LLM still %s: %s", "up" if status.ok else "down", status.code)
            return
        self._announced = status
        if status.ok:
            log.info(
                "LLM %s: %s", "ready" if previous is None else "available again", status.message
            )
        else:
            log.warning(
                "LLM unavailable (%s), retrying every %g s: %s",
                status.code,
                self._retry_interval_s,
                status.message,
            )
        self._emit(BackendStatusChanged(BACKEND, status.ok, status.message))


NOT_HEALTH = frozenset({LlmCode.BAD_TOOL_CALL})
"""LLM failures that say nothing about whether the model answers."""


class TurnHealthRelay:
    """An engine ``emit`` that passes every event on and tells the monitor when a turn could
    not reach the model, so the model shows as down (and, once it answers, up) within
    seconds rather than at the next turn. Set :attr:`monitor` once it is made (the monitor
    needs the engine's chat model, the engine needs this emit)."""

    def __init__(self, emit: Emit) -> None:
        self._emit = emit
        self.monitor: LlmMonitor | None = None

    def __call__(self, event: Event) -> None:
        self._emit(event)
        monitor = self.monitor
        if (
            monitor is not None
            and isinstance(event, TurnFailed)
            and event.stage is Stage.LLM
            and event.code not in NOT_HEALTH
        ):
            monitor.report_failure(event.code, event.message)
