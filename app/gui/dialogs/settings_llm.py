"""The Language model page: the Ollama server's address, the model (picked from what that
server has), and a Check that says in plain words whether it answers
(:class:`~app.gui.llm_check.LlmChooser`).

When Hark uses a Hark server (the Server page), the model runs there: the page then checks the
server's models with its API key, and the address stays the server's.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import Qt
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from app.gui.bridge import Bridge
from app.gui.dialogs.settings_widgets import SettingsPage, SettingsValues
from app.gui.llm_check import (
    ADDRESS_EXAMPLE,
    LlmChooser,
    Token,
    get_ollama_text,
)
from app.settings.schema import Settings
from app.settings.secrets import SecretStore

log = logging.getLogger(__name__)


class LlmPage(SettingsPage):
    """The language model: where Ollama runs and which model writes the replies."""

    title = "Language model"
    sections = ("llm",)

    def __init__(
        self,
        settings: Settings,
        secrets: SecretStore,
        bridge: Bridge,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        remote = settings.remote
        self.on_server = remote.url is not None
        self.on_deployment = remote.use_deployment and remote.url is None
        self._checked_once = False
        llm = settings.llm
        token: Token = lambda: secrets.get("llm-token")  # noqa: E731
        if self.on_server:
            from app.compose.build import chat_settings

            llm = chat_settings(settings)
            token = lambda: secrets.get("server-api-key")  # noqa: E731
        self.chooser = LlmChooser(llm, bridge, token=token, parent=self)
        layout = QVBoxLayout(self)
        intro = QLabel(self._intro())
        intro.setWordWrap(True)
        layout.addWidget(intro)
        layout.addWidget(self.chooser)
        self.get_ollama = QLabel(get_ollama_text(llm.model))
        self.get_ollama.setWordWrap(True)
        self.get_ollama.setTextFormat(Qt.TextFormat.RichText)
        self.get_ollama.setOpenExternalLinks(True)
        self.get_ollama.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
        layout.addWidget(self.get_ollama)
        layout.addStretch(1)
        self.chooser.model.currentTextChanged.connect(
            lambda model: self.get_ollama.setText(get_ollama_text(model.strip() or llm.model))
        )
        if self.on_server or self.on_deployment:
            self.chooser.address.setEnabled(False)
            self.chooser.address.setToolTip("The Hark server's address (the Server page)")
            self.get_ollama.hide()
        if self.on_deployment:
            self.chooser.check_button.setEnabled(False)
            self.chooser.check_button.setToolTip(
                "Your Vast.ai server may be stopped while you are not talking; the tray's "
                "Remote server ▸ Status says how it is."
            )

    def _intro(self) -> str:
        if self.on_server:
            return (
                "Hark uses the language model on your Hark server (see the Server page). "
                "Pick the model it should use there."
            )
        if self.on_deployment:
            return (
                "Hark uses the language model on the server you deployed to Vast.ai. Type "
                "the model it should use there."
            )
        return (
            "Hark writes its answers with a language model that Ollama serves, on this "
            "computer or on another one (a desktop with a GPU in your network, say)."
        )

    def showEvent(self, event: QShowEvent) -> None:
        """The first time the page is shown, check the server (it fills the model list)."""
        super().showEvent(event)
        if not self._checked_once and self.chooser.check_button.isEnabled():
            self._checked_once = True
            self.chooser.start_check()

    def values(self) -> SettingsValues:
        values: dict[str, object] = {"model": self.chooser.model_name()}
        if not (self.on_server or self.on_deployment):
            values["host"] = self.chooser.host()
        return {"llm": values}

    def problem(self) -> str | None:
        if not self.chooser.model_name():
            return "Choose a language model (llama3.2:3b is a good start), or press Check."
        if not (self.on_server or self.on_deployment) and self.chooser.target() is None:
            return (
                f"The language model's address “{self.chooser.host()}” is not one Hark can "
                f"use; write it like {ADDRESS_EXAMPLE}."
            )
        return None

    def loading(self) -> bool:
        return self.chooser.checking
