"""The Conversation window shows what ran, not what was proposed: a mail the user edited in the
confirmation dialog (other recipients, other subject) and approved is shown as sent, in words.
The real engine, policy, confirmation dialog and Gmail client, over the fake Gmail and Ollama."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt

from app.gui.bridge import Bridge, EngineThread
from app.gui.dialogs.confirm import ConfirmDialog, GuiConfirmer
from app.gui.panes.conversation import ConversationPane
from tests.gui.drive import replace_text, type_request
from tests.gui.engine_rig import RealEngine, real_engine

WAIT = 10_000
PROPOSED = {"to": ["bob@example.org"], "subject": "Lunch", "body": "Noon at the usual place?"}


@pytest.fixture
def confirmer(qtbot: Any) -> Iterator[GuiConfirmer]:
    made = GuiConfirmer(60, arm_ms=0)
    yield made
    made.close_all()


@pytest.fixture
def rig(
    bridge: Bridge,
    engine_thread: EngineThread,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    confirmer: GuiConfirmer,
) -> Iterator[RealEngine]:
    with real_engine(bridge, engine_thread, monkeypatch, tmp_path, confirmer=confirmer) as made:
        yield made


def the_dialog(qtbot: Any, confirmer: GuiConfirmer) -> ConfirmDialog:
    qtbot.waitUntil(lambda: confirmer.current_dialog is not None, timeout=WAIT)
    dialog = confirmer.current_dialog
    assert dialog is not None
    return dialog


def test_an_edited_approved_mail_is_shown_as_it_was_sent(
    qtbot: Any, bridge: Bridge, rig: RealEngine, confirmer: GuiConfirmer
) -> None:
    pane = ConversationPane(bridge, services=rig.services)
    qtbot.addWidget(pane)
    rig.ollama.reply_tool_call("mail_send", PROPOSED)
    rig.ollama.reply("Sent.")
    type_request(qtbot, pane, "mail Bob about lunch")
    dialog = the_dialog(qtbot, confirmer)
    [turn] = pane.turns()
    assert turn.tools() == ["→ Send an email to bob@example.org, subject “Lunch”"]
    replace_text(qtbot, dialog.form.field("to"), "carol@example.org, dan@example.org")
    replace_text(qtbot, dialog.form.field("subject"), "Dinner")
    qtbot.waitUntil(lambda: "dan@example.org" in dialog.summary_label.text(), timeout=WAIT)
    qtbot.waitUntil(dialog.approve_button.isEnabled, timeout=WAIT)
    with qtbot.waitSignal(pane.turn_finished, timeout=WAIT):
        qtbot.mouseClick(dialog.approve_button, Qt.MouseButton.LeftButton)
    assert turn.tools() == [
        "✓ Send an email to carol@example.org, dan@example.org, subject “Dinner” — done"
    ]
    assert turn.reply == "Sent."
    [sent] = rig.google.gmail.sent
    assert sent.addresses("To") == ["carol@example.org", "dan@example.org"]
    assert sent["Subject"] == "Dinner"


def test_a_rejected_mail_is_shown_as_not_sent(
    qtbot: Any, bridge: Bridge, rig: RealEngine, confirmer: GuiConfirmer
) -> None:
    pane = ConversationPane(bridge, services=rig.services)
    qtbot.addWidget(pane)
    rig.ollama.reply_tool_call("mail_send", PROPOSED)
    rig.ollama.reply("I did not send it.")
    type_request(qtbot, pane, "mail Bob about lunch")
    dialog = the_dialog(qtbot, confirmer)
    with qtbot.waitSignal(pane.turn_finished, timeout=WAIT):
        qtbot.mouseClick(dialog.reject_button, Qt.MouseButton.LeftButton)
    [turn] = pane.turns()
    assert turn.tools() == [
        "✗ Send an email to bob@example.org, subject “Lunch” — not done: you did not approve it "
        "(rejected)"
    ]
    assert rig.google.gmail.sent == []
