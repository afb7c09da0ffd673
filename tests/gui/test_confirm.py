"""The confirmation dialog and the GUI's Confirmer, driven by keys and clicks (offscreen), and
end to end under a real action policy on the engine thread with a real audit log."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QLineEdit, QPlainTextEdit, QSpinBox

from app.core.types import Decision
from app.gui.dialogs.confirm import ConfirmDialog, countdown_text
from app.gui.dialogs.preview import PreviewForm
from tests.gui.confirm_rig import Rig, dialog_of, mail_proposal, result_of
from tests.gui.drive import replace_text


def ask(qtbot: Any, drive: Callable[[ConfirmDialog], None], **kwargs: Any) -> Decision:
    """Run the modal dialog; ``drive`` acts on it once it is on screen."""
    proposal = kwargs.pop("proposal", None) or mail_proposal()
    failed: list[BaseException] = []

    def on_shown(dialog: ConfirmDialog) -> None:
        try:
            drive(dialog)
        except BaseException as exc:  # the dialog's hook would only log it: fail the test
            failed.append(exc)
            dialog.dismiss("test failed")

    kwargs.setdefault("timeout_s", 30)
    kwargs.setdefault("arm_ms", 0)
    decision = ConfirmDialog.ask(proposal, on_shown=on_shown, **kwargs)
    if failed:
        raise failed[0]
    return decision


# -- the dialog ------------------------------------------------------------------------------


def test_approve_as_is_shows_what_why_and_gives_no_edits(qtbot: Any) -> None:
    seen: dict[str, str] = {}

    def drive(d: ConfirmDialog) -> None:
        seen["summary"] = d.summary_label.text()
        seen["reasons"] = d.reasons_label.text()
        seen["countdown"] = d.countdown_label.text()
        qtbot.mouseClick(d.approve_button, Qt.MouseButton.LeftButton)

    decision = ask(qtbot, drive)
    assert decision == Decision(approved=True, edits={})
    assert seen["summary"] == "Send an email to bob@x.org: 'Lunch'"
    assert "not someone you have written to before: bob@x.org" in seen["reasons"]
    assert "reaches other people" in seen["reasons"]
    assert seen["countdown"] == "No answer in 0:30 means no."


def test_edits_come_back_only_for_changed_fields_in_their_types(qtbot: Any) -> None:
    def drive(d: ConfirmDialog) -> None:
        assert isinstance(d.form.field("body"), QPlainTextEdit)
        replace_text(qtbot, d.form.field("to"), "bob@x.org,  amy@x.org ,")
        replace_text(qtbot, d.form.field("subject"), "Lunch on Friday")
        qtbot.mouseClick(d.approve_button, Qt.MouseButton.LeftButton)

    decision = ask(qtbot, drive)
    assert decision.approved
    assert decision.edits == {"to": ["bob@x.org", "amy@x.org"], "subject": "Lunch on Friday"}


def test_esc_rejects(qtbot: Any) -> None:
    decision = ask(qtbot, lambda d: qtbot.keyClick(d.form.field("subject"), Qt.Key.Key_Escape))
    assert decision == Decision(approved=False, note="rejected")


def test_enter_in_a_line_approves(qtbot: Any) -> None:
    def drive(d: ConfirmDialog) -> None:
        to = d.form.field("to")
        assert d.focusWidget() is to  # the first line has the focus, with nothing selected
        assert isinstance(to, QLineEdit)
        assert not to.hasSelectedText()
        qtbot.keyClick(d.form.field("subject"), Qt.Key.Key_Return)

    assert ask(qtbot, drive).approved


def test_ctrl_enter_in_a_line_approves_too(qtbot: Any) -> None:
    decision = ask(
        qtbot,
        lambda d: qtbot.keyClick(
            d.form.field("subject"), Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier
        ),
    )
    assert decision == Decision(approved=True, edits={})


def test_enter_in_the_body_adds_a_line_and_ctrl_enter_approves(qtbot: Any) -> None:
    still_open: list[bool] = []

    def drive(d: ConfirmDialog) -> None:
        body = d.form.field("body")
        assert isinstance(body, QPlainTextEdit)
        body.setFocus()
        body.moveCursor(body.textCursor().MoveOperation.End)
        qtbot.keyClick(body, Qt.Key.Key_Return)
        qtbot.keyClicks(body, "Bob")
        still_open.append(d.isVisible() and d.decision is None)
        qtbot.keyClick(body, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)

    decision = ask(qtbot, drive)
    assert still_open == [True]
    assert decision.approved
    assert decision.edits == {"body": "Noon at the usual place?\nBob"}


def test_timeout_rejects(qtbot: Any) -> None:
    decision = ask(qtbot, lambda d: None, timeout_s=0.05)
    assert decision == Decision(approved=False, note="timed out")


def test_approve_is_held_back_just_after_the_dialog_appears(qtbot: Any) -> None:
    dialog = ConfirmDialog(mail_proposal(), timeout_s=30, arm_ms=150)
    qtbot.addWidget(dialog)
    with qtbot.waitExposed(dialog):
        dialog.show()
    qtbot.keyClick(dialog.form.field("subject"), Qt.Key.Key_Return)
    assert dialog.decision is None
    assert not dialog.approve_button.isEnabled()
    qtbot.waitUntil(dialog.approve_button.isEnabled, timeout=5000)
    with qtbot.waitSignal(dialog.decided, timeout=5000) as blocker:
        qtbot.keyClick(dialog.form.field("subject"), Qt.Key.Key_Return)
    assert blocker.args == [Decision(approved=True, edits={})]
    assert not dialog.isVisible()


def test_the_countdown_shows_the_time_left(qtbot: Any) -> None:
    dialog = ConfirmDialog(mail_proposal(), timeout_s=1.5, arm_ms=0)
    qtbot.addWidget(dialog)
    assert dialog.countdown_label.text() == "No answer in 0:02 means no."
    with qtbot.waitSignal(dialog.decided, timeout=5000) as blocker:
        dialog.show()
        qtbot.waitUntil(
            lambda: dialog.countdown_label.text() == "No answer in 0:01 means no.", timeout=5000
        )
    assert blocker.args == [Decision(approved=False, note="timed out")]


def test_a_wrong_address_blocks_approve_and_says_what_to_fix(qtbot: Any) -> None:
    dialog = ConfirmDialog(mail_proposal(), timeout_s=30, arm_ms=0)
    qtbot.addWidget(dialog)
    dialog.show()
    replace_text(qtbot, dialog.form.field("cc"), "amy@x.org, bob")
    assert not dialog.approve_button.isEnabled()
    assert dialog.problems_label.isVisible()
    assert "“bob” is not an email address" in dialog.problems_label.text()
    dialog.accept()  # Enter / Ctrl+Enter end up here: still refused
    assert dialog.decision is None
    replace_text(qtbot, dialog.form.field("cc"), "amy@x.org, Bob <bob@y.org>")
    assert dialog.approve_button.isEnabled()
    assert not dialog.problems_label.isVisible()
    with qtbot.waitSignal(dialog.decided, timeout=5000) as blocker:
        qtbot.mouseClick(dialog.approve_button, Qt.MouseButton.LeftButton)
    assert blocker.args[0].edits == {"cc": ["amy@x.org", "Bob <bob@y.org>"]}


def test_the_shown_hook_gets_the_dialog_and_its_failure_changes_nothing(qtbot: Any) -> None:
    heard: list[str] = []

    def speak(d: ConfirmDialog) -> None:
        heard.append(d.proposal.summary)
        raise RuntimeError("no voice")

    dialog = ConfirmDialog(mail_proposal(), timeout_s=30, arm_ms=0, on_shown=speak)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(lambda: bool(heard), timeout=5000)
    assert heard == ["Send an email to bob@x.org: 'Lunch'"]
    with qtbot.waitSignal(dialog.decided, timeout=5000) as blocker:
        qtbot.keyClick(dialog, Qt.Key.Key_Escape)
    assert blocker.args == [Decision(approved=False, note="rejected")]


def test_the_form_keeps_each_value_type_and_invents_no_edits(qtbot: Any) -> None:
    preview: Mapping[str, Any] = {
        "attendees": ("amy@x.org", "Bob, Jr. <bob@x.org>"),
        "location": None,
        "description": None,
        "minutes": 30,
        "notify": True,
        "extra": {"a": 1},
        "body": "one\r\ntwo",
    }
    form = PreviewForm(preview)
    qtbot.addWidget(form)
    assert form.edits() == {}
    assert isinstance(form.field("minutes"), QSpinBox)
    assert isinstance(form.field("notify"), QCheckBox)
    extra = form.field("extra")
    assert isinstance(extra, QLineEdit)
    assert extra.isReadOnly()
    attendees = form.field("attendees")
    assert isinstance(attendees, QLineEdit)
    attendees.setText(attendees.text() + ", cy@x.org")
    form.field("minutes").setValue(45)  # type: ignore[union-attr]
    form.field("notify").setChecked(False)  # type: ignore[union-attr]
    form.field("location").setText("Room 2")  # type: ignore[union-attr]
    assert form.edits() == {
        "attendees": ["amy@x.org", "Bob, Jr. <bob@x.org>", "cy@x.org"],
        "minutes": 45,
        "notify": False,
        "location": "Room 2",
    }
    assert form.problems() == []  # the given guests stay acceptable as they were
    assert form.values()["description"] is None


def test_countdown_text_rounds_up_to_whole_seconds() -> None:
    assert countdown_text(118.2) == "No answer in 1:59 means no."
    assert countdown_text(0.01) == "No answer in 0:01 means no."
    assert countdown_text(-3) == "No answer in 0:00 means no."


# -- the Confirmer under a real policy on the engine thread -----------------------------------


def test_an_edited_approval_is_what_runs_and_is_audited(qtbot: Any, rig_for: Any) -> None:
    rig: Rig = rig_for()
    with qtbot.waitSignal(rig.confirmer.confirmation_requested, timeout=5000) as asked:
        future = rig.send()
    assert asked.args[0].preview["subject"] == "Lunch"
    dialog = dialog_of(qtbot, rig.confirmer)
    assert dialog.isVisible()
    qtbot.waitUntil(lambda: bool(rig.shown), timeout=5000)
    assert [p.id for p in rig.shown] == [asked.args[0].id]  # the hook to speak the prompt
    assert "not someone you have written to before: bob@x.org" in dialog.reasons_label.text()
    replace_text(qtbot, dialog.form.field("subject"), "Lunch, Friday")
    with qtbot.waitSignal(rig.confirmer.confirmation_finished, timeout=5000):
        qtbot.mouseClick(dialog.approve_button, Qt.MouseButton.LeftButton)
    assert result_of(qtbot, future) == {"id": "m1"}
    assert len(rig.sent.ran) == 1
    assert rig.sent.ran[0]["subject"] == "Lunch, Friday"
    assert rig.sent.ran[0]["to"] == ["bob@x.org"]
    assert rig.decisions()[-1]["edits"] == {"subject": "Lunch, Friday"}
    assert rig.confirmer.current_dialog is None
    assert rig.confirmer.pending == 0


def test_a_rejected_action_never_runs(qtbot: Any, rig_for: Any) -> None:
    rig: Rig = rig_for()
    future = rig.send()
    qtbot.keyClick(dialog_of(qtbot, rig.confirmer), Qt.Key.Key_Escape)
    assert result_of(qtbot, future) == {"not_done": "not done: you did not approve it (rejected)"}
    assert rig.sent.ran == []
    assert rig.decisions()[-1]["approved"] is False


def test_proposals_queue_up_one_dialog_at_a_time(qtbot: Any, rig_for: Any) -> None:
    rig: Rig = rig_for()
    requested: list[str] = []
    finished: list[str] = []
    rig.confirmer.confirmation_requested.connect(lambda p: requested.append(p.preview["subject"]))
    rig.confirmer.confirmation_finished.connect(lambda p: finished.append(p.preview["subject"]))
    first = rig.send(subject="One")
    qtbot.waitUntil(lambda: rig.confirmer.pending == 1, timeout=5000)
    second = rig.send(subject="Two")
    qtbot.waitUntil(lambda: rig.confirmer.pending == 2, timeout=5000)
    dialog = dialog_of(qtbot, rig.confirmer)
    assert dialog.proposal.preview["subject"] == "One"
    qtbot.mouseClick(dialog.approve_button, Qt.MouseButton.LeftButton)
    assert result_of(qtbot, first) == {"id": "m1"}
    qtbot.waitUntil(lambda: rig.confirmer.current_dialog not in (None, dialog), timeout=5000)
    later = dialog_of(qtbot, rig.confirmer)
    assert later.proposal.preview["subject"] == "Two"
    assert rig.confirmer.pending == 1
    qtbot.mouseClick(later.reject_button, Qt.MouseButton.LeftButton)
    assert "not_done" in result_of(qtbot, second)
    assert [a["subject"] for a in rig.sent.ran] == ["One"]
    assert requested == ["One", "Two"]  # the tray counts these: one finish per request
    assert finished == ["One", "Two"]
    assert rig.confirmer.pending == 0


def test_the_dialog_closes_when_the_policy_stops_waiting(qtbot: Any, rig_for: Any) -> None:
    rig: Rig = rig_for(policy_timeout_s=0.3)
    future = rig.send()
    dialog = dialog_of(qtbot, rig.confirmer)
    qtbot.waitUntil(lambda: rig.confirmer.current_dialog is None, timeout=5000)
    assert result_of(qtbot, future) == {
        "not_done": "not done: it needed your approval and no answer came in time"
    }
    assert rig.confirmer.current_dialog is None
    assert dialog.decision == Decision(approved=False, note="cancelled")
    assert rig.sent.ran == []


def test_the_dialogs_own_countdown_answers_no(qtbot: Any, rig_for: Any) -> None:
    rig: Rig = rig_for(dialog_timeout_s=0.2)
    future = rig.send()
    assert "no answer came in time" in result_of(qtbot, future)["not_done"]
    assert rig.decisions()[-1]["note"] == "timed out"
    assert rig.sent.ran == []


def test_closing_the_app_answers_no_to_everything_waiting(qtbot: Any, rig_for: Any) -> None:
    rig: Rig = rig_for()
    futures = [rig.send(subject="One"), rig.send(subject="Two")]
    qtbot.waitUntil(lambda: rig.confirmer.pending == 2, timeout=5000)
    rig.confirmer.close_all()
    for future in futures:
        assert "not_done" in result_of(qtbot, future)
    assert rig.confirmer.pending == 0
    assert rig.sent.ran == []
    assert [d["note"] for d in rig.decisions()] == ["closed", "closed"]
