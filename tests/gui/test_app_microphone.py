"""Without a microphone the app says so, once, and offers typing instead of doing nothing."""

from __future__ import annotations

import gc
from collections.abc import Callable

from PySide6.QtWidgets import QApplication, QSystemTrayIcon

from app.gui.app import HarkApp
from app.gui.state import TrayState
from tests.gui.harness import MissingMicrophone


def test_no_microphone_disables_talk_says_why_and_a_click_opens_typing(
    qtbot, start_app: Callable[..., HarkApp]
) -> None:
    hark = start_app(MissingMicrophone())
    qtbot.waitUntil(lambda: hark.tray.tracker.no_microphone is not None, timeout=10_000)
    talk, typing = hark.tray.actions["talk"], hark.tray.actions["type"]
    assert not talk.isEnabled()
    assert talk.toolTip().startswith("No microphone found — type to Hark instead")
    assert typing.isEnabled()
    tip = hark.tray.icon.toolTip()
    assert tip.startswith("Hark — no microphone found: type to Hark instead")
    assert "ready" not in tip.splitlines()[0]
    assert "Talk: click the icon" not in tip  # no promise of voice
    assert hark.tray.state is TrayState.OFFLINE
    assert [title for title, _ in hark.tray.recent] == ["No microphone found"]
    assert "Type a request…" in hark.tray.recent[0][1]

    hark.tray.icon.activated.emit(QSystemTrayIcon.ActivationReason.Trigger)  # a left click
    QApplication.processEvents()
    gc.collect()
    assert hark.window is not None
    assert hark.window.isVisible()
    assert hark.window.tabs.currentWidget() is hark.window.conversation
    assert hark.tray.state is not TrayState.LISTENING
    assert any("No microphone found" in text for text in hark.window.conversation.notices())
    titles = [title for title, _ in hark.tray.recent]
    assert titles.count("No microphone found") == 2  # the failure once, the click once
