"""The desktop app end to end, offscreen: the tray shows at once, the engine assembles behind
it, a push-to-talk turn runs through real Whisper and the fake Ollama, and the tray and the
conversation follow it."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.core.events import Event, TurnFinished
from app.gui.app import HarkApp
from app.gui.launch import NO_DISPLAY, no_display_reason
from app.gui.state import TrayState
from app.settings.load import load_settings
from tests.fakes.ollama import FakeOllama
from tests.gui.harness import GatedMicrophone
from tests.support.speech import speech_clip, words


@pytest.mark.slow
def test_a_push_to_talk_turn_through_the_tray(qtbot, ollama: FakeOllama) -> None:
    clip = speech_clip("What time is it?", lead_silence_s=0.3, trail_silence_s=1.2)
    mic = GatedMicrophone(clip.pcm)
    settings = load_settings(Path("/nonexistent/config.toml"))
    hark = HarkApp(settings, microphone=lambda _s: mic, force_window=True)
    events: list[Event] = []
    states: list[TrayState] = []
    hark.start()
    try:
        assert hark.tray.window is not None  # shown before the engine is assembled
        assert hark.tray.window.isVisible()
        assert "Talk: click the icon" in hark.tray.tracker.tooltip()
        with qtbot.waitSignal(hark.engine_ready, timeout=60_000):
            pass
        assert hark.bridge is not None
        hark.bridge.event_received.connect(events.append)
        hark.bridge.event_received.connect(lambda _e: states.append(hark.tray.state))
        ollama.reply("It is noon.")

        hark.on_tray_talk_toggled()  # a left click: push-to-talk starts
        hark.engine_thread.call_soon(mic.gate.set)  # after the arm on the same loop
        qtbot.waitUntil(lambda: any(isinstance(e, TurnFinished) for e in events), timeout=60_000)

        [finished] = [e for e in events if isinstance(e, TurnFinished)]
        assert {"what", "time"} <= set(words(finished.result.transcript))
        assert finished.result.reply == "It is noon."
        assert TrayState.LISTENING in states
        assert TrayState.THINKING in states
        assert hark.tray.state is TrayState.IDLE
        assert ollama.requests[-1]["messages"][-1]["content"] == finished.result.transcript
        assert hark.window is not None  # made hidden at start: it recorded the turn
        [turn] = hark.window.conversation.turns()
        assert turn.reply == "It is noon."
    finally:
        hark.shutdown()
    assert not hark.engine_thread.running


def test_without_a_display_hark_says_what_to_use_instead() -> None:
    assert no_display_reason({}) == NO_DISPLAY
    assert "hark listen" in NO_DISPLAY
    assert no_display_reason({"DISPLAY": ":0"}) is None
    assert no_display_reason({"WAYLAND_DISPLAY": "wayland-0"}) is None
    assert no_display_reason({"QT_QPA_PLATFORM": "offscreen"}) is None
