"""The Google and Policy pages: the connected account and what Hark may do with it.

Feature levels decide the OAuth scopes Hark asks for, so the page shows the permissions each
level needs and which of them the stored sign-in still lacks. Connecting runs the browser
sign-in through :meth:`Services.connect_google` on the engine loop; disconnecting revokes and
forgets the sign-in in a worker thread. The account's status is read from the keyring in a
worker thread too.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QWidget,
)

from app.gui.bridge import while_alive
from app.gui.context import GuiContext
from app.gui.dialogs.settings_widgets import PathPicker, SettingsPage, SettingsValues
from app.gui.wording import user_message
from app.settings.schema import GoogleSettings, Settings

log = logging.getLogger(__name__)

CALENDAR_LEVELS = {"off": "Off", "read": "See my events", "write": "See and change my events"}
MAIL_LEVELS = {
    "off": "Off",
    "read": "Search and read",
    "compose": "Read and write drafts",
    "send": "Read, draft and send",
}
TOOLS: dict[str, tuple[str, str]] = {
    "get_current_time": ("Tell the time", "auto"),
    "calendar_list_events": ("List events", "auto"),
    "calendar_find_free_time": ("Find free time", "auto"),
    "calendar_create_event": ("Create an event", "auto"),
    "calendar_update_event": ("Change an event", "confirm"),
    "calendar_delete_event": ("Delete an event", "confirm"),
    "mail_search": ("Search mail", "auto"),
    "mail_read": ("Read a message", "auto"),
    "mail_draft": ("Save a draft", "auto"),
    "mail_send": ("Send mail", "confirm"),
    "mail_reply": ("Reply to mail", "confirm"),
    "mail_mark_read": ("Mark as read", "auto"),
    "mail_archive": ("Archive a message", "auto"),
}
"""Every tool the policy governs: a label, and what it does by default (from its risk)."""
MODES = {"auto": "Just do it", "confirm": "Ask me first", "deny": "Never"}


class GooglePage(SettingsPage):
    """Connect / disconnect the account and choose the calendar and mail feature levels."""

    title = "Google"
    sections = ("google",)

    def __init__(self, context: GuiContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._google = context.settings.google
        self._services = context.services
        self._bridge = context.bridge
        self._secrets = context.secrets
        self._granted: tuple[str, ...] = ()
        self.connected = False
        self.busy = False
        form = QFormLayout(self)
        self.account = QLabel("Checking…")
        self.account.setAccessibleName("Google account")
        self.account.setWordWrap(True)
        form.addRow("Account", self.account)
        self.connect_button = QPushButton("Connect…")
        self.connect_button.setAccessibleName("Connect Google")
        self.connect_button.clicked.connect(self.on_connect_button_clicked)
        self.disconnect_button = QPushButton("Disconnect")
        self.disconnect_button.setAccessibleName("Disconnect Google")
        self.disconnect_button.setEnabled(False)
        self.disconnect_button.clicked.connect(self.on_disconnect_button_clicked)
        row = QHBoxLayout()
        row.addWidget(self.connect_button)
        row.addWidget(self.disconnect_button)
        row.addStretch(1)
        form.addRow("", row)
        self.client_file = PathPicker(
            self._google.client_file,
            placeholder="the OAuth client JSON of your Google Cloud project",
            caption="OAuth client file",
            file_filter="JSON (*.json);;All files (*)",
        )
        form.addRow("Client file", self.client_file)
        self.calendar = self._levels("Calendar", CALENDAR_LEVELS, self._google.calendar)
        form.addRow("Calendar", self.calendar)
        self.mail = self._levels("Mail", MAIL_LEVELS, self._google.mail)
        form.addRow("Mail", self.mail)
        self.scopes = QLabel("")
        self.scopes.setWordWrap(True)
        form.addRow("Permissions", self.scopes)
        self.calendar.currentIndexChanged.connect(lambda _: self._show_scopes())
        self.mail.currentIndexChanged.connect(lambda _: self._show_scopes())
        self._show_scopes()
        self.refresh()

    @staticmethod
    def _levels(name: str, levels: dict[str, str], current: str) -> QComboBox:
        combo = QComboBox()
        combo.setAccessibleName(name)
        for key, label in levels.items():
            combo.addItem(label, key)
        combo.setCurrentIndex(max(0, combo.findData(current)))
        return combo

    def _account(self) -> Any:
        from app.google.auth import GoogleAccount

        return GoogleAccount(self._google, self._secrets)

    def refresh(self) -> None:
        """Read the stored sign-in again (in a worker thread)."""
        self.busy = True
        self._bridge.run(
            asyncio.to_thread(lambda: self._account().status()),
            while_alive(self, self._on_status),
            while_alive(self, self._on_failed),
        )

    def loading(self) -> bool:
        return self.busy

    def _on_status(self, status: Any) -> None:
        self.busy = False
        self.connected = bool(status.connected)
        self._granted = tuple(status.granted)
        if status.connected:
            self.account.setText(f"Connected as {status.email or 'an unnamed account'}")
        else:
            self.account.setText("Not connected. Connect to use your calendar and mail.")
        self.connect_button.setEnabled(True)
        self.connect_button.setText("Connect again…" if status.connected else "Connect…")
        self.disconnect_button.setEnabled(self.connected)
        self._show_scopes()

    def _show_scopes(self) -> None:
        from app.google.scopes import scopes_for, short_scope

        levels = GoogleSettings(calendar=self.calendar.currentData(), mail=self.mail.currentData())
        needed = scopes_for(levels)
        if not needed:
            self.scopes.setText("None: Hark will not use your Google account.")
            return
        text = "Needs " + ", ".join(short_scope(s) for s in needed) + "."
        missing = [short_scope(s) for s in needed if s not in self._granted]
        if self.connected and missing:
            text += f" Not granted yet: {', '.join(missing)}: save, then Connect again."
        self.scopes.setText(text)

    def on_connect_button_clicked(self) -> None:
        self.connect_button.setEnabled(False)
        self.disconnect_button.setEnabled(False)
        self.account.setText("Finish signing in in your browser…")
        self.busy = True
        self._bridge.run(
            self._services.connect_google(),
            while_alive(self, self._on_status),
            while_alive(self, self._on_failed),
        )

    def on_disconnect_button_clicked(self) -> None:
        self.connect_button.setEnabled(False)
        self.disconnect_button.setEnabled(False)
        self.account.setText("Disconnecting…")
        self.busy = True
        warnings: list[str] = []

        def logout() -> Any:
            account = self._account()
            account.logout(on_warning=warnings.append)
            return account.status()

        def done(status: Any) -> None:
            self._on_status(status)
            if warnings:
                self.account.setText(self.account.text() + " " + " ".join(warnings))

        self._bridge.run(
            asyncio.to_thread(logout), while_alive(self, done), while_alive(self, self._on_failed)
        )

    def _on_failed(self, error: BaseException) -> None:
        self.busy = False
        self.connect_button.setEnabled(True)
        self.disconnect_button.setEnabled(self.connected)
        self.account.setText(f"Google: {user_message(error, 'Talking to Google')}")

    def values(self) -> SettingsValues:
        return {
            "google": {
                "calendar": self.calendar.currentData(),
                "mail": self.mail.currentData(),
                "client_file": self.client_file.path(),
            }
        }

    def problem(self) -> str | None:
        path = self.client_file.path()
        if path is not None and not path.is_file():
            return f"The OAuth client file {path} does not exist; choose the JSON you downloaded."
        return None


class PolicyPage(SettingsPage):
    """Per tool: do it, ask first, or never; and the limits that always ask."""

    title = "Permissions"
    sections = ("policy",)

    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        policy = settings.policy
        form = QFormLayout(self)
        self.modes: dict[str, QComboBox] = {}
        for tool, (label, default) in TOOLS.items():
            combo = QComboBox()
            combo.setAccessibleName(f"{label} ({tool})")
            combo.setToolTip(tool)
            combo.addItem(f"Default ({MODES[default].lower()})", None)
            for key, text in MODES.items():
                combo.addItem(text, key)
            combo.setCurrentIndex(max(0, combo.findData(policy.tools.get(tool))))
            self.modes[tool] = combo
            form.addRow(label, combo)
        self.max_recipients = QSpinBox()
        self.max_recipients.setAccessibleName("Most recipients without asking")
        self.max_recipients.setRange(1, 500)
        self.max_recipients.setValue(policy.max_recipients)
        form.addRow("Ask when mail goes to more than", self.max_recipients)
        self.confirm_timeout = QDoubleSpinBox()
        self.confirm_timeout.setAccessibleName("Confirmation timeout")
        self.confirm_timeout.setRange(1, 3600)
        self.confirm_timeout.setDecimals(0)
        self.confirm_timeout.setSuffix(" s")
        self.confirm_timeout.setValue(policy.confirm_timeout_s)
        self._timeout = policy.confirm_timeout_s
        form.addRow("Unanswered questions count as no after", self.confirm_timeout)

    def values(self) -> SettingsValues:
        tools = {tool: combo.currentData() for tool, combo in self.modes.items()}
        timeout = self.confirm_timeout.value()
        if timeout == round(self._timeout):  # shown rounded; untouched stays as it was
            timeout = self._timeout
        return {
            "policy": {
                "tools": tools,
                "max_recipients": self.max_recipients.value(),
                "confirm_timeout_s": timeout,
            }
        }
