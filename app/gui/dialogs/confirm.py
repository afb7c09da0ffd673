"""The desktop app's :class:`~app.core.ports.Confirmer`, and the dialog it shows.

When the action policy holds a tool call, the engine awaits ``Confirmer.confirm(proposal)`` on
its own loop. :class:`GuiConfirmer` carries the proposal to the GUI thread with a Qt signal,
queues it (one dialog at a time), shows a :class:`ConfirmDialog`, and answers the engine's
future with ``loop.call_soon_threadsafe`` once the user decides. When the user edits the
preview, it has the policy judge the edits again on the engine loop (``ActionProposal.review``)
and hands the answer to the dialog.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import shiboken6
from PySide6.QtCore import QObject, Signal

from app.core.types import ActionProposal, ActionReview, Decision
from app.gui.dialogs.confirm_dialog import (
    ARM_MS,
    RISK_WORDS,
    Answer,
    ConfirmDialog,
    OnShown,
    Reviewer,
    countdown_text,
    reasons_text,
)

__all__ = [
    "ARM_MS",
    "RISK_WORDS",
    "ConfirmDialog",
    "GuiConfirmer",
    "OnShown",
    "countdown_text",
    "reasons_text",
]

log = logging.getLogger(__name__)


@dataclass(eq=False)
class _Pending:
    """One proposal the engine waits on, with the future to answer on its loop."""

    proposal: ActionProposal
    future: asyncio.Future[Decision]
    loop: asyncio.AbstractEventLoop
    asked_at: float


def _settle(future: asyncio.Future[Decision], decision: Decision) -> None:
    if not future.done():  # the policy may have stopped waiting meanwhile
        future.set_result(decision)


class GuiConfirmer(QObject):
    """The ``Confirmer`` port for the desktop app: create it on the GUI thread and give it to
    the action policy; ``confirm`` is awaited on the engine loop.

    Proposals queue up and are shown one at a time; each is rejected after ``timeout_s``
    counted from when the engine asked (the policy enforces the same limit). If the engine
    stops waiting, its dialog closes or it leaves the queue. ``confirmation_requested`` and
    ``confirmation_finished`` (both carry the proposal) let the tray show that Hark waits for
    the user; ``pending`` counts what is waiting.
    """

    confirmation_requested = Signal(object)
    confirmation_finished = Signal(object)
    _requested = Signal(object)
    _withdrawn = Signal(object)
    _reviewed = Signal(object, object)

    def __init__(
        self,
        timeout_s: float,
        parent: QObject | None = None,
        *,
        on_shown: OnShown | None = None,
        arm_ms: int = ARM_MS,
    ) -> None:
        super().__init__(parent)
        self.timeout_s = timeout_s
        self._on_shown = on_shown
        self._arm_ms = arm_ms
        self._queue: deque[_Pending] = deque()
        self._current: tuple[_Pending, ConfirmDialog] | None = None
        self._requested.connect(self.on_engine_requested)
        self._withdrawn.connect(self.on_engine_withdrawn)
        self._reviewed.connect(self.on_engine_reviewed)

    @property
    def current_dialog(self) -> ConfirmDialog | None:
        """The dialog on screen now, if any."""
        return self._current[1] if self._current is not None else None

    @property
    def pending(self) -> int:
        """Proposals waiting for the user, the one on screen included."""
        return len(self._queue) + (self._current is not None)

    async def confirm(self, proposal: ActionProposal) -> Decision:
        """Called on the engine loop: ask on the GUI thread and wait for the answer."""
        loop = asyncio.get_running_loop()
        item = _Pending(proposal, loop.create_future(), loop, time.monotonic())
        self._requested.emit(item)  # queued to the GUI thread
        try:
            return await item.future
        except asyncio.CancelledError:
            self._withdrawn.emit(item)
            raise

    def close_all(self, note: str = "closed") -> None:
        """Answer "no" to everything waiting and close the dialog (the app is quitting)."""
        while self._queue:
            self._drop(self._queue.popleft(), Decision(approved=False, note=note))
        if self._current is not None:
            self._current[1].dismiss(note)

    # -- GUI thread --------------------------------------------------------------------------

    def on_engine_requested(self, item: _Pending) -> None:
        if item.future.done():
            return
        self._queue.append(item)
        self.confirmation_requested.emit(item.proposal)
        self._show_next()

    def on_engine_withdrawn(self, item: _Pending) -> None:
        if self._current is not None and self._current[0] is item:
            self._current[1].dismiss("cancelled")
        elif item in self._queue:
            self._queue.remove(item)
            self.confirmation_finished.emit(item.proposal)

    def on_dialog_decided(self, decision: Decision) -> None:
        if self._current is None:
            return
        item, dialog = self._current
        self._current = None
        dialog.deleteLater()
        self._answer(item, decision)
        self.confirmation_finished.emit(item.proposal)
        self._show_next()

    def _show_next(self) -> None:
        while self._current is None and self._queue:
            item = self._queue.popleft()
            remaining = self.timeout_s - (time.monotonic() - item.asked_at)
            if item.future.done() or remaining <= 0:
                self._drop(item, Decision(approved=False, note="timed out"))
                continue
            dialog = ConfirmDialog(
                item.proposal,
                timeout_s=remaining,
                on_shown=self._on_shown,
                arm_ms=self._arm_ms,
                reviewer=self._reviewer_for(item),
            )
            self._current = (item, dialog)
            dialog.decided.connect(self.on_dialog_decided)
            dialog.show()
            dialog.raise_()
            dialog.activateWindow()

    def _reviewer_for(self, item: _Pending) -> Reviewer | None:
        """The dialog's way to have the policy judge edits again, on the engine loop."""
        review = item.proposal.review
        if review is None:
            return None

        def ask(edits: Mapping[str, Any], answer: Answer) -> None:
            async def judged() -> ActionReview:
                return await review(dict(edits))

            coro = judged()
            try:
                future = asyncio.run_coroutine_threadsafe(coro, item.loop)
            except RuntimeError:  # the engine loop is closed
                coro.close()
                answer(None)
                return

            def settled(done: concurrent.futures.Future[ActionReview]) -> None:
                result: ActionReview | None = None
                if done.cancelled() or done.exception() is not None:
                    log.warning("judging the edits of %s failed", item.proposal.tool)
                else:
                    result = done.result()
                self._reviewed.emit(answer, result)  # queued to the GUI thread

            future.add_done_callback(settled)

        return ask

    def on_engine_reviewed(self, answer: Answer, review: ActionReview | None) -> None:
        dialog = self.current_dialog
        if dialog is not None and shiboken6.isValid(dialog):
            answer(review)

    def _drop(self, item: _Pending, decision: Decision) -> None:
        self._answer(item, decision)
        self.confirmation_finished.emit(item.proposal)

    @staticmethod
    def _answer(item: _Pending, decision: Decision) -> None:
        try:
            item.loop.call_soon_threadsafe(_settle, item.future, decision)
        except RuntimeError:  # the engine loop is closed: no one waits any more
            log.info("the engine stopped before the answer to %s arrived", item.proposal.tool)
