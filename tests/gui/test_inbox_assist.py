"""The inbox's Summarize and Draft reply over the real engine and the fakes: they offer the model
only the tools they need (Summarize none, Draft reply mail_draft), the answer streams into the
pane, the conversation names the mail by subject and sender (and keeps none of its text); and
the message list's columns fit."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt

from app.google.mail_messages import MailSummary
from app.gui.bridge import Bridge, EngineThread
from app.gui.dialogs.confirm import GuiConfirmer
from app.gui.history import ConversationHistory
from app.gui.panes.conversation import ConversationPane
from app.gui.panes.inbox import InboxPane
from app.gui.panes.status import PaneState
from tests.gui.engine_rig import RealEngine, real_engine
from tests.gui.scripted_services import ScriptedServices
from tests.support.sqlite import file_bytes

WAIT = 10_000
BODY = "Are you free for lunch on Friday? The quince-tart place. Ann"


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
        made.google.gmail.add_message(subject="Lunch?", body=BODY)
        yield made


def opened_inbox(qtbot: Any, bridge: Bridge, rig: RealEngine) -> InboxPane:
    pane = InboxPane(rig.services, bridge, autoload=False)
    qtbot.addWidget(pane)
    pane.reload()
    qtbot.waitUntil(lambda: pane.state is not PaneState.LOADING, timeout=WAIT)
    with qtbot.waitSignal(pane.preview_loaded, timeout=WAIT):
        pane.select(0)
    return pane


def chats(rig: RealEngine) -> list[dict[str, Any]]:
    return [r for r in rig.ollama.requests if "messages" in r]


def offered(request: dict[str, Any]) -> list[str]:
    return [t["function"]["name"] for t in request.get("tools") or []]


def test_summarize_offers_no_tool_streams_its_answer_and_keeps_no_mail_text(
    qtbot: Any, bridge: Bridge, rig: RealEngine, tmp_path: Path
) -> None:
    history = ConversationHistory(tmp_path / "history.sqlite3")
    conversation = ConversationPane(bridge, services=rig.services, history=history)
    qtbot.addWidget(conversation)
    pane = opened_inbox(qtbot, bridge, rig)
    gate = threading.Event()
    rig.ollama.reply("Ann asks whether you are free for lunch on Friday.", gate=gate, gate_after=3)
    try:
        qtbot.mouseClick(pane.summarize_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: pane.reply_text() not in ("", "Thinking…"), timeout=WAIT)
        partial = pane.reply_text()
        assert "Friday" not in partial  # shown while the model is still writing
        assert not pane.summarize_button.isEnabled()
    finally:
        gate.set()
    with qtbot.waitSignal(pane.reply_received, timeout=WAIT):
        pass
    assert pane.reply_text() == "Ann asks whether you are free for lunch on Friday."
    [asked] = chats(rig)
    assert offered(asked) == []
    assert BODY in asked["messages"][-1]["content"]
    qtbot.waitUntil(lambda: bool(conversation.turns()) and conversation.turns()[0].finished)
    [turn] = conversation.turns()
    assert turn.transcript == "Summarize “Lunch?” from Ann Example"
    assert "id" not in turn.transcript.split()
    history.close()
    assert b"quince-tart" not in file_bytes(tmp_path / "history.sqlite3")
    assert "Summarize “Lunch?” from Ann Example".encode() in file_bytes(
        tmp_path / "history.sqlite3"
    )


def test_draft_reply_may_save_a_draft_but_never_send(
    qtbot: Any, bridge: Bridge, rig: RealEngine, confirmer: GuiConfirmer
) -> None:
    asked_to_confirm: list[object] = []
    confirmer.confirmation_requested.connect(asked_to_confirm.append)
    pane = opened_inbox(qtbot, bridge, rig)
    reply = {"to": ["ann@example.org"], "subject": "Re: Lunch?", "body": "Friday works."}
    rig.ollama.reply_tool_call("mail_send", reply)  # a model that tries anyway
    rig.ollama.reply_tool_call("mail_draft", reply)
    rig.ollama.reply("I saved a draft: Friday works.")
    with qtbot.waitSignal(pane.reply_received, timeout=WAIT):
        qtbot.mouseClick(pane.draft_button, Qt.MouseButton.LeftButton)
    assert pane.reply_text() == "I saved a draft: Friday works."
    assert [offered(r) for r in chats(rig)] == [["mail_draft"]] * 3
    assert asked_to_confirm == []  # no "Send an email" question for a draft
    assert rig.google.gmail.sent == []
    [draft] = rig.google.gmail.drafts
    assert draft["Subject"] == "Re: Lunch?"


def test_long_senders_and_subjects_leave_the_received_column_in_view(
    qtbot: Any, bridge: Bridge
) -> None:
    services = ScriptedServices()
    long = "A very long subject line that goes on and on about the quarterly planning " * 2
    services.mail = [
        MailSummary(
            "m1",
            "t1",
            "Someone With A Remarkably Long Display Name <someone.long@example.org>",
            long,
            datetime(2026, 11, 23, 12, 5, tzinfo=UTC),
            "Snippet text that is also quite long and would push everything to the right",
            True,
        )
    ]
    pane = InboxPane(services, bridge, today=lambda: date(2026, 11, 23), autoload=False)
    qtbot.addWidget(pane)
    pane.resize(760, 520)
    pane.show()
    qtbot.waitExposed(pane)
    with qtbot.waitSignal(pane.loaded, timeout=WAIT):
        pane.reload()
    header = pane.list.header()
    qtbot.waitUntil(lambda: header.sectionSize(3) > 0, timeout=WAIT)
    viewport = pane.list.viewport().width()
    right_edge = header.sectionViewportPosition(3) + header.sectionSize(3)
    assert right_edge <= viewport
    assert header.sectionSize(3) >= pane.list.sizeHintForColumn(3)  # "12:05" not cut
    assert pane.list.headerItem().text(2) == "Preview"
    first = pane.list.topLevelItem(0)
    assert first is not None
    assert first.toolTip(1) == long  # the whole subject, where the column cuts it
