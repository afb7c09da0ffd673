"""The Language model page: the kind of server (Ollama, or an OpenAI-compatible one such as
llama.cpp's llama-server, vLLM or LM Studio), its address, the API key an OpenAI-compatible
server may want, the model (picked from what that server has), and a Check that says in plain
words whether it answers (:class:`~app.gui.llm_check.LlmChooser`).

When Hark uses a Hark server (the Server page), the model runs there, on the server's Ollama:
the page then checks the server's models with its API key, and the kind and the address stay
the server's.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import Qt
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from app.gui.bridge import Bridge
from app.gui.dialogs.settings_widgets import SecretField, SettingsPage, SettingsValues
from app.gui.llm_check import OLLAMA, OPENAI, LlmChooser, Token, get_ollama_text
from app.settings.schema import Settings
from app.settings.secrets import SecretStore

log = logging.getLogger(__name__)

API_KEY = "llm-api-key"


class LlmPage(SettingsPage):
    """The language model: which server runs it, where, and which model writes the replies."""

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
        if self.elsewhere:  # a Hark server runs Ollama, whatever the page says
            llm = llm.model_copy(update={"provider": OLLAMA})
        self.api_key = SecretField(API_KEY, "API key", secrets, bridge)
        self.chooser = LlmChooser(
            llm,
            bridge,
            token=token,
            api_key=lambda: secrets.get(API_KEY),
            typed_key=self.api_key.edit.text,
            parent=self,
        )
        self.chooser.add_key_row("API key", self.api_key)
        layout = QVBoxLayout(self)
        self.intro = QLabel(self._intro())
        self.intro.setWordWrap(True)
        layout.addWidget(self.intro)
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
        self.chooser.provider_changed.connect(lambda _: self._sync())
        if self.elsewhere:
            for widget in (self.chooser.kind, self.chooser.address):
                widget.setEnabled(False)
                widget.setToolTip("The Hark server's (the Server page)")
        if self.on_deployment:
            self.chooser.check_button.setEnabled(False)
            self.chooser.check_button.setToolTip(
                "Your Vast.ai server may be stopped while you are not talking; the tray's "
                "Remote server ▸ Status says how it is."
            )
        self._sync()

    @property
    def elsewhere(self) -> bool:
        """The model runs on a Hark server (one given, or the one deployed to Vast.ai)."""
        return self.on_server or self.on_deployment

    def openai(self) -> bool:
        return self.chooser.provider() == OPENAI and not self.elsewhere

    def _sync(self) -> None:
        self.intro.setText(self._intro())
        self.get_ollama.setVisible(not self.elsewhere and not self.openai())

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
        if self.openai():
            return (
                "Hark writes its answers with a language model on a server that speaks "
                "OpenAI's API: llama.cpp's llama-server, vLLM, LM Studio, LocalAI, or a "
                "hosted service. Give its base URL (ending in /v1) and, if it wants one, "
                "its API key."
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
        if not self.elsewhere:
            values["host"] = self.chooser.host()
            values["provider"] = self.chooser.provider()
        return {"llm": values}

    def problem(self) -> str | None:
        if not self.chooser.model_name():
            if self.openai():
                return (
                    "Type the model the server serves (as the server names it), or press "
                    "Check to list them."
                )
            return "Choose a language model (llama3.2:3b is a good start), or press Check."
        if not self.elsewhere and self.chooser.target() is None:
            what = "base URL" if self.openai() else "address"
            return (
                f"The language model server's {what} “{self.chooser.host()}” is not one Hark "
                f"can use; write it like {self.chooser.example()}."
            )
        return None

    def secret_changes(self) -> dict[str, str | None]:
        """The API key, when an OpenAI-compatible server is chosen and the key was changed."""
        changed, value = self.api_key.change()
        return {API_KEY: value} if changed and self.openai() else {}

    def loading(self) -> bool:
        return self.chooser.checking or self.api_key.loading
