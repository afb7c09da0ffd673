"""The first-run wizard: microphone → server → language model → voice → Google, then
everything is saved at once. The language model page is shown only when everything runs on
this computer (a Hark server, or one on Vast.ai, brings its own model).

Nothing is written until Finish: then the secrets go to the keyring
(:meth:`app.settings.secrets.SecretStore.set`; never the settings file) and the settings through the
injected ``save(updates)`` (``app.settings.file.save_settings``: section → key → value,
``None`` removes a key). A save that fails (a value the settings refuse) is shown on the last
page and the wizard stays open, so nothing typed is lost.

Every collaborator comes in through the constructor, so the app, tests and screenshots build
it the same way with different parts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QWidget, QWizard

from app.gui.widgets import StatusLine
from app.gui.wizards.common import Updates, merge_updates
from app.gui.wizards.google_page import GooglePage
from app.gui.wizards.llm_page import LlmPage, OpenUrl, open_in_browser
from app.gui.wizards.mic_page import (
    ListInputs,
    MicPage,
    OpenSource,
    default_list_inputs,
    default_open_source,
)
from app.gui.wizards.server_page import LOCAL, OpenDeploy, ServerPage
from app.gui.wizards.voice_page import Speak, VoicePage, default_speak
from app.shared.errors import HarkError

if TYPE_CHECKING:
    from app.gui.context import GuiContext

log = logging.getLogger(__name__)

Save = Callable[[Updates], Any]
"""``app.settings.file.save_settings``: merges the updates into the file; raises
``ConfigError`` (file untouched) on a bad value."""


class FirstRunWizard(QWizard):
    """Sets Hark up on first start; see the module docstring."""

    setup_saved = Signal(object)
    """What ``save`` returned (the new Settings), once Finish has written everything."""

    def __init__(
        self,
        context: GuiContext,
        save: Save,
        *,
        list_inputs: ListInputs = default_list_inputs,
        open_source: OpenSource = default_open_source,
        speak: Speak | None = None,
        open_deploy: OpenDeploy | None = None,
        open_url: OpenUrl = open_in_browser,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Set up Hark")
        self.setWizardStyle(QWizard.WizardStyle.ModernStyle)
        self.setOption(QWizard.WizardOption.NoBackButtonOnStartPage, True)
        settings, bridge, secrets = context.settings, context.bridge, context.secrets
        self._secrets = secrets
        self._save = save
        self.mic = MicPage(bridge, settings.audio, list_inputs, open_source, self)
        self.server = ServerPage(bridge, settings, open_deploy, self)
        self.llm = LlmPage(bridge, settings, secrets, open_deploy, open_url=open_url, parent=self)
        self.voice = VoicePage(bridge, settings, secrets, speak or default_speak(settings), self)
        self.google = GooglePage(bridge, context.services, self)
        self.finish_status = StatusLine("Saving status", self.google)
        self.google.column.addWidget(self.finish_status)
        self._ids = {
            id(page): self.addPage(page)
            for page in (self.mic, self.server, self.llm, self.voice, self.google)
        }
        self.setButtonText(QWizard.WizardButton.FinishButton, "Start Hark")

    @classmethod
    def ask(cls, context: GuiContext, save: Save, **parts: Any) -> bool:
        """Run the wizard modally; True when the user finished it and all was saved."""
        wizard = cls(context, save, **parts)
        try:
            return wizard.exec() == QWizard.DialogCode.Accepted
        finally:
            wizard.deleteLater()

    def nextId(self) -> int:
        """The language model page only when everything runs on this computer."""
        following = super().nextId()
        if following == self._ids[id(self.llm)] and not self.llm_wanted():
            return self._ids[id(self.voice)]
        return following

    def llm_wanted(self) -> bool:
        return self.server.chosen() == LOCAL

    def updates(self) -> Updates:
        """Every page's settings changes, merged."""
        llm = self.llm.updates() if self.llm_wanted() else {}
        return merge_updates(self.mic.updates(), self.server.updates(), llm, self.voice.updates())

    def secret_values(self) -> dict[str, str]:
        llm = self.llm.secrets() if self.llm_wanted() else {}
        return {**self.server.secrets(), **llm, **self.voice.secrets()}

    def accept(self) -> None:
        """Finish: secrets to the keyring, settings through ``save``; stay open on an error."""
        self.finish_status.show_text("busy", "Saving…")
        try:
            for name, value in self.secret_values().items():
                self._secrets.set(name, value)
            saved = self._save(self.updates())
        except HarkError as exc:
            log.warning("first-run setup not saved: %s", exc.code)
            self.finish_status.show_text("error", f"Not saved: {exc.message}")
            return
        self.finish_status.show_text("ok", "Saved.")
        self.mic.stop()
        log.info("first-run setup saved")
        self.setup_saved.emit(saved)
        super().accept()

    def done(self, result: int) -> None:
        self.mic.stop()
        super().done(result)
