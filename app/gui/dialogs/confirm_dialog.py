"""The confirmation dialog: what Hark wants to do, why it needs a yes, and the editable preview.

The dialog says what will happen, why it needs a yes, lets the user edit the preview (what is
approved is what runs) and counts down to a "no" (:mod:`app.gui.dialogs.confirm` shows it for
the engine). Approve is held back for a moment after the dialog appears, so that a
key press meant for another window cannot approve something by accident.

Edits are judged again by the policy itself (``ActionProposal.review``, run on the engine loop):
the heading and the reasons follow what would run now. When the edits bring reasons the first
look did not have (new, unknown recipients), Enter no longer approves: only a click on Approve
does, after the same short hold-back. While edited recipients are being checked, Approve waits.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
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

from app.core.types import ActionProposal, ActionReview, Decision, Risk
from app.gui.dialogs.preview import ADDRESS_KEYS, PreviewForm, is_ctrl_enter

log = logging.getLogger(__name__)

ARM_MS = 600
"""How long Approve stays off after the dialog appears (a stray Enter must not approve)."""
RISK_WORDS = {
    Risk.READ: "it only looks; nothing changes",
    Risk.WRITE: "it changes something in your account",
    Risk.EXTERNAL: "it reaches other people or cannot be undone",
}

REVIEW_DELAY_MS = 250
"""Edits are judged again once typing pauses this long."""
RECHECK_TEXT = (
    "Your changes need a fresh look (see what is new above): Enter no longer approves; "
    "click Approve to go ahead."
)
NO_REVIEW_TEXT = "Hark could not check your changes; look at them closely before approving"

OnShown = Callable[["ConfirmDialog"], None]
Answer = Callable[[ActionReview | None], None]
Reviewer = Callable[[Mapping[str, Any], Answer], None]
"""Asks the policy to judge the edits again; the answer (None: it could not) comes back on
the GUI thread."""


def reasons_text(reasons: tuple[str, ...], risk: Risk, new: tuple[str, ...] = ()) -> str:
    """ "It needs your OK because:" and one line per reason, the new ones marked."""
    why = [f"• {reason}" + (" (new)" if reason in new else "") for reason in reasons]
    why.append(f"• {RISK_WORDS.get(risk, RISK_WORDS[Risk.EXTERNAL])}")
    return "It needs your OK because:\n" + "\n".join(why)


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
        reviewer: Reviewer | None = None,
    ) -> None:
        super().__init__(parent)
        self.proposal = proposal
        self.decision: Decision | None = None
        self.review: ActionReview | None = None
        """The latest judgement of the edits (None before any edit was judged)."""
        self._reviewer = reviewer
        self._review_round = 0
        self._reviewing = False  # edited recipients are being checked: Approve waits
        self._explicit = False  # new reasons: only a click approves
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
        self._review_timer = QTimer(self, singleShot=True, interval=REVIEW_DELAY_MS)
        self._review_timer.timeout.connect(self.on_review_timer_timeout)
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
        text = reasons_text(self.proposal.reasons, self.proposal.risk)
        self.reasons_label = QLabel(text, self)
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
        self.recheck_label = QLabel(RECHECK_TEXT, self)
        self.recheck_label.setObjectName("recheck")
        self.recheck_label.setWordWrap(True)
        self.recheck_label.setStyleSheet("color: #b3261e; font-weight: bold;")
        self.recheck_label.hide()
        layout.addWidget(self.recheck_label)
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
        self.approve_button.clicked.connect(self.on_approve_button_clicked)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    # -- the answer ------------------------------------------------------------------------

    def accept(self) -> None:
        """Approve from the keyboard (Enter, Ctrl+Enter), with the user's edits; ignored
        until armed, while a field is wrong or being checked, and when the edits brought new
        reasons (then only a click on Approve will do)."""
        if self._explicit:
            return
        self._approve()

    def on_approve_button_clicked(self) -> None:
        self._approve()

    def _approve(self) -> None:
        if self.decision is not None or not self._armed or self._reviewing:
            return
        if self.form.problems():
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
        for timer in (self._expiry, self._tick, self._arm, self._review_timer):
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
        if self._reviewer is not None:
            if ADDRESS_KEYS & set(self.form.edits()):
                self._reviewing = True
            self._review_round += 1  # an answer to older edits is stale now
            self._review_timer.start()
        self._refresh()

    def on_review_timer_timeout(self) -> None:
        """Ask the policy to judge the edits as they stand (not while a field is wrong)."""
        if self._reviewer is None or self.decision is not None:
            return
        if self.form.problems():
            self._reviewing = False
            self._refresh()
            return
        self._review_round += 1
        round_ = self._review_round
        self._reviewer(self.form.edits(), lambda review: self._on_reviewed(round_, review))

    def _on_reviewed(self, round_: int, review: ActionReview | None) -> None:
        if self.decision is not None or round_ != self._review_round:
            return
        self._reviewing = False
        original = self.proposal
        if review is None:
            review = ActionReview(
                original.summary, (*original.reasons, NO_REVIEW_TEXT), original.risk
            )
        self.review = review
        new = tuple(r for r in review.reasons if r not in original.reasons)
        self.summary_label.setText(review.summary)
        self.reasons_label.setText(reasons_text(review.reasons, review.risk, new))
        explicit = bool(new)
        if explicit and not self._explicit:  # a click meant for the old question must not count
            self._armed = self._arm.interval() <= 0
            if not self._armed:
                self._arm.start()
        self._explicit = explicit
        self.approve_button.setDefault(not explicit)
        self.approve_button.setAutoDefault(not explicit)
        self.recheck_label.setVisible(explicit)
        self._refresh()

    def _refresh(self) -> None:
        problems = self.form.problems()
        self.problems_label.setText("\n".join(problems))
        self.problems_label.setVisible(bool(problems))
        self.approve_button.setEnabled(self._armed and not problems and not self._reviewing)
        self.approve_button.setToolTip(
            "Checking your changes…"
            if self._reviewing
            else "Click to approve"
            if self._explicit
            else "Enter (Ctrl+Enter while writing the message)"
        )
