"""Building blocks of the settings dialog: the page base class, a path picker and a secret field.

Each page shows some settings sections and answers four questions when the user saves: the
values it shows (:meth:`SettingsPage.values`), whether they make sense together
(:meth:`SettingsPage.problem`, checked before anything is written), which keyring secrets
change (:meth:`SettingsPage.secret_changes`) and which other changes to make once the file is
saved (:meth:`SettingsPage.extra_changes`, e.g. the autostart entry). The dialog itself works
out what differs from the current settings, so only changed keys reach the file.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QWidget,
)

from app.gui.bridge import Bridge, while_alive
from app.settings.secrets import SecretStore

log = logging.getLogger(__name__)

SettingsValues = dict[str, dict[str, Any]]


class SettingsPage(QWidget):
    """One page of the dialog (see the module docstring for what the dialog asks of it)."""

    title: ClassVar[str] = ""
    sections: ClassVar[tuple[str, ...]] = ()
    """Settings sections shown here, so a validation error can open the right page."""

    def values(self) -> SettingsValues:
        return {}

    def problem(self) -> str | None:
        return None

    def secret_changes(self) -> dict[str, str | None]:
        """Secret name → new value, or ``None`` to delete it."""
        return {}

    def extra_changes(self) -> list[Callable[[], None]]:
        """Work to do in a worker thread after the settings were saved."""
        return []

    def loading(self) -> bool:
        """Still reading something in the background (devices, the keyring)."""
        return False

    def shutdown(self) -> None:
        """The dialog is closing: stop whatever the page runs (a microphone test)."""


def optional_text(edit: QLineEdit) -> str | None:
    text = edit.text().strip()
    return text or None


class PathPicker(QWidget):
    """A path in a line edit with a Browse… button; empty means "not set"."""

    path_changed = Signal(object)

    def __init__(
        self,
        value: Path | None,
        *,
        placeholder: str = "",
        caption: str = "Choose a file",
        file_filter: str = "",
        folder: bool = False,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._caption, self._filter, self._folder = caption, file_filter, folder
        self.edit = QLineEdit(str(value) if value else "")
        self.edit.setPlaceholderText(placeholder)
        self.edit.setAccessibleName(caption)
        self.edit.textChanged.connect(lambda _: self.path_changed.emit(self.path()))
        self.browse = QPushButton("Browse…")
        self.browse.setAccessibleName(f"{caption}: browse")
        self.browse.clicked.connect(self.on_browse_clicked)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.edit, 1)
        row.addWidget(self.browse)

    def path(self) -> Path | None:
        text = self.edit.text().strip()
        return Path(text).expanduser() if text else None

    def set_path(self, value: Path | None) -> None:
        self.edit.setText(str(value) if value else "")

    def on_browse_clicked(self) -> None:
        start = self.edit.text().strip() or str(Path.home())
        if self._folder:
            chosen = QFileDialog.getExistingDirectory(self, self._caption, start)
        else:
            chosen, _ = QFileDialog.getOpenFileName(self, self._caption, start, self._filter)
        if chosen:
            self.edit.setText(chosen)


class SecretField(QWidget):
    """A keyring secret: says whether one is stored (never shows it) and takes a new one.

    Typing replaces the stored value at Save; Forget deletes it at Save. Whether a value is
    stored is read in a worker thread (the keyring may be slow to answer).
    """

    status_loaded = Signal(str)

    def __init__(
        self,
        name: str,
        label: str,
        secrets: SecretStore,
        bridge: Bridge,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.name = name
        self._forget = False
        self._stored = False
        self.loading = True
        self.status = QLabel("Checking the keyring…")
        self.edit = QLineEdit()
        self.edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.edit.setPlaceholderText("Paste a key to store it")
        self.edit.setAccessibleName(label)
        self.edit.textEdited.connect(self.on_edit_text_edited)
        self.forget = QPushButton("Forget")
        self.forget.setAccessibleName(f"{label}: forget")
        self.forget.setEnabled(False)
        self.forget.clicked.connect(self.on_forget_clicked)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.edit, 1)
        row.addWidget(self.forget)
        row.addWidget(self.status)
        bridge.run(
            asyncio.to_thread(secrets.source, name),
            while_alive(self, self._on_source),
            while_alive(self, self._on_failed),
        )

    def _on_source(self, source: object) -> None:
        self._stored = source is not None
        if source is None:
            text = "not set"
        elif str(source).startswith("environment"):
            text = f"set by the {source}"
        else:
            text = "stored"
        self.forget.setEnabled(self._stored and source == "keyring")
        self.edit.setPlaceholderText(
            "Paste a new key to replace it" if self._stored else "Paste a key to store it"
        )
        self._show(text)

    def _on_failed(self, error: BaseException) -> None:
        log.warning("keyring not readable: %s", type(error).__name__)
        self._show("the system's password store (keyring) cannot be reached")

    def _show(self, text: str) -> None:
        self.loading = False
        self.status.setText(text)
        self.status_loaded.emit(text)

    def on_edit_text_edited(self, _: str) -> None:
        self._forget = False

    def on_forget_clicked(self) -> None:
        self._forget = True
        self.edit.clear()
        self.status.setText("will be forgotten when you save")

    def change(self) -> tuple[bool, str | None]:
        """(changed, new value or None to delete)."""
        value = self.edit.text().strip()
        if value:
            return True, value
        if self._forget:
            return True, None
        return False, None
