"""The tray icon and its menu — or, on a desktop without a tray, a small window with the same
controls.

:class:`TrayController` only shows and asks: it draws the state (:class:`~app.gui.state.
StateTracker`) as an icon and a tooltip, turns clicks into signals, and shows desktop
notifications. The app (``app/gui/app.py``) connects the signals to the engine.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction, QIcon
from PySide6.QtWidgets import (
    QLabel,
    QMenu,
    QPushButton,
    QSystemTrayIcon,
    QVBoxLayout,
    QWidget,
)

from app.core.events import Event
from app.gui.state import StateTracker, TrayState
from app.resources import resource_path

log = logging.getLogger(__name__)

PANES = ("calendar", "inbox", "conversation")
REMOTE_ACTIONS = ("status", "start", "stop", "destroy", "deploy")
NO_TRAY = (
    "Your desktop shows no tray icons (on GNOME, install the 'AppIndicator and KStatusNotifier"
    "Item Support' extension). Hark runs in this small window instead."
)


def state_icon(state: TrayState) -> QIcon:
    return QIcon(str(resource_path("icons", f"{state.value}.svg")))


class FallbackWindow(QWidget):
    """The tray's controls in a small window, for desktops without a system tray."""

    def __init__(self, menu: QMenu) -> None:
        super().__init__()
        self.setWindowTitle("Hark")
        layout = QVBoxLayout(self)
        self.status = QLabel("Hark — starting")
        self.status.setWordWrap(True)
        note = QLabel(NO_TRAY)
        note.setWordWrap(True)
        layout.addWidget(self.status)
        for action in menu.actions():
            if action.isSeparator() or action.menu() is not None:
                continue
            button = QPushButton(action.text().replace("&", ""))
            button.setAccessibleName(action.text().replace("&", ""))
            button.setCheckable(action.isCheckable())
            button.clicked.connect(action.trigger)
            layout.addWidget(button)
        layout.addWidget(note)


class TrayController(QObject):
    """The tray icon, its menu and notifications; signals say what the user asked for."""

    talk_toggled = Signal()
    pane_requested = Signal(str)
    remote_action_requested = Signal(str)
    pause_toggled = Signal(bool)
    settings_requested = Signal()
    quit_requested = Signal()

    def __init__(self, *, force_window: bool = False, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.tracker = StateTracker()
        self.menu = self._build_menu()
        self.icon = QSystemTrayIcon(state_icon(TrayState.IDLE), self)
        self.icon.setContextMenu(self.menu)
        self.icon.activated.connect(self.on_icon_activated)
        self.window: FallbackWindow | None = None
        self.has_tray = QSystemTrayIcon.isSystemTrayAvailable() and not force_window
        self.windows_open = 0
        """How many Hark windows are visible: notifications only when none is."""

    def _build_menu(self) -> QMenu:
        menu = QMenu()
        talk = menu.addAction("&Talk")
        talk.triggered.connect(self.talk_toggled.emit)
        menu.addSeparator()
        for pane in PANES:
            action = menu.addAction(pane.capitalize())
            action.triggered.connect(lambda _=False, p=pane: self.pane_requested.emit(p))
        remote = menu.addMenu("Remote server")
        self.remote_menu = remote
        for name, text in zip(
            REMOTE_ACTIONS,
            ("Status", "Start", "Stop", "Destroy…", "Deploy to Vast.ai…"),
            strict=True,
        ):
            action = remote.addAction(text)
            action.triggered.connect(lambda _=False, n=name: self.remote_action_requested.emit(n))
        menu.addSeparator()
        self.pause_action = QAction("&Pause listening", menu)
        self.pause_action.setCheckable(True)
        self.pause_action.toggled.connect(self.on_pause_action_toggled)
        menu.addAction(self.pause_action)
        settings = menu.addAction("&Settings…")
        settings.triggered.connect(self.settings_requested.emit)
        menu.addSeparator()
        quit_action = menu.addAction("&Quit")
        quit_action.triggered.connect(self.quit_requested.emit)
        return menu

    def show(self) -> None:
        """The tray icon, or the small window where there is no tray."""
        if self.has_tray:
            self.icon.show()
        else:
            log.warning("no system tray on this desktop; showing a window instead")
            self.window = FallbackWindow(self.menu)
            self.window.show()
        self._refresh()

    def hide(self) -> None:
        self.icon.hide()
        if self.window is not None:
            self.window.close()

    # --- what is shown ---------------------------------------------------------------------

    def set_backend(self, words: str) -> None:
        self.tracker.backend = words
        self._refresh()

    def on_engine_event(self, event: Event) -> None:
        if self.tracker.feed(event):
            self._refresh()

    def on_confirmation_requested(self, _proposal: object = None) -> None:
        self.tracker.confirming += 1
        self._refresh()

    def on_confirmation_finished(self, _decision: object = None) -> None:
        self.tracker.confirming = max(0, self.tracker.confirming - 1)
        self._refresh()

    def on_pause_action_toggled(self, paused: bool) -> None:
        self.tracker.paused = paused
        self._refresh()
        self.pause_toggled.emit(paused)

    def on_icon_activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason == QSystemTrayIcon.ActivationReason.Trigger:  # a left click: push-to-talk
            self.talk_toggled.emit()

    def notify(self, title: str, message: str, *, error: bool = False) -> bool:
        """A desktop notification, when no Hark window is open (errors always)."""
        if self.windows_open and not error:
            return False
        if not self.has_tray or not QSystemTrayIcon.supportsMessages():
            return False
        kind = (
            QSystemTrayIcon.MessageIcon.Critical
            if error
            else QSystemTrayIcon.MessageIcon.Information
        )
        self.icon.showMessage(title, message[:300], kind, 8000)
        return True

    @property
    def state(self) -> TrayState:
        return self.tracker.state

    def _refresh(self) -> None:
        state, tip = self.tracker.state, self.tracker.tooltip()
        self.icon.setIcon(state_icon(state))
        self.icon.setToolTip(tip)
        if self.window is not None:
            self.window.status.setText(tip)
            self.window.setWindowIcon(state_icon(state))
