"""Every item of the tray menu, used as a user does: the real ``HarkApp`` (offscreen, the fake
Ollama, real Whisper tiny.en), the tray's own actions triggered, the event loop run and the
garbage collected (an unowned window would be gone by then), and each window closed with Esc.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QWidget

from app.gui.app import HarkApp
from app.gui.dialogs.about import WAKE_WORD_NOTE, AboutDialog
from app.gui.dialogs.checkup import CheckupDialog
from app.gui.dialogs.settings import SettingsDialog
from app.gui.main_window import MainWindow
from app.gui.wizards import FirstRunWizard, RemoteWizard


def settle() -> None:
    for _ in range(3):
        QApplication.processEvents()
    gc.collect()
    QApplication.processEvents()


def shown() -> list[QWidget]:
    """Hark's visible top-level windows (the no-tray window aside)."""
    from app.gui.tray import FallbackWindow

    return [
        w
        for w in QApplication.topLevelWidgets()
        if w.isVisible()
        and w.isWindow()
        and not isinstance(w, FallbackWindow)
        and w.windowType() != Qt.WindowType.Popup
    ]


def press_escape(qtbot, window: QWidget) -> None:
    window.activateWindow()
    target = QApplication.focusWidget()
    if target is None or target.window() is not window:
        target = window
    qtbot.keyClick(target, Qt.Key.Key_Escape)
    settle()


WINDOWS = {
    "type": MainWindow,
    "calendar": MainWindow,
    "inbox": MainWindow,
    "conversation": MainWindow,
    "settings": SettingsDialog,
    "checkup": CheckupDialog,
    "setup": FirstRunWizard,
    "about": AboutDialog,
    "remote:deploy": RemoteWizard,
}


@pytest.mark.parametrize("item", list(WINDOWS))
def test_each_menu_item_opens_a_window_that_stays_and_closes_with_esc(
    qtbot, start_app: Callable[..., HarkApp], item: str
) -> None:
    hark = start_app()
    action = hark.tray.actions[item]
    assert action.isEnabled(), action.toolTip()
    action.trigger()
    settle()
    windows = shown()
    assert [type(w) for w in windows] == [WINDOWS[item]], windows
    [window] = windows
    if isinstance(window, CheckupDialog):  # let the checks end before closing
        qtbot.waitUntil(lambda: not window.running, timeout=30_000)
    press_escape(qtbot, window)
    assert shown() == []


def test_a_second_request_raises_the_open_window_instead_of_another(
    qtbot, start_app: Callable[..., HarkApp]
) -> None:
    hark = start_app()
    for item in ("settings", "about", "setup"):
        hark.tray.actions[item].trigger()
        settle()
        hark.tray.actions[item].trigger()
        settle()
    kinds = [type(w) for w in shown()]
    assert sorted(k.__name__ for k in kinds) == ["AboutDialog", "FirstRunWizard", "SettingsDialog"]


def test_type_a_request_opens_the_conversation_with_its_field_focused(
    qtbot, start_app: Callable[..., HarkApp]
) -> None:
    hark = start_app()
    hark.tray.actions["type"].trigger()
    settle()
    assert hark.window is not None
    assert hark.window.tabs.currentWidget() is hark.window.conversation
    qtbot.waitUntil(lambda: hark.window.conversation.request_field.hasFocus(), timeout=5000)
    qtbot.keyClicks(hark.window.conversation.request_field, "what time is it")
    assert hark.window.conversation.request_field.text() == "what time is it"


def test_the_main_window_closes_with_ctrl_w_too(qtbot, start_app: Callable[..., HarkApp]) -> None:
    hark = start_app()
    hark.tray.actions["inbox"].trigger()
    settle()
    assert hark.window is not None
    assert hark.window.isVisible()
    hark.window.activateWindow()
    qtbot.keyClick(hark.window, Qt.Key.Key_W, Qt.KeyboardModifier.ControlModifier)
    settle()
    assert not hark.window.isVisible()


def test_check_my_setup_shows_each_check_with_its_fix(
    qtbot, start_app: Callable[..., HarkApp]
) -> None:
    hark = start_app()
    hark.tray.actions["checkup"].trigger()
    settle()
    [dialog] = [w for w in shown() if isinstance(w, CheckupDialog)]
    qtbot.waitUntil(lambda: not dialog.running, timeout=30_000)
    names = [row.check.name for row in dialog.rows]
    assert {"settings", "language model", "voice", "google", "keyring"} <= set(names)
    llm = next(row for row in dialog.rows if row.check.name == "language model")
    assert llm.check.status == "ok"  # the fake Ollama has the model
    google = next(row for row in dialog.rows if row.check.name == "google")
    assert google.check.status == "warn"  # not connected: the fix and a button say what to do
    assert not google.fix.isHidden()  # the fix is shown in its row
    assert "hark google login" in google.fix.text()
    assert google.button is not None
    with qtbot.waitSignal(dialog.settings_requested) as asked:
        google.button.click()
    assert asked.args == ["Google"]
    settle()
    settings = [w for w in shown() if isinstance(w, SettingsDialog)]
    assert len(settings) == 1
    assert settings[0].nav.currentItem().text() == "Google"
    settings[0].reject()
    dialog.reject()


def test_about_names_the_version_and_the_wake_word_license(
    start_app: Callable[..., HarkApp],
) -> None:
    hark = start_app()
    hark.tray.actions["about"].trigger()
    settle()
    [about] = [w for w in shown() if isinstance(w, AboutDialog)]
    assert "0.1.0" in about.heading.text() or "development" in about.heading.text()
    assert about.wake_word.text() == WAKE_WORD_NOTE
    assert "CC BY-NC-SA 4.0" in WAKE_WORD_NOTE
    assert "MIT" in about.license.text()
    assert "https://" in about.links.text()
    about.reject()


def test_quit_is_prompt_when_nothing_is_running(qtbot, start_app: Callable[..., HarkApp]) -> None:
    hark = start_app()
    hark.tray.actions["settings"].trigger()
    settle()
    started = time.monotonic()
    hark.tray.actions["quit"].trigger()
    took = time.monotonic() - started
    assert not hark.engine_thread.running
    assert shown() == []  # the open Settings went with it
    assert took < 1.5, f"Quit took {took:.2f} s"
