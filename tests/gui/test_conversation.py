"""The conversation window, fed with real engine events published from the engine thread."""

from __future__ import annotations

import json
from typing import Any

import pytest
from PySide6.QtCore import Qt

from app.core.events import (
    BackendStatusChanged,
    Event,
    NoticeRaised,
    ReplyTextReceived,
    SentenceReady,
    Stage,
    ToolCallFinished,
    ToolCallRecord,
    ToolCallStarted,
    TranscriptReady,
    TurnCancelled,
    TurnFailed,
    TurnFinished,
    TurnResult,
    TurnStarted,
    TurnTimings,
)
from app.gui.bridge import Bridge, EngineThread
from app.gui.panes.conversation import ConversationWindow
from app.gui.panes.turn_view import timings_text, tool_outcome_text
from tests.gui.drive import publish

WAIT = 5000
TIMINGS = TurnTimings(
    endpoint_ms=210.4,
    asr_ms=480.0,
    llm_first_token_ms=320.2,
    first_audio_ms=1120.0,
    total_ms=2400.0,
)


@pytest.fixture
def window(qtbot: Any, bridge: Bridge) -> ConversationWindow:
    shown = ConversationWindow(bridge)
    qtbot.addWidget(shown)
    return shown


def test_a_voice_turn_shows_transcript_live_reply_tools_and_timings(
    qtbot: Any, bridge: Bridge, engine_thread: EngineThread, window: ConversationWindow
) -> None:
    assert not window.empty_label.isHidden()
    start: list[Event] = [
        TurnStarted(1, "voice"),
        TranscriptReady("what's on today", "en"),
        ReplyTextReceived("Let me "),
    ]
    with qtbot.waitSignal(window.turn_started, timeout=WAIT):
        publish(engine_thread, bridge, start)
    qtbot.waitUntil(lambda: window.turns()[0].reply == "Let me ", timeout=WAIT)
    [turn] = window.turns()
    assert turn.transcript == "what's on today"
    assert window.empty_label.isHidden()

    result = json.dumps({"count": 1, "events": [{"title": "Dentist"}]})
    rest: list[Event] = [
        ReplyTextReceived("look. "),
        ToolCallStarted("calendar_list_events", {"start": "today"}),
        ToolCallFinished("calendar_list_events", True, result),
        ReplyTextReceived("You have the dentist at ten."),
        SentenceReady("You have the dentist at ten."),
        TurnFinished(
            TurnResult(
                1,
                "what's on today",
                "Let me look. You have the dentist at ten.",
                (ToolCallRecord("calendar_list_events", {"start": "today"}, True, result),),
                TIMINGS,
            )
        ),
    ]
    with qtbot.waitSignal(window.turn_finished, timeout=WAIT) as finished:
        publish(engine_thread, bridge, rest)
    assert finished.args == [1]
    assert window.turns() == [turn]
    assert turn.reply == "Let me look. You have the dentist at ten."
    assert turn.tools() == ["✓ Look at your calendar — done"]
    assert turn.timings == (
        "endpoint 210 ms · ASR 480 ms · first token 320 ms · first audio 1.12 s · total 2.40 s"
    )
    assert not turn.timings_label.isHidden()
    assert turn.ending_label.isHidden()


def test_refused_actions_failures_and_notices_are_shown(
    qtbot: Any, bridge: Bridge, engine_thread: EngineThread, window: ConversationWindow
) -> None:
    refused = json.dumps({"not_done": "you said no"})
    events: list[Event] = [
        TurnStarted(7, "text"),
        ToolCallStarted("mail_send", {"to": ["boss@example.org"]}),
        ToolCallFinished("mail_send", False, refused),
        NoticeRaised("tts-fallback", "The hosted voice failed; using the local voice."),
        TurnFailed(7, Stage.LLM, "llm-unreachable", "Ollama did not answer. Is it running?"),
        TurnFinished(
            TurnResult(
                7,
                "tell my boss",
                "",
                (),
                TurnTimings(total_ms=35.0),
                error_code="llm-unreachable",
                error_message="Ollama did not answer. Is it running?",
            )
        ),
        BackendStatusChanged("llm", False, "Ollama is not running."),
        BackendStatusChanged("llm", True, "ready"),
    ]
    with qtbot.waitSignal(window.turn_finished, timeout=WAIT):
        publish(engine_thread, bridge, events)
    qtbot.waitUntil(lambda: len(window.notices()) == 3, timeout=WAIT)
    [turn] = window.turns()
    assert turn.transcript == "tell my boss"  # filled in from the result
    assert turn.tools() == ["✗ Send an email to boss@example.org — you said no"]
    assert turn.ending == "Failed (llm): Ollama did not answer. Is it running?"
    assert turn.timings == "total 35 ms"
    assert window.notices() == [
        "Note: The hosted voice failed; using the local voice.",
        "Note: llm: Ollama is not running.",
        "Note: llm works again.",
    ]


def test_a_stopped_turn_says_so(
    qtbot: Any, bridge: Bridge, engine_thread: EngineThread, window: ConversationWindow
) -> None:
    events: list[Event] = [
        TurnStarted(3, "voice"),
        TranscriptReady("tell me a long story", "en"),
        ReplyTextReceived("Once upon"),
        TurnCancelled(3, "you spoke"),
        TurnFinished(TurnResult(3, "", "", (), TurnTimings(), cancelled=True)),
    ]
    with qtbot.waitSignal(window.turn_finished, timeout=WAIT):
        publish(engine_thread, bridge, events)
    [turn] = window.turns()
    assert turn.ending == "Stopped: you spoke."
    assert turn.reply == "Once upon"
    assert turn.timings_label.isHidden()  # no stage ran to completion


def test_only_the_latest_turns_are_kept_and_clear_empties(
    qtbot: Any, bridge: Bridge, engine_thread: EngineThread
) -> None:
    window = ConversationWindow(bridge, max_entries=3)
    qtbot.addWidget(window)
    events: list[Event] = []
    for turn_id in range(1, 6):
        events += [
            TurnStarted(turn_id, "text"),
            ReplyTextReceived(f"answer {turn_id}"),
            TurnFinished(TurnResult(turn_id, f"q{turn_id}", f"answer {turn_id}", (), TIMINGS)),
        ]
    with qtbot.waitSignal(
        window.turn_finished, timeout=WAIT, check_params_cb=lambda turn_id: turn_id == 5
    ):
        publish(engine_thread, bridge, events)
    assert [t.turn_id for t in window.turns()] == [3, 4, 5]
    assert [t.reply for t in window.turns()] == ["answer 3", "answer 4", "answer 5"]
    qtbot.mouseClick(window.clear_button, Qt.MouseButton.LeftButton)
    assert len(window.turns()) == 3  # it asks first
    qtbot.mouseClick(window.bar.delete_button, Qt.MouseButton.LeftButton)
    assert window.turns() == []
    assert not window.empty_label.isHidden()


def test_a_turn_joined_halfway_still_gets_its_result(
    qtbot: Any, bridge: Bridge, engine_thread: EngineThread, window: ConversationWindow
) -> None:
    events: list[Event] = [
        ReplyTextReceived("…and that is all."),
        TurnFinished(TurnResult(9, "anything else?", "…and that is all.", (), TIMINGS)),
    ]
    with qtbot.waitSignal(window.turn_finished, timeout=WAIT):
        publish(engine_thread, bridge, events)
    [turn] = window.turns()
    assert turn.transcript == "anything else?"
    assert turn.reply == "…and that is all."
    assert turn.timings.endswith("total 2.40 s")


def test_texts_for_timings_and_tool_outcomes() -> None:
    assert timings_text(TurnTimings()) == ""
    assert timings_text(TurnTimings(endpoint_ms=0.4)) == "endpoint 0 ms"
    assert timings_text(TurnTimings(asr_ms=999.6, total_ms=1000.0)) == "ASR 1.00 s · total 1.00 s"
    assert tool_outcome_text(True, "{}") == "done"
    assert tool_outcome_text(False, json.dumps({"error": "no such event"})) == "no such event"
    assert tool_outcome_text(False, "plain failure") == "plain failure"
    assert tool_outcome_text(False, "") == "failed"
