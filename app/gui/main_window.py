"""Hark's one window: the Calendar, Inbox and Conversation panes as tabs.

It is made (hidden) as soon as the engine is ready, so the conversation is recorded from the
first turn; the tray's menu shows it at the pane asked for. Closing it (the title bar, Esc,
Ctrl+W) only hides it.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtGui import QCloseEvent, QHideEvent, QKeySequence, QShortcut, QShowEvent
from PySide6.QtWidgets import QTabWidget, QVBoxLayout, QWidget

from app.gui.bridge import Bridge
from app.gui.services import Services
from app.gui.state import TrayState
from app.gui.tray import state_icon


class MainWindow(QWidget):
    """Tabs: calendar, inbox, conversation (``show_pane`` picks one)."""

    visibility_changed = Signal(bool)

    def __init__(self, services: Services, bridge: Bridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from app.gui.history import open_history
        from app.gui.panes.calendar import CalendarPane
        from app.gui.panes.conversation import ConversationWindow
        from app.gui.panes.inbox import InboxPane

        self.setWindowTitle("Hark")
        self.setWindowIcon(state_icon(TrayState.IDLE))
        self.resize(760, 560)
        self.tabs = QTabWidget(self)
        self.calendar = CalendarPane(services, bridge)
        self.inbox = InboxPane(services, bridge)
        self.conversation = ConversationWindow(bridge, services=services, history=open_history())
        self.panes: dict[str, QWidget] = {
            "calendar": self.calendar,
            "inbox": self.inbox,
            "conversation": self.conversation,
        }
        for name, pane in self.panes.items():
            self.tabs.addTab(pane, name.capitalize())
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.tabs)
        self._loaded: set[str] = set()
        self.tabs.currentChanged.connect(self.on_tabs_current_changed)
        close_keys = {QKeySequence("Escape"), QKeySequence("Ctrl+W")}  # Ctrl+W: Cmd+W on macOS
        close_keys.update(QKeySequence.keyBindings(QKeySequence.StandardKey.Close))
        for keys in close_keys:
            QShortcut(keys, self, self.close)

    def show_pane(self, name: str) -> None:
        pane = self.panes[name]
        self.tabs.setCurrentWidget(pane)
        self.on_tabs_current_changed(self.tabs.currentIndex())
        self.show()
        self.raise_()
        self.activateWindow()

    def show_request(self) -> None:
        """The Conversation tab with its request field focused (Type a request…)."""
        self.show_pane("conversation")
        self.conversation.focus_request()

    def on_tabs_current_changed(self, index: int) -> None:
        """Load a pane the first time it is shown (not at start-up: no needless requests)."""
        name = list(self.panes)[index]
        if name in self._loaded:
            return
        self._loaded.add(name)
        reload = getattr(self.panes[name], "reload", None)
        if reload is not None:
            reload()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.visibility_changed.emit(True)

    def hideEvent(self, event: QHideEvent) -> None:
        super().hideEvent(event)
        self.visibility_changed.emit(False)

    def closeEvent(self, event: QCloseEvent) -> None:
        event.ignore()
        self.hide()
