"""The tray: a turn's events move the icon through its states; the menu asks for things."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QPushButton

from app.core.events import (
    AudioStarted,
    BackendStatusChanged,
    ServerStateChanged,
    SpeechStarted,
    Stage,
    TranscriptReady,
    TurnFailed,
    TurnFinished,
    TurnResult,
    TurnStarted,
    TurnTimings,
)
from app.gui.state import StateTracker, TrayState
from app.gui.tray import TrayController


def result(error: str | None = None) -> TurnResult:
    return TurnResult(1, "hi", "hello", (), TurnTimings(), error_code=error)


def test_a_turn_goes_listening_thinking_speaking_idle() -> None:
    tracker = StateTracker()
    seen = []
    for event in (
        SpeechStarted(0.1),
        TurnStarted(1, "voice"),
        TranscriptReady("what time is it", "en"),
        AudioStarted(200.0),
        TurnFinished(result()),
    ):
        tracker.feed(event)
        seen.append(tracker.state)
    assert seen == [
        TrayState.LISTENING,
        TrayState.THINKING,
        TrayState.THINKING,
        TrayState.SPEAKING,
        TrayState.IDLE,
    ]


def test_a_failed_turn_shows_the_error_until_the_next_turn() -> None:
    tracker = StateTracker()
    tracker.feed(TurnStarted(1, "text"))
    tracker.feed(TurnFailed(1, Stage.LLM, "llm-unreachable", "Ollama did not answer"))
    tracker.feed(TurnFinished(result("llm-unreachable")))
    assert tracker.state is TrayState.ERROR
    assert "Last error: Ollama did not answer" in tracker.tooltip()
    tracker.feed(TurnStarted(2, "text"))
    assert tracker.state is TrayState.THINKING
    assert "Last error" not in tracker.tooltip()


def test_a_backend_down_shows_offline_while_idle_and_a_confirmation_wins() -> None:
    tracker = StateTracker(backend="remote https://203.0.113.7:41234 ($0.31/h)")
    tracker.feed(BackendStatusChanged("llm", False, "Ollama at localhost did not answer"))
    assert tracker.state is TrayState.OFFLINE
    assert "Models: remote https://203.0.113.7:41234 ($0.31/h)" in tracker.tooltip()
    assert "llm: Ollama at localhost did not answer" in tracker.tooltip()
    tracker.confirming = 1
    assert tracker.state is TrayState.CONFIRM
    tracker.confirming = 0
    tracker.feed(BackendStatusChanged("llm", True, "ready"))
    assert tracker.state is TrayState.IDLE


def test_a_starting_server_shows_as_busy_and_a_stopped_one_as_offline() -> None:
    tracker = StateTracker()
    tracker.feed(ServerStateChanged("starting", "Starting your Hark server"))
    assert tracker.state is TrayState.THINKING
    assert "Server: starting" in tracker.tooltip()
    tracker.feed(ServerStateChanged("ready", "ready"))
    assert tracker.state is TrayState.IDLE
    tracker.feed(ServerStateChanged("stopped", "Stopped the idle server"))
    assert tracker.state is TrayState.OFFLINE


def test_the_controller_draws_the_state_and_its_menu_asks(qtbot) -> None:
    tray = TrayController()
    tray.show()
    try:
        tray.on_engine_event(SpeechStarted(0.0))
        assert tray.state is TrayState.LISTENING
        assert tray.icon.toolTip().startswith("Hark — listening")
        asked: list[str] = []
        tray.pane_requested.connect(asked.append)
        tray.remote_action_requested.connect(lambda a: asked.append("remote:" + a))
        texts = {a.text(): a for a in tray.menu.actions()}
        assert {
            "&Talk",
            "T&ype a request…",
            "&Calendar",
            "&Inbox",
            "C&onversation",
            "&Remote server",
            "&Pause listening",
            "&Settings…",
            "C&heck my setup",
            "Run set&up again…",
            "&About Hark",
            "&Quit",
        } <= set(texts)
        texts["&Inbox"].trigger()
        stop = next(a for a in tray.remote_menu.actions() if a.text() == "Stop")
        stop.trigger()
        assert asked == ["inbox", "remote:stop"]
        with qtbot.waitSignal(tray.pause_toggled) as paused:
            texts["&Pause listening"].trigger()
        assert paused.args == [True]
        assert tray.state is TrayState.PAUSED
        assert not tray.actions["talk"].isEnabled()  # paused: Talk says why it cannot work
        assert tray.actions["talk"].toolTip().startswith("Listening is paused")
        with qtbot.waitSignal(tray.talk_toggled):
            tray.on_icon_activated(tray.icon.ActivationReason.Trigger)
    finally:
        tray.hide()


def test_without_a_tray_the_same_controls_are_in_a_window(qtbot) -> None:
    tray = TrayController(force_window=True)
    tray.show()
    try:
        assert tray.window is not None
        qtbot.addWidget(tray.window)
        buttons = {b.text(): b for b in tray.window.findChildren(QPushButton)}
        assert {"Talk", "Calendar", "Inbox", "Settings…", "Quit"} <= set(buttons)
        with qtbot.waitSignal(tray.talk_toggled):
            buttons["Talk"].click()
        tray.on_engine_event(AudioStarted(100.0))
        assert tray.window.status.text().startswith("Hark — speaking")
        notes = [label.text() for label in tray.window.findChildren(QLabel)]
        assert any("shows no tray icons" in text for text in notes)
    finally:
        tray.hide()
