"""Typing to Hark in the Conversation window, with no microphone: the real engine over the fake
Ollama, the real bridge, keys typed into the real field (offscreen)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt

from app.core.events import (
    Event,
    ReplyTextReceived,
    TranscriptReady,
    TurnFinished,
    TurnResult,
    TurnStarted,
    TurnTimings,
)
from app.gui.bridge import Bridge, EngineThread
from app.gui.panes.conversation import ConversationPane
from app.gui.services import EngineServices
from app.settings.load import load_settings
from app.settings.secrets import SecretStore
from tests.gui.drive import publish, type_request
from tests.gui.engine_rig import RealEngine, real_engine

WAIT = 10_000


@pytest.fixture
def rig(
    bridge: Bridge, engine_thread: EngineThread, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[RealEngine]:
    with real_engine(bridge, engine_thread, monkeypatch, tmp_path) as made:
        yield made


@pytest.fixture
def pane(qtbot: Any, bridge: Bridge, rig: RealEngine) -> ConversationPane:
    shown = ConversationPane(bridge, services=rig.services)
    qtbot.addWidget(shown)
    shown.show()
    qtbot.waitExposed(shown)
    return shown


def asked(rig: RealEngine) -> list[str]:
    """The user messages the model got, in order."""
    return [
        m["content"]
        for r in rig.ollama.requests
        if "messages" in r
        for m in r["messages"][-1:]
        if m["role"] == "user"
    ]


def test_a_typed_request_shows_at_once_and_the_reply_streams_in(
    qtbot: Any, pane: ConversationPane, rig: RealEngine
) -> None:
    gate = threading.Event()
    rig.ollama.reply("It is ten past two in the afternoon.", gate=gate, gate_after=2)
    try:
        type_request(qtbot, pane, "What time is it?")
        assert pane.request_field.text() == ""
        qtbot.waitUntil(lambda: bool(pane.turns()) and pane.turns()[0].reply != "", timeout=WAIT)
        [turn] = pane.turns()
        # the model is still writing: the request is there already, the reply in part
        assert turn.transcript == "What time is it?"
        assert turn.caption == "You (typed)"
        assert not turn.finished
        assert "afternoon" not in turn.reply
    finally:
        gate.set()
    with qtbot.waitSignal(pane.turn_finished, timeout=WAIT):
        pass
    assert turn.reply == "It is ten past two in the afternoon."
    assert "total" in turn.timings
    assert asked(rig) == ["What time is it?"]


def test_enter_on_an_empty_field_sends_nothing(
    qtbot: Any, pane: ConversationPane, rig: RealEngine
) -> None:
    sent: list[str] = []
    pane.request_sent.connect(sent.append)
    type_request(qtbot, pane, "   ")
    qtbot.mouseClick(pane.send_button, Qt.MouseButton.LeftButton)
    assert sent == []
    assert pane.turns() == []


def test_up_recalls_earlier_requests_and_down_gives_back_the_draft(
    qtbot: Any, pane: ConversationPane, rig: RealEngine
) -> None:
    for text in ("first request", "second request"):
        rig.ollama.reply("Okay.")
        with qtbot.waitSignal(pane.turn_finished, timeout=WAIT):
            type_request(qtbot, pane, text)
    field = pane.request_field
    qtbot.keyClicks(field, "half-typed")
    keys = []
    for key in (Qt.Key.Key_Up, Qt.Key.Key_Up, Qt.Key.Key_Up, Qt.Key.Key_Down, Qt.Key.Key_Down):
        qtbot.keyClick(field, key)
        keys.append(field.text())
    assert keys == [
        "second request",
        "first request",
        "first request",
        "second request",
        "half-typed",
    ]
    qtbot.keyClick(field, Qt.Key.Key_Up)
    rig.ollama.reply("Again.")
    with qtbot.waitSignal(pane.turn_finished, timeout=WAIT):
        qtbot.keyClick(field, Qt.Key.Key_Return)
    assert asked(rig)[-1] == "second request"


def test_a_request_before_hark_has_started_says_so_and_keeps_the_text(
    qtbot: Any, bridge: Bridge
) -> None:
    settings = load_settings(Path("/nonexistent/config.toml"))
    services = EngineServices(lambda: None, settings, SecretStore())
    pane = ConversationPane(bridge, services=services)
    qtbot.addWidget(pane)
    with qtbot.waitSignal(pane.notice_shown, timeout=WAIT) as shown:
        type_request(qtbot, pane, "remind me to call Bo")
    assert shown.args[0] == (
        "Your request was not sent: Hark is still starting; try again in a moment"
    )
    assert pane.request_field.text() == "remind me to call Bo"  # nothing typed is lost


def test_focus_request_puts_the_cursor_in_the_field(qtbot: Any, pane: ConversationPane) -> None:
    pane.bar.search_field.setFocus()
    qtbot.keyClicks(pane.bar.search_field, "lunch")
    pane.activateWindow()
    pane.focus_request()
    qtbot.waitUntil(pane.request_field.hasFocus, timeout=WAIT)
    assert not pane.searching  # the conversation shows, not the search results


def test_a_misheard_request_can_be_corrected_and_sent_again(
    qtbot: Any, pane: ConversationPane, rig: RealEngine, bridge: Bridge, engine_thread: EngineThread
) -> None:
    heard: list[Event] = [
        TurnStarted(41, "voice"),
        TranscriptReady("what's the whether in Bern", "en"),
        ReplyTextReceived("I can't check the whether."),
        TurnFinished(
            TurnResult(41, "what's the whether in Bern", "I can't check the whether.", (), TT)
        ),
    ]
    with qtbot.waitSignal(pane.turn_finished, timeout=WAIT):
        publish(engine_thread, bridge, heard)
    [misheard] = pane.turns()
    assert misheard.edit_button.isEnabled()
    qtbot.mouseClick(misheard.edit_button, Qt.MouseButton.LeftButton)
    assert misheard.editing
    assert misheard.edit_field.text() == "what's the whether in Bern"
    qtbot.keyClick(misheard.edit_field, Qt.Key.Key_Escape)  # changed its mind: nothing sent
    assert not misheard.editing
    assert misheard.transcript == "what's the whether in Bern"
    assert len(pane.turns()) == 1

    qtbot.mouseClick(misheard.edit_button, Qt.MouseButton.LeftButton)
    misheard.edit_field.selectAll()
    qtbot.keyClicks(misheard.edit_field, "what's the weather in Bern")
    rig.ollama.reply("Sunny, 12 degrees.")
    with qtbot.waitSignal(pane.turn_finished, timeout=WAIT):
        qtbot.keyClick(misheard.edit_field, Qt.Key.Key_Return)
    first, again = pane.turns()
    assert first is misheard
    assert first.transcript == "what's the whether in Bern"  # what was heard stays as it was
    assert again.transcript == "what's the weather in Bern"
    assert again.caption == "You (corrected)"
    assert again.reply == "Sunny, 12 degrees."
    assert asked(rig) == ["what's the weather in Bern"]


TT = TurnTimings(total_ms=800.0)
