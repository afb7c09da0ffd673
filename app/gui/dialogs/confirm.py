"""The confirmation dialog, and the desktop app's :class:`~app.core.ports.Confirmer`.

When the action policy holds a tool call, the engine awaits ``Confirmer.confirm(proposal)`` on
its own loop. :class:`GuiConfirmer` carries the proposal to the GUI thread with a Qt signal,
queues it (one dialog at a time), shows a :class:`ConfirmDialog`, and answers the engine's
future with ``loop.call_soon_threadsafe`` once the user decides. The dialog says what will
happen, why it needs a yes, lets the user edit the preview (what is approved is what runs) and
counts down to a "no". Approve is held back for a moment after the dialog appears, so that a
key press meant for another window cannot approve something by accident.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent, QShowEvent
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.core.types import ActionProposal, Decision, Risk
from app.gui.dialogs.preview import PreviewForm, is_ctrl_enter

log = logging.getLogger(__name__)

ARM_MS = 600
"""How long Approve stays off after the dialog appears (a stray Enter must not approve)."""
RISK_WORDS = {
    Risk.READ: "it only looks; nothing changes",
    Risk.WRITE: "it changes something in your account",
    Risk.EXTERNAL: "it reaches other people or cannot be undone",
}

OnShown = Callable[["ConfirmDialog"], None]


def countdown_text(remaining_s: float) -> str:
    """``No answer in 1:58 means no.``: whole seconds, rounded up."""
    seconds = max(0, math.ceil(remaining_s))
    return f"No answer in {seconds // 60}:{seconds % 60:02d} means no."


class ConfirmDialog(QDialog):
    """Approve or reject one action, with its preview editable; a timeout rejects.

    ``decided`` fires exactly once with the :class:`Decision`; ``ask`` runs it modally.
    Enter approves (Ctrl+Enter inside the multi-line message, where Enter adds a line),
    Esc or closing the window rejects.
    """

    decided = Signal(object)
    """The :class:`~app.core.types.Decision`, once."""

    def __init__(
        self,
        proposal: ActionProposal,
        *,
        timeout_s: float,
        parent: QWidget | None = None,
        on_shown: OnShown | None = None,
        arm_ms: int = ARM_MS,
    ) -> None:
        super().__init__(parent)
        self.proposal = proposal
        self.decision: Decision | None = None
        self._timeout_s = max(0.0, timeout_s)
        self._on_shown = on_shown
        self._deadline: float | None = None
        self._armed = arm_ms <= 0
        self.setWindowTitle("Hark: please confirm")
        self.setWindowFlag(Qt.WindowType.WindowStaysOnTopHint, True)
        self.setAccessibleName("Confirm an action")
        self.setMinimumWidth(460)
        self._build()
        self._expiry = QTimer(self, singleShot=True)
        self._expiry.timeout.connect(self.on_expiry_timeout)
        self._tick = QTimer(self, interval=250)
        self._tick.timeout.connect(self.on_tick_timeout)
        self._arm = QTimer(self, singleShot=True, interval=max(0, arm_ms))
        self._arm.timeout.connect(self.on_arm_timeout)
        self._refresh()

    @classmethod
    def ask(
        cls,
        proposal: ActionProposal,
        *,
        timeout_s: float,
        parent: QWidget | None = None,
        on_shown: OnShown | None = None,
        arm_ms: int = ARM_MS,
    ) -> Decision:
        """Show the dialog modally and return the user's decision (tests drive it through
        ``on_shown``, which gets the dialog once it is on screen)."""
        dialog = cls(proposal, timeout_s=timeout_s, parent=parent, on_shown=on_shown, arm_ms=arm_ms)
        try:
            dialog.exec()
            return dialog.decision or Decision(approved=False, note="rejected")
        finally:
            dialog.deleteLater()

    # -- layout ----------------------------------------------------------------------------

    def _build(self) -> None:
        layout = QVBoxLayout(self)
        intro = QLabel("Hark wants to:", self)
        self.summary_label = QLabel(self.proposal.summary, self)
        self.summary_label.setObjectName("summary")
        self.summary_label.setAccessibleName("What Hark will do")
        self.summary_label.setWordWrap(True)
        self.summary_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        font = self.summary_label.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.15)
        self.summary_label.setFont(font)
        why = [f"• {reason}" for reason in self.proposal.reasons]
        why.append(f"• {RISK_WORDS.get(self.proposal.risk, RISK_WORDS[Risk.EXTERNAL])}")
        self.reasons_label = QLabel("It needs your OK because:\n" + "\n".join(why), self)
        self.reasons_label.setObjectName("reasons")
        self.reasons_label.setAccessibleName("Why it needs your OK")
        self.reasons_label.setWordWrap(True)
        layout.addWidget(intro)
        layout.addWidget(self.summary_label)
        layout.addWidget(self.reasons_label)
        self.form = PreviewForm(self.proposal.preview, self)
        self.form.edited.connect(self.on_form_edited)
        self.form.submitted.connect(self.accept)
        if self.proposal.preview:
            layout.addWidget(QLabel("Check it, and change anything before approving:", self))
            layout.addWidget(self.form, 1)
        else:
            self.form.hide()
        self.problems_label = QLabel(self)
        self.problems_label.setObjectName("problems")
        self.problems_label.setWordWrap(True)
        self.problems_label.setStyleSheet("color: #b3261e;")
        self.problems_label.hide()
        layout.addWidget(self.problems_label)
        self.countdown_label = QLabel(countdown_text(self._timeout_s), self)
        self.countdown_label.setObjectName("countdown")
        self.countdown_label.setAccessibleName("Time left to answer")
        layout.addWidget(self.countdown_label)
        buttons = QDialogButtonBox(self)
        self.approve_button: QPushButton = buttons.addButton(
            "Approve", QDialogButtonBox.ButtonRole.AcceptRole
        )
        self.reject_button: QPushButton = buttons.addButton(
            "Reject", QDialogButtonBox.ButtonRole.RejectRole
        )
        self.approve_button.setAccessibleName("Approve")
        self.approve_button.setToolTip("Enter (Ctrl+Enter while writing the message)")
        self.approve_button.setDefault(True)
        self.reject_button.setAccessibleName("Reject")
        self.reject_button.setToolTip("Esc")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    # -- the answer ------------------------------------------------------------------------

    def accept(self) -> None:
        """Approve, with the user's edits; ignored until armed and while a field is wrong."""
        if self.decision is not None or not self._armed or self.form.problems():
            return
        self._finish(Decision(approved=True, edits=self.form.edits()))

    def reject(self) -> None:
        """Esc, Reject, or the window's close button."""
        self._finish(Decision(approved=False, note="rejected"))

    def dismiss(self, note: str = "cancelled") -> None:
        """Close without the user's answer (the engine stopped waiting, or the app quits)."""
        self._finish(Decision(approved=False, note=note))

    def remaining_s(self) -> float:
        """Seconds until the timeout rejects (the full timeout before the dialog is shown)."""
        if self._deadline is None:
            return self._timeout_s
        return max(0.0, self._deadline - time.monotonic())

    def _finish(self, decision: Decision) -> None:
        if self.decision is not None:
            return
        self.decision = decision
        for timer in (self._expiry, self._tick, self._arm):
            timer.stop()
        log.info("action %s: %s", self.proposal.tool, "approved" if decision.approved else "no")
        self.decided.emit(decision)
        code = QDialog.DialogCode.Accepted if decision.approved else QDialog.DialogCode.Rejected
        self.done(int(code.value))

    # -- slots -----------------------------------------------------------------------------

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if is_ctrl_enter(event):  # from a line, or from the dialog itself
            self.accept()
            return
        super().keyPressEvent(event)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._deadline is not None or self.decision is not None:
            return
        self._deadline = time.monotonic() + self._timeout_s
        self._expiry.start(int(self._timeout_s * 1000))
        self._tick.start()
        if not self._armed:
            self._arm.start()
        first = self._first_line()
        if first is not None:
            first.setFocus()
            QTimer.singleShot(0, self, self._unselect)
        if self._on_shown is not None:
            QTimer.singleShot(0, self, self._call_on_shown)

    def _first_line(self) -> QLineEdit | None:
        lines = [w for k in self.form.names() if isinstance(w := self.form.field(k), QLineEdit)]
        return next((w for w in lines if not w.isReadOnly()), None)

    def _unselect(self) -> None:
        """QDialog selects the focused line's text when shown; a stray key press meant for
        another window must not replace a recipient, so put the cursor at the end instead."""
        first = self._first_line()
        if first is not None and first.selectedText() == first.text():
            first.deselect()
            first.end(False)

    def _call_on_shown(self) -> None:
        if self._on_shown is None or self.decision is not None:
            return
        try:
            self._on_shown(self)
        except Exception:  # speaking the prompt is a nicety; the dialog must stay usable
            log.exception("the on_shown hook of the confirmation dialog failed")

    def on_expiry_timeout(self) -> None:
        self._finish(Decision(approved=False, note="timed out"))

    def on_tick_timeout(self) -> None:
        self.countdown_label.setText(countdown_text(self.remaining_s()))

    def on_arm_timeout(self) -> None:
        self._armed = True
        self._refresh()

    def on_form_edited(self) -> None:
        self._refresh()

    def _refresh(self) -> None:
        problems = self.form.problems()
        self.problems_label.setText("\n".join(problems))
        self.problems_label.setVisible(bool(problems))
        self.approve_button.setEnabled(self._armed and not problems)


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
                item.proposal, timeout_s=remaining, on_shown=self._on_shown, arm_ms=self._arm_ms
            )
            self._current = (item, dialog)
            dialog.decided.connect(self.on_dialog_decided)
            dialog.show()
            dialog.raise_()
            dialog.activateWindow()

    def _drop(self, item: _Pending, decision: Decision) -> None:
        self._answer(item, decision)
        self.confirmation_finished.emit(item.proposal)

    @staticmethod
    def _answer(item: _Pending, decision: Decision) -> None:
        try:
            item.loop.call_soon_threadsafe(_settle, item.future, decision)
        except RuntimeError:  # the engine loop is closed: no one waits any more
            log.info("the engine stopped before the answer to %s arrived", item.proposal.tool)
