"""The first-run wizard's last, optional step: connect a Google account (or skip it).

Connecting runs :meth:`app.gui.services.Services.connect_google` on the engine loop (the
browser sign-in blocks a worker thread there, never the GUI); the page shows who signed in, or
the error and what to do. Skipping changes nothing: Settings → Google connects later.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from PySide6.QtCore import Slot
from PySide6.QtWidgets import QLabel, QPushButton, QVBoxLayout, QWidget, QWizardPage

from app.gui.bridge import Bridge, while_alive
from app.gui.widgets import StatusLine
from app.gui.wording import user_message

if TYPE_CHECKING:
    from app.google.scopes import AccountStatus
    from app.gui.services import Services

log = logging.getLogger(__name__)


class GooglePage(QWizardPage):
    """Optional: let Hark see your calendar and mail."""

    def __init__(self, bridge: Bridge, services: Services, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setTitle("Google (optional)")
        self.setSubTitle("Connect Google so Hark can read your calendar and mail, or skip it.")
        self._bridge = bridge
        self._services = services
        self.connecting = False
        self.account: AccountStatus | None = None

        about = QLabel(
            "Hark asks before it sends mail or changes your calendar. Your sign-in stays in "
            "this computer's keyring.",
            self,
        )
        about.setWordWrap(True)
        self.connect_button = QPushButton("Connect Google…", self)
        self.connect_button.setAccessibleName("Connect Google")
        self.connect_button.clicked.connect(self.on_connect_button_clicked)
        self.status = StatusLine("Google status", self)
        self.column = QVBoxLayout(self)
        self.column.addWidget(about)
        self.column.addWidget(self.connect_button)
        self.column.addWidget(self.status)
        self.column.addStretch(1)
        if services.google_connected():
            self.status.show_text("ok", "Google is connected.")
            self.connect_button.setText("Connect again…")
        else:
            self.status.show_text("info", "Not connected. You can skip this and connect later.")

    def isComplete(self) -> bool:
        return not self.connecting

    @Slot()
    def on_connect_button_clicked(self) -> None:
        self.connecting = True
        self.connect_button.setEnabled(False)
        self.completeChanged.emit()
        self.status.show_text("busy", "Finish signing in in your browser…")
        self._bridge.run(
            self._services.connect_google(),
            while_alive(self, self._on_connected),
            while_alive(self, self._on_failed),
        )

    def _on_connected(self, account: AccountStatus) -> None:
        self._settle()
        self.account = account
        who = account.email or "your account"
        self.status.show_text("ok", f"Connected as {who}.")

    def _on_failed(self, error: BaseException) -> None:
        self._settle()
        message = user_message(error, "Connecting Google")
        log.warning("Google connect failed: %s", getattr(error, "code", type(error).__name__))
        self.status.show_text("error", f"{message} You can skip this and connect later.")

    def _settle(self) -> None:
        self.connecting = False
        self.connect_button.setEnabled(True)
        self.completeChanged.emit()
