"""The tray icon and its menu — or, on a desktop without a tray, a small window with the same
controls.

:class:`TrayController` only shows and asks: it draws the state (:class:`~app.gui.state.
StateTracker`) as an icon and a tooltip, turns clicks into signals, and shows desktop
notifications. The app (``app/gui/app.py``) connects the signals to the engine.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable

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
from app.gui.wording import plain_words
from app.shared.resources import resource_path

log = logging.getLogger(__name__)

PANES = ("calendar", "inbox", "conversation")
REMOTE_ACTIONS = ("status", "start", "stop", "destroy", "deploy")
NO_TRAY = (
    "Your desktop shows no tray icons (on GNOME, install the 'AppIndicator and KStatusNotifier"
    "Item Support' extension). Hark runs in this small window instead."
)
PAUSED = "Listening is paused: untick Pause listening to talk again."
STARTING = "Hark is still starting; this works once it is ready."
NO_SERVER = "No server deployed yet — use Deploy to Vast.ai… first."
NO_MICROPHONE_TIP = "No microphone found — type to Hark instead (Type a request…)."

_MENU = (
    ("talk", "&Talk"),
    ("type", "T&ype a request…"),
    None,
    ("calendar", "&Calendar"),
    ("inbox", "&Inbox"),
    ("conversation", "C&onversation"),
    ("remote", "&Remote server"),
    None,
    ("pause", "&Pause listening"),
    ("settings", "&Settings…"),
    ("checkup", "C&heck my setup"),
    ("setup", "Run set&up again…"),
    ("about", "&About Hark"),
    None,
    ("quit", "&Quit"),
)
_REMOTE_MENU = tuple(
    zip(REMOTE_ACTIONS, ("Status", "Start", "Stop", "Destroy…", "Deploy to Vast.ai…"), strict=True)
)


def state_icon(state: TrayState) -> QIcon:
    return QIcon(str(resource_path("icons", f"{state.value}.svg")))


def plain(text: str) -> str:
    """A menu text without its mnemonic (``&Talk`` → ``Talk``)."""
    return text.replace("&", "")


class FallbackWindow(QWidget):
    """The tray's controls in a small window, for desktops without a system tray.

    Each button follows its menu action: disabled with the same tooltip when the action is."""

    def __init__(self, menu: QMenu) -> None:
        super().__init__()
        self.setWindowTitle("Hark")
        layout = QVBoxLayout(self)
        self.status = QLabel("Hark — starting")
        self.status.setWordWrap(True)
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.message.setAccessibleName("Latest message")
        self.message.hide()
        note = QLabel(NO_TRAY)
        note.setWordWrap(True)
        layout.addWidget(self.status)
        layout.addWidget(self.message)
        for action in menu.actions():
            if action.isSeparator() or action.menu() is not None:
                continue
            button = QPushButton(plain(action.text()))
            button.setAccessibleName(plain(action.text()))
            button.setCheckable(action.isCheckable())
            button.clicked.connect(action.trigger)
            action.changed.connect(lambda b=button, a=action: _follow(b, a))
            _follow(button, action)
            layout.addWidget(button)
        layout.addWidget(note)


def _follow(button: QPushButton, action: QAction) -> None:
    button.setEnabled(action.isEnabled())
    button.setToolTip(action.toolTip() if not action.isEnabled() else "")
    if action.isCheckable():
        button.setChecked(action.isChecked())


class TrayController(QObject):
    """The tray icon, its menu and notifications; signals say what the user asked for.

    ``actions`` holds the menu's actions by name (``talk``, ``type``, ``calendar``, …,
    ``remote:status``, …, ``quit``), so the app and tests use the very actions a user clicks.
    An action that cannot work now is disabled, and its tooltip says why.
    """

    talk_toggled = Signal()
    type_requested = Signal()
    pane_requested = Signal(str)
    remote_action_requested = Signal(str)
    pause_toggled = Signal(bool)
    settings_requested = Signal()
    checkup_requested = Signal()
    setup_requested = Signal()
    about_requested = Signal()
    quit_requested = Signal()
    listening_changed = Signal(bool)
    """The microphone was armed for a request (True) or is no longer (False)."""

    def __init__(self, *, force_window: bool = False, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.tracker = StateTracker()
        self.actions: dict[str, QAction] = {}
        self.menu = self._build_menu()
        self.icon = QSystemTrayIcon(state_icon(TrayState.IDLE), self)
        self.icon.setContextMenu(self.menu)
        self.icon.activated.connect(self.on_icon_activated)
        self.window: FallbackWindow | None = None
        self.has_tray = QSystemTrayIcon.isSystemTrayAvailable() and not force_window
        self.windows_open = 0
        """How many Hark windows are visible: notifications only when none is."""
        self._why_not: dict[str, str] = {}
        self._listening = False
        self.recent: deque[tuple[str, str]] = deque(maxlen=20)
        """The latest notifications (title, message), newest last."""

    def _build_menu(self) -> QMenu:
        menu = QMenu()
        menu.setToolTipsVisible(True)
        emit: dict[str, Callable[[], None]] = {
            "talk": self.talk_toggled.emit,
            "type": self.type_requested.emit,
            "settings": self.settings_requested.emit,
            "checkup": self.checkup_requested.emit,
            "setup": self.setup_requested.emit,
            "about": self.about_requested.emit,
            "quit": self.quit_requested.emit,
        }
        for entry in _MENU:
            if entry is None:
                menu.addSeparator()
                continue
            name, text = entry
            if name == "remote":
                self.remote_menu = menu.addMenu(text)
                self.remote_menu.setToolTipsVisible(True)
                for action_name, action_text in _REMOTE_MENU:
                    action = self.remote_menu.addAction(action_text)
                    action.triggered.connect(
                        lambda _=False, n=action_name: self.remote_action_requested.emit(n)
                    )
                    self.actions[f"remote:{action_name}"] = action
                continue
            action = QAction(text, menu)
            menu.addAction(action)
            self.actions[name] = action
            if name in PANES:
                action.triggered.connect(lambda _=False, p=name: self.pane_requested.emit(p))
            elif name == "pause":
                action.setCheckable(True)
                action.toggled.connect(self.on_pause_action_toggled)
            else:
                action.triggered.connect(lambda _=False, e=emit[name]: e())
        self.pause_action = self.actions["pause"]
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

    def set_starting(self, starting: bool) -> None:
        """The engine is being assembled (at start, after Settings are saved)."""
        self.tracker.starting = starting
        self._refresh()

    def set_listening(self, listening: bool) -> None:
        """The app armed the microphone (a click, the hotkey): the icon says so at once."""
        self.tracker.set_listening(listening)
        self._refresh()

    def set_no_microphone(self, why: str | None) -> None:
        """Hark cannot hear (``why`` says what happened) or can again (None)."""
        self.tracker.no_microphone = why
        self._refresh()

    def set_deployed(self, deployed: bool) -> None:
        """Whether a Vast.ai server is deployed: its Status/Start/Stop/Destroy work only then."""
        for name in ("status", "start", "stop", "destroy"):
            self.set_available(f"remote:{name}", NO_SERVER if not deployed else None)

    def set_available(self, name: str, why_not: str | None) -> None:
        """Enable the action ``name``, or disable it with ``why_not`` as its tooltip."""
        action = self.actions[name]
        if why_not is None:
            self._why_not.pop(name, None)
        else:
            self._why_not[name] = why_not
        action.setEnabled(why_not is None)
        action.setToolTip(why_not or plain(action.text()))

    def why_not(self, name: str) -> str | None:
        """Why the action ``name`` is disabled now (None: it works)."""
        return self._why_not.get(name)

    def talk_blocked(self) -> str | None:
        """Why talking cannot work now, in the user's words (None: it can)."""
        if self.tracker.paused:
            return PAUSED
        if self.tracker.no_microphone:
            return NO_MICROPHONE_TIP
        if self.tracker.starting:
            return STARTING
        return None

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
        """A desktop notification, when no Hark window is open (errors always). Without a
        tray the small window shows it instead. :attr:`recent` keeps the last few."""
        message = plain_words(message)  # no backticks, setting names or class names
        self.recent.append((title, message))
        if self.window is not None:
            self.window.message.setText(f"{title}: {message}")
            self.window.message.show()
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
        self.set_available("talk", self.talk_blocked())
        self.set_available("type", STARTING if self.tracker.starting else None)
        for pane in PANES:
            self.set_available(pane, STARTING if self.tracker.starting else None)
        if self.tracker.listening != self._listening:
            self._listening = self.tracker.listening
            self.listening_changed.emit(self._listening)
        state, tip = self.tracker.state, self.tracker.tooltip()
        self.icon.setIcon(state_icon(state))
        self.icon.setToolTip(tip)
        if self.window is not None:
            self.window.status.setText(tip)
            self.window.setWindowIcon(state_icon(state))
