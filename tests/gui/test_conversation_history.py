"""The Conversation window's history on a real SQLite file: turns kept across a restart (and
recalled with Up), searched from the field, and deleted for good by Clear history."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt

from app.core.events import (
    Event,
    ReplyTextReceived,
    ToolCallFinished,
    ToolCallStarted,
    TranscriptReady,
    TurnFinished,
    TurnResult,
    TurnStarted,
    TurnTimings,
)
from app.gui.bridge import Bridge, EngineThread
from app.gui.history import ConversationHistory
from app.gui.panes.conversation import ConversationPane
from tests.gui.drive import publish
from tests.support.sqlite import file_bytes

WAIT = 5000
TT = TurnTimings(asr_ms=480.0, total_ms=1500.0)
SECRET = "okapi-marmalade-5521"


def voice_turn(turn_id: int, heard: str, reply: str, *tools: Event) -> list[Event]:
    return [
        TurnStarted(turn_id, "voice"),
        TranscriptReady(heard, "en"),
        *tools,
        ReplyTextReceived(reply),
        TurnFinished(TurnResult(turn_id, heard, reply, (), TT)),
    ]


def run_turns(
    qtbot: Any,
    pane: ConversationPane,
    bridge: Bridge,
    engine: EngineThread,
    events: Sequence[Event],
) -> None:
    last = [e for e in events if isinstance(e, TurnFinished)][-1].result.turn_id
    with qtbot.waitSignal(
        pane.turn_finished, timeout=WAIT, check_params_cb=lambda turn_id: turn_id == last
    ):
        publish(engine, bridge, events)


def open_pane(qtbot: Any, bridge: Bridge, path: Path, **kw: Any) -> ConversationPane:
    pane = ConversationPane(bridge, history=ConversationHistory(path), **kw)
    qtbot.addWidget(pane)
    return pane


def test_the_conversation_is_there_again_after_a_restart(
    qtbot: Any, bridge: Bridge, engine_thread: EngineThread, tmp_path: Path
) -> None:
    path = tmp_path / "history.sqlite3"
    pane = open_pane(qtbot, bridge, path)
    sent = json.dumps({"sent": True})
    events = voice_turn(
        1,
        "mail Ann that I'm late",
        "Done, Ann knows.",
        ToolCallStarted("mail_send", {"to": ["ann@example.org"], "subject": "Late"}),
        ToolCallFinished("mail_send", True, sent, {"to": ["ann@example.org"], "subject": "Late"}),
    ) + voice_turn(2, "thanks", "You're welcome.")
    run_turns(qtbot, pane, bridge, engine_thread, events)
    assert pane.history is not None
    pane.history.close()
    pane.close()

    again = open_pane(qtbot, bridge, path)  # Hark started again
    first, second = again.turns()
    assert first.transcript == "mail Ann that I'm late"
    assert first.reply == "Done, Ann knows."
    assert first.tools() == ["✓ Send an email to ann@example.org, subject “Late” — done"]
    assert first.timings == "ASR 480 ms · total 1.50 s"
    assert first.finished
    assert second.transcript == "thanks"
    assert again.empty_label.isHidden()
    field = again.request_field
    qtbot.keyClick(field, Qt.Key.Key_Up)
    assert field.text() == "thanks"  # Up recalls requests of the earlier session too
    qtbot.keyClick(field, Qt.Key.Key_Up)
    assert field.text() == "mail Ann that I'm late"
    assert again.history is not None
    again.history.close()


def test_search_finds_turns_no_longer_on_screen_and_esc_goes_back(
    qtbot: Any, bridge: Bridge, engine_thread: EngineThread, tmp_path: Path
) -> None:
    pane = open_pane(qtbot, bridge, tmp_path / "history.sqlite3", max_entries=2)
    events = (
        voice_turn(1, "when is the dentist", "Thursday at ten.")
        + voice_turn(2, "weather tomorrow", "Rain.")
        + voice_turn(3, "and on Friday", "Sun.")
    )
    run_turns(qtbot, pane, bridge, engine_thread, events)
    assert [t.transcript for t in pane.turns()] == ["weather tomorrow", "and on Friday"]
    field = pane.bar.search_field
    field.setFocus()
    with qtbot.waitSignal(pane.searched, timeout=WAIT) as found:
        qtbot.keyClicks(field, "DENTIST")
    assert found.args == [1]
    assert pane.searching
    [hit] = pane.result_turns()
    assert (hit.transcript, hit.reply) == ("when is the dentist", "Thursday at ten.")
    assert pane.results_label.text() == "1 turn match “DENTIST”."
    with qtbot.waitSignal(pane.searched, timeout=WAIT) as none:
        field.setText("giraffe")
    assert none.args == [0]
    assert pane.results_label.text() == "Nothing in the conversation matches “giraffe”."
    qtbot.keyClick(field, Qt.Key.Key_Escape)
    assert field.text() == ""
    assert not pane.searching
    assert pane.history is not None
    pane.history.close()


def test_clear_history_asks_then_deletes_it_from_screen_and_disk(
    qtbot: Any, bridge: Bridge, engine_thread: EngineThread, tmp_path: Path
) -> None:
    path = tmp_path / "history.sqlite3"
    pane = open_pane(qtbot, bridge, path)
    events: list[Event] = []
    for n in range(1, 6):
        events += voice_turn(n, f"note {SECRET} number {n}", f"Noted {SECRET}.")
    run_turns(qtbot, pane, bridge, engine_thread, events)
    assert SECRET.encode() in file_bytes(path)
    qtbot.mouseClick(pane.clear_button, Qt.MouseButton.LeftButton)
    assert not pane.bar.ask_row.isHidden()
    qtbot.mouseClick(pane.bar.keep_button, Qt.MouseButton.LeftButton)  # not yet
    assert len(pane.turns()) == 5
    assert pane.bar.ask_row.isHidden()
    qtbot.mouseClick(pane.clear_button, Qt.MouseButton.LeftButton)
    with qtbot.waitSignal(pane.history_cleared, timeout=WAIT):
        qtbot.mouseClick(pane.bar.delete_button, Qt.MouseButton.LeftButton)
    assert pane.turns() == []
    assert not pane.empty_label.isHidden()
    assert SECRET.encode() not in file_bytes(path)  # gone from the file, not only the rows
    qtbot.keyClick(pane.request_field, Qt.Key.Key_Up)
    assert pane.request_field.text() == ""  # nothing left to recall either
    assert pane.history is not None
    pane.history.close()
    fresh = open_pane(qtbot, bridge, path)
    assert fresh.turns() == []
    assert fresh.history is not None
    fresh.history.close()


def test_nothing_heard_is_not_kept(
    qtbot: Any, bridge: Bridge, engine_thread: EngineThread, tmp_path: Path
) -> None:
    pane = open_pane(qtbot, bridge, tmp_path / "history.sqlite3")
    run_turns(qtbot, pane, bridge, engine_thread, voice_turn(1, "", ""))
    assert pane.turns()[0].transcript == "(nothing heard)"
    assert pane.history is not None
    assert pane.history.count() == 0
    pane.history.close()
