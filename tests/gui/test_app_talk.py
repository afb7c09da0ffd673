"""Talking to the desktop app as a user does: clicks on the tray icon, the hotkey, Pause.

The real ``HarkApp`` runs offscreen with real Whisper tiny.en and the fake Ollama; the clicks
go through the tray's own icon signal and menu actions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from PySide6.QtWidgets import QSystemTrayIcon

from app.core.events import Event, TurnFinished
from app.gui.app import HarkApp
from app.gui.state import TrayState
from tests.fakes.ollama import FakeOllama
from tests.gui.harness import QueuedMicrophone
from tests.support.speech import speech_clip, words

CLICK = QSystemTrayIcon.ActivationReason.Trigger


def collect(hark: HarkApp) -> list[Event]:
    seen: list[Event] = []
    assert hark.bridge is not None
    hark.bridge.event_received.connect(seen.append)
    return seen


@pytest.mark.slow
def test_three_turns_in_a_row_each_start_listening_on_a_left_click(
    qtbot, start_app: Callable[..., HarkApp], ollama: FakeOllama
) -> None:
    mic = QueuedMicrophone()
    hark = start_app(mic)
    events = collect(hark)
    requests = ("What time is it?", "What is the weather?", "Tell me a joke.")
    for n, said in enumerate(requests, start=1):
        ollama.reply(f"Answer {n}.")
        hark.tray.icon.activated.emit(CLICK)  # a left click on the icon
        assert hark.tray.state is TrayState.LISTENING  # at once, before any speech
        assert hark.tray.icon.toolTip().startswith("Hark — listening")
        clip = speech_clip(said, lead_silence_s=0.3, trail_silence_s=1.2)
        hark.engine_thread.call_soon(mic.say, clip.pcm)
        qtbot.waitUntil(
            lambda n=n: len([e for e in events if isinstance(e, TurnFinished)]) == n,
            timeout=60_000,
        )
        assert hark.tray.state is TrayState.IDLE
    finished = [e.result for e in events if isinstance(e, TurnFinished)]
    assert [r.reply for r in finished] == ["Answer 1.", "Answer 2.", "Answer 3."]
    assert "time" in words(finished[0].transcript)
    assert "weather" in words(finished[1].transcript)
    assert "joke" in words(finished[2].transcript)


def test_a_second_click_while_listening_ends_the_request(
    qtbot, start_app: Callable[..., HarkApp]
) -> None:
    hark = start_app()
    hark.tray.icon.activated.emit(CLICK)
    assert hark.tray.state is TrayState.LISTENING
    assert hark.listen is not None
    qtbot.waitUntil(lambda: hark.listen is not None and hark.listen.armed, timeout=5000)
    hark.tray.icon.activated.emit(CLICK)  # nothing said: the click ends listening
    assert hark.tray.state is not TrayState.LISTENING
    qtbot.waitUntil(lambda: hark.listen is not None and not hark.listen.armed, timeout=5000)
    hark.tray.icon.activated.emit(CLICK)  # and the next click listens again
    assert hark.tray.state is TrayState.LISTENING
    qtbot.waitUntil(lambda: hark.listen is not None and hark.listen.armed, timeout=5000)


def test_the_hotkey_shows_listening_the_moment_it_is_pressed(
    qtbot, start_app: Callable[..., HarkApp]
) -> None:
    hark = start_app()
    changes: list[bool] = []
    hark.tray.listening_changed.connect(changes.append)
    hark.hotkey.talk_started.emit()  # the chord went down
    assert hark.tray.state is TrayState.LISTENING
    qtbot.waitUntil(lambda: hark.listen is not None and hark.listen.armed, timeout=5000)
    hark.hotkey.talk_stopped.emit()  # released with nothing said
    assert hark.tray.state is TrayState.IDLE
    assert changes == [True, False]


def test_while_paused_talk_is_disabled_and_a_click_says_why(
    qtbot, start_app: Callable[..., HarkApp]
) -> None:
    hark = start_app()
    talk = hark.tray.actions["talk"]
    assert talk.isEnabled()
    hark.tray.actions["pause"].trigger()
    assert hark.tray.state is TrayState.PAUSED
    assert not talk.isEnabled()
    assert talk.toolTip().startswith("Listening is paused")
    hark.tray.icon.activated.emit(CLICK)
    assert hark.tray.state is TrayState.PAUSED  # not listening
    assert hark.tray.recent[-1][1].startswith("Listening is paused")
    button = _button(hark, "Talk")
    assert not button.isEnabled()  # the no-tray window's button follows the action
    assert button.toolTip().startswith("Listening is paused")
    hark.tray.actions["pause"].trigger()
    assert talk.isEnabled()
    hark.tray.icon.activated.emit(CLICK)
    assert hark.tray.state is TrayState.LISTENING


def _button(hark: HarkApp, text: str) -> Any:
    from PySide6.QtWidgets import QPushButton

    assert hark.tray.window is not None
    [button] = [b for b in hark.tray.window.findChildren(QPushButton) if b.text() == text]
    return button
