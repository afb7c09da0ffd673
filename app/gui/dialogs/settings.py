"""The Settings dialog: every setting a user is likely to change, saved safely.

Save works out which keys differ from the settings Hark runs with and writes only those
(:func:`app.settings.file.save_settings`, which validates before it replaces the file), then
stores changed API keys in the keyring and applies other changes (starting at login). It all
runs in a worker thread; a bad value is shown under the pages (and its page opened) and
nothing is written. On success ``settings_saved`` carries the new
:class:`~app.settings.schema.Settings` so the app can restart the engine with them. Cancel (or Esc)
changes nothing.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QScrollArea,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from app.audio.devices import DeviceInfo
from app.gui.autostart import Autostart
from app.gui.bridge import while_alive
from app.gui.context import GuiContext
from app.gui.dialogs.settings_audio import AudioPage, MicFactory, SinkFactory
from app.gui.dialogs.settings_google import GooglePage, PolicyPage
from app.gui.dialogs.settings_llm import LlmPage
from app.gui.dialogs.settings_pages import SpeechPage, StartupPage, TalkPage
from app.gui.dialogs.settings_server import ServerPage, VoicePage
from app.gui.dialogs.settings_widgets import SettingsPage
from app.settings.file import save_settings
from app.settings.schema import Settings
from app.shared.errors import HarkError

log = logging.getLogger(__name__)

_ERROR_KEY = re.compile(r"^\s+([a-z_]+)\.", re.MULTILINE)
_ERROR_LINE = re.compile(r"^\s+[a-z_]+\.[\w.]+ \(from .*?\): (.+)$", re.MULTILINE)


def plain_error(message: str) -> str:
    """A settings error in the user's words: what is wrong with each value, without the
    settings file's key names (the page that shows the value is opened instead)."""
    found = [m.group(1).strip() for m in _ERROR_LINE.finditer(message)]
    if not found:
        return message
    return "Hark cannot save this: " + " ".join(
        text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".") for text in found
    )


def changed_values(new: Mapping[str, Any], old: Mapping[str, Any]) -> dict[str, Any]:
    """The parts of ``new`` that differ from ``old`` (nested; ``None`` means "remove")."""
    out: dict[str, Any] = {}
    for key, value in new.items():
        before = old.get(key)
        if isinstance(value, Mapping):
            inner = changed_values(value, before if isinstance(before, Mapping) else {})
            if inner:
                out[key] = inner
        elif value != before:
            out[key] = value
    return out


class SettingsDialog(QDialog):
    """Hark's settings, page by page (see the module docstring)."""

    settings_saved = Signal(object)
    """The new :class:`~app.settings.schema.Settings`, after a successful Save."""
    deploy_requested = Signal()
    """The user asked to deploy a GPU server to Vast.ai (the wizard opens)."""

    def __init__(
        self,
        context: GuiContext,
        parent: QWidget | None = None,
        *,
        config_file: Path | None = None,
        mic_source: MicFactory | None = None,
        speaker_sink: SinkFactory | None = None,
        autostart: Autostart | None = None,
        audio_devices: Callable[[], list[DeviceInfo]] | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Hark settings")
        self.setModal(True)
        settings, bridge, secrets = context.settings, context.bridge, context.secrets
        self._settings = settings
        self._bridge = bridge
        self._secrets = secrets
        self._config_file = config_file
        self.saving = False
        self.server = ServerPage(settings, secrets, bridge)
        self.server.deploy_clicked.connect(self.deploy_requested)
        self.pages: list[SettingsPage] = [
            AudioPage(
                settings,
                bridge,
                mic_source=mic_source,
                speaker_sink=speaker_sink,
                devices=audio_devices,
            ),
            TalkPage(settings),
            SpeechPage(settings),
            LlmPage(settings, secrets, bridge),
            self.server,
            VoicePage(settings, secrets, bridge),
            GooglePage(context),
            PolicyPage(settings),
            StartupPage(autostart or Autostart()),
        ]
        self.nav = QListWidget()
        self.nav.setAccessibleName("Settings pages")
        self.nav.setMaximumWidth(170)
        self.nav.setSpacing(3)
        self.stack = QStackedWidget()
        for page in self.pages:
            self.nav.addItem(page.title)
            scroll = QScrollArea()
            scroll.setWidgetResizable(True)
            scroll.setFrameShape(QScrollArea.Shape.NoFrame)
            scroll.setWidget(page)
            self.stack.addWidget(scroll)
        self.nav.currentRowChanged.connect(self.stack.setCurrentIndex)
        self.nav.setCurrentRow(0)
        self.error = QLabel("")
        self.error.setAccessibleName("Settings problem")
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #b3261e;")
        self.error.hide()
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        self.save_button = self.buttons.button(QDialogButtonBox.StandardButton.Save)
        self.save_button.setAccessibleName("Save settings")
        self.save_button.setDefault(True)
        self.buttons.accepted.connect(self.on_buttons_accepted)
        self.buttons.rejected.connect(self.reject)
        body = QHBoxLayout()
        body.addWidget(self.nav)
        body.addWidget(self.stack, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(body, 1)
        layout.addWidget(self.error)
        layout.addWidget(self.buttons)
        self.resize(720, 520)

    @classmethod
    def ask(
        cls, context: GuiContext, parent: QWidget | None = None, **options: Any
    ) -> Settings | None:
        """Show the dialog modally; the new settings after Save, or None after Cancel."""
        dialog = cls(context, parent, **options)
        saved: list[Settings] = []
        dialog.settings_saved.connect(saved.append)
        try:
            dialog.exec()
        finally:
            dialog.deleteLater()
        return saved[-1] if saved else None

    def loading(self) -> bool:
        """Some page still waits for background reads (wait for False before a screenshot)."""
        return any(page.loading() for page in self.pages)

    def page(self, page_type: type[SettingsPage]) -> SettingsPage:
        """The page of this type (for the app and tests)."""
        return next(p for p in self.pages if isinstance(p, page_type))

    def show_page(self, page: SettingsPage) -> None:
        self.nav.setCurrentRow(self.pages.index(page))

    def show_error(self, message: str, page: SettingsPage | None = None) -> None:
        """Show what is wrong under the pages, and open the page it concerns."""
        self.error.setText(plain_error(message))
        self.error.show()
        if page is None:
            match = _ERROR_KEY.search(message)
            section = match.group(1) if match else None
            page = next((p for p in self.pages if section in p.sections), None)
        if page is not None:
            self.show_page(page)

    def updates(self) -> dict[str, Any]:
        """What Save would write: the keys whose value differs from the current settings."""
        shown: dict[str, Any] = {}
        for page in self.pages:
            for section, values in page.values().items():
                shown.setdefault(section, {}).update(values)
        return changed_values(shown, self._settings.model_dump(mode="python"))

    def on_buttons_accepted(self) -> None:
        if self.saving:
            return
        for page in self.pages:
            problem = page.problem()
            if problem:
                self.show_error(problem, page)
                return
        updates = self.updates()
        secrets: dict[str, str | None] = {}
        extras: list[Callable[[], None]] = []
        for page in self.pages:
            secrets.update(page.secret_changes())
            extras.extend(page.extra_changes())
        if not updates and not secrets and not extras:
            self._close_pages()
            self.accept()
            return
        self.saving = True
        self.save_button.setEnabled(False)
        self.error.setText("Saving…")
        self.error.show()
        self._bridge.run(
            asyncio.to_thread(self._commit, updates, secrets, extras),
            while_alive(self, self._on_saved),
            while_alive(self, self._on_save_failed),
        )

    def _commit(
        self,
        updates: dict[str, Any],
        secrets: dict[str, str | None],
        extras: list[Callable[[], None]],
    ) -> Settings:
        """The worker thread's part of Save: the file first, then the keyring, then the rest."""
        settings = save_settings(updates, self._config_file) if updates else self._settings
        for name, value in secrets.items():
            if value is None:
                self._secrets.delete(name)
            else:
                self._secrets.set(name, value)
        for extra in extras:
            extra()
        return settings

    def _on_saved(self, settings: object) -> None:
        self.saving = False
        self._settings = settings if isinstance(settings, Settings) else self._settings
        self.error.hide()
        self.settings_saved.emit(settings)
        self._close_pages()
        self.accept()

    def _on_save_failed(self, error: BaseException) -> None:
        self.saving = False
        self.save_button.setEnabled(True)
        if isinstance(error, HarkError):
            self.show_error(error.message)
        else:
            log.warning("saving the settings failed: %r", error)
            self.show_error(f"Could not save the settings: {error}")

    def reject(self) -> None:
        """Cancel / Esc: change nothing (a save in progress still finishes)."""
        if self.saving:
            return
        self._close_pages()
        super().reject()

    def _close_pages(self) -> None:
        for page in self.pages:
            page.shutdown()
