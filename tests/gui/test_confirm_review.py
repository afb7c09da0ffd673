"""The confirmation dialog judges the user's edits again: heading and reasons follow the edit,
new unknown recipients bring a new warning and take Enter's approval away (a click is needed);
checked with a scripted reviewer, then under the real policy on the engine thread. And the
event's time shows as a day and a time, not ISO text."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from PySide6.QtCore import QDate, QDateTime, Qt, QTime
from PySide6.QtWidgets import QDateEdit, QDateTimeEdit

from app.core.types import ActionReview, Decision, Risk
from app.gui.dialogs.confirm import ConfirmDialog
from app.gui.dialogs.preview import PreviewForm
from tests.gui.confirm_rig import Rig, dialog_of, mail_proposal, result_of
from tests.gui.drive import replace_text

WAIT = 5000
NEW = ("carol@new.org", "dan@new.org")
UNKNOWN = f"not someone you have written to before: {', '.join(NEW)}"


class ScriptedReviewer:
    """Answers like the policy would, when the test says so."""

    def __init__(self) -> None:
        self.asked: list[dict[str, Any]] = []
        self.answers: list[Any] = []

    def __call__(self, edits: Mapping[str, Any], answer: Any) -> None:
        self.asked.append(dict(edits))
        self.answers.append(answer)

    def answer(self, review: ActionReview | None) -> None:
        self.answers[-1](review)


def shown_dialog(qtbot: Any, reviewer: ScriptedReviewer, **kw: Any) -> ConfirmDialog:
    dialog = ConfirmDialog(mail_proposal(), timeout_s=30, arm_ms=0, reviewer=reviewer, **kw)
    qtbot.addWidget(dialog)
    with qtbot.waitExposed(dialog):
        dialog.show()
    return dialog


def test_new_recipients_change_the_heading_and_reasons_and_need_a_click(qtbot: Any) -> None:
    reviewer = ScriptedReviewer()
    dialog = shown_dialog(qtbot, reviewer)
    replace_text(qtbot, dialog.form.field("to"), ", ".join(NEW))
    assert not dialog.approve_button.isEnabled()  # the new recipients are being checked
    qtbot.keyClick(dialog.form.field("subject"), Qt.Key.Key_Return)
    assert dialog.decision is None
    qtbot.waitUntil(lambda: bool(reviewer.asked), timeout=WAIT)
    assert reviewer.asked[-1] == {"to": list(NEW)}
    reviewer.answer(
        ActionReview(
            "Send an email to carol@new.org, dan@new.org, subject “Lunch”",
            (f"it involves other people: {', '.join(NEW)}", UNKNOWN),
            Risk.EXTERNAL,
        )
    )
    assert dialog.summary_label.text() == (
        "Send an email to carol@new.org, dan@new.org, subject “Lunch”"
    )
    assert f"{UNKNOWN} (new)" in dialog.reasons_label.text()
    assert "bob@x.org" not in dialog.reasons_label.text()
    assert dialog.recheck_label.isVisible()
    assert dialog.approve_button.isEnabled()
    assert not dialog.approve_button.isDefault()
    qtbot.keyClick(dialog.form.field("subject"), Qt.Key.Key_Return)  # Enter: no longer
    qtbot.keyClick(
        dialog.form.field("subject"), Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier
    )
    dialog.accept()
    assert dialog.decision is None
    with qtbot.waitSignal(dialog.decided, timeout=WAIT) as decided:
        qtbot.mouseClick(dialog.approve_button, Qt.MouseButton.LeftButton)
    assert decided.args == [Decision(approved=True, edits={"to": list(NEW)})]


def test_edits_that_bring_nothing_new_keep_enter(qtbot: Any) -> None:
    reviewer = ScriptedReviewer()
    dialog = shown_dialog(qtbot, reviewer)
    replace_text(qtbot, dialog.form.field("subject"), "Lunch on Friday")
    assert dialog.approve_button.isEnabled()  # not a recipient: nothing to wait for
    qtbot.waitUntil(lambda: bool(reviewer.asked), timeout=WAIT)
    proposal = dialog.proposal
    reviewer.answer(
        ActionReview(
            "Send an email to bob@x.org, subject “Lunch on Friday”",
            proposal.reasons,
            proposal.risk,
        )
    )
    assert dialog.summary_label.text().endswith("“Lunch on Friday”")
    assert not dialog.recheck_label.isVisible()
    with qtbot.waitSignal(dialog.decided, timeout=WAIT) as decided:
        qtbot.keyClick(dialog.form.field("subject"), Qt.Key.Key_Return)
    assert decided.args[0].approved


def test_edits_that_cannot_be_checked_say_so_and_need_a_click(qtbot: Any) -> None:
    reviewer = ScriptedReviewer()
    dialog = shown_dialog(qtbot, reviewer)
    replace_text(qtbot, dialog.form.field("cc"), "eve@else.org")
    qtbot.waitUntil(lambda: bool(reviewer.asked), timeout=WAIT)
    reviewer.answer(None)
    assert "could not check your changes" in dialog.reasons_label.text()
    qtbot.keyClick(dialog.form.field("subject"), Qt.Key.Key_Return)
    assert dialog.decision is None


def test_an_answer_to_older_edits_is_ignored(qtbot: Any) -> None:
    reviewer = ScriptedReviewer()
    dialog = shown_dialog(qtbot, reviewer)
    replace_text(qtbot, dialog.form.field("to"), "carol@new.org")
    qtbot.waitUntil(lambda: len(reviewer.asked) == 1, timeout=WAIT)
    stale = reviewer.answers[-1]
    replace_text(qtbot, dialog.form.field("to"), "bob@x.org")
    stale(ActionReview("Send an email to carol@new.org", (UNKNOWN,), Risk.EXTERNAL))
    assert dialog.summary_label.text() == mail_proposal().summary
    assert not dialog.approve_button.isEnabled()  # still waiting for the newer answer


# -- under the real policy -------------------------------------------------------------------


def test_the_real_policy_judges_the_edits_and_what_ran_is_the_edit(
    qtbot: Any,
    rig_for: Any,
) -> None:
    rig: Rig = rig_for()
    future = rig.send()
    dialog = dialog_of(qtbot, rig.confirmer)
    assert dialog.summary_label.text() == "Send an email to bob@x.org: 'Lunch'"
    replace_text(qtbot, dialog.form.field("to"), ", ".join(NEW))
    qtbot.waitUntil(lambda: dialog.review is not None, timeout=WAIT)
    assert dialog.summary_label.text() == "Send an email to carol@new.org, dan@new.org: 'Lunch'"
    assert f"{UNKNOWN} (new)" in dialog.reasons_label.text()
    qtbot.keyClick(dialog.form.field("subject"), Qt.Key.Key_Return)
    assert dialog.decision is None  # Enter does not send to the new people
    qtbot.mouseClick(dialog.approve_button, Qt.MouseButton.LeftButton)
    assert result_of(qtbot, future) == {"id": "m1"}
    assert rig.sent.ran[0]["to"] == list(NEW)
    assert rig.decisions()[-1]["added_recipients"] == list(NEW)


# -- the event's time ------------------------------------------------------------------------


def test_event_times_are_day_and_time_pickers_that_give_back_iso_text(qtbot: Any) -> None:
    form = PreviewForm(
        {
            "title": "Standup",
            "start": "2026-12-01T14:00",
            "end": "2026-12-01T15:00:00+01:00",
            "description": None,
        }
    )
    qtbot.addWidget(form)
    start = form.field("start")
    end = form.field("end")
    assert isinstance(start, QDateTimeEdit)
    assert not isinstance(start, QDateEdit)
    assert start.text() == "Tue 1 Dec 2026, 14:00"
    assert form.edits() == {}  # showing a time invents no edit
    start.setDateTime(QDateTime(QDate(2026, 12, 2), QTime(9, 30)))
    assert isinstance(end, QDateTimeEdit)
    end.setTime(QTime(10, 0))
    assert form.edits() == {"start": "2026-12-02T09:30", "end": "2026-12-01T10:00:00+01:00"}
    whole_day = PreviewForm({"start": "2026-12-03"})
    qtbot.addWidget(whole_day)
    day = whole_day.field("start")
    assert isinstance(day, QDateEdit)
    assert day.text() == "Thu 3 Dec 2026"
    day.setDate(QDate(2026, 12, 4))
    assert whole_day.edits() == {"start": "2026-12-04"}
    unreadable = PreviewForm({"start": "tomorrow at noon"})
    qtbot.addWidget(unreadable)
    assert unreadable.field("start").text() == "tomorrow at noon"  # type: ignore[union-attr]
