"""The first-run wizard's language model check: does a server answer, with the model?

The server is Ollama, or any OpenAI-compatible one (llama.cpp's llama-server, vLLM, LM
Studio…; then an API key may be typed, which goes to the keyring at Finish). Shown when
everything runs on this computer (a Hark server brings its own model). The page checks the
address from the settings as soon as it opens (off the GUI thread). When nothing answers, or
the model is missing, it offers the ways forward:

- *Use a server I already have*: type its address, press Check (the model list fills in);
- *Rent a GPU on Vast.ai*: the Vast.ai wizard, as on the server page;
- *Install Ollama on this computer* (for Ollama only): the download link and the one command
  that gets the model.

Next is never blocked: Hark starts without a language model and keeps trying, and Settings ▸
Language model does the same check later.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QUrl, Slot
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QCommandLinkButton,
    QGroupBox,
    QLabel,
    QLineEdit,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
    QWizardPage,
)

from app.gui.llm_check import OLLAMA, OPENAI, LlmChooser
from app.gui.widgets import StatusLine
from app.gui.wizards.common import Updates
from app.llm.catalog import OLLAMA_DOWNLOAD, LlmProbe, Verdict

if TYPE_CHECKING:
    from app.gui.bridge import Bridge
    from app.gui.wizards.server_page import OpenDeploy
    from app.settings.schema import Settings
    from app.settings.secrets import SecretStore

API_KEY = "llm-api-key"
OWN_WAY = {
    OLLAMA: "Type its address above (like {example}) and press Check.",
    OPENAI: "Type its base URL above (like {example}), its API key if it needs one, and "
    "press Check.",
}

OpenUrl = Callable[[str], object]
"""Opens a web page in the user's browser (``QDesktopServices.openUrl`` in Hark)."""


def open_in_browser(url: str) -> bool:
    return QDesktopServices.openUrl(QUrl(url))


class LlmPage(QWizardPage):
    """Check the language model; when none answers, show the ways forward."""

    def __init__(
        self,
        bridge: Bridge,
        settings: Settings,
        secrets: SecretStore,
        open_deploy: OpenDeploy | None,
        *,
        open_url: OpenUrl = open_in_browser,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setTitle("The language model")
        self.setSubTitle(
            "Hark writes its answers with a language model that Ollama or an OpenAI-compatible "
            "server (llama.cpp, vLLM, LM Studio…) serves. Let's see whether one answers."
        )
        self._llm = settings.llm
        self._open_deploy = open_deploy
        self._open_url = open_url
        self.deployed = False
        self.key = QLineEdit(self)
        self.key.setEchoMode(QLineEdit.EchoMode.Password)
        self.key.setAccessibleName("API key (if the server needs one)")
        self.key.setPlaceholderText("if the server needs one")
        self.chooser = LlmChooser(
            settings.llm,
            bridge,
            token=lambda: secrets.get("llm-token"),
            api_key=lambda: secrets.get(API_KEY),
            typed_key=self.key.text,
            parent=self,
        )
        self.chooser.add_key_row("API key", self.key)
        self.key.returnPressed.connect(self.chooser.start_check)
        self.chooser.probe_finished.connect(self.on_chooser_probe_finished)
        self.chooser.provider_changed.connect(self.on_chooser_provider_changed)

        self.ways = QGroupBox("No language model yet? Ways forward", self)
        self.own = QCommandLinkButton("Use a server I already have", self._own_way(), self.ways)
        self.own.clicked.connect(self.on_own_clicked)
        self.vast = QCommandLinkButton(
            "Rent a GPU on Vast.ai",
            "Hark sets up a server with a GPU for you; you pay Vast.ai by the hour, and Hark "
            "stops it while you are not talking.",
            self.ways,
        )
        self.vast.clicked.connect(self.on_vast_clicked)
        if open_deploy is None:
            self.vast.setEnabled(False)
        self.install = QCommandLinkButton(
            "Install Ollama on this computer",
            "Opens ollama.com's download page. Install it, get the model with the command "
            "below, then press Check.",
            self.ways,
        )
        self.install.clicked.connect(self.on_install_clicked)
        self.command = QLabel(self.ways)
        self.command.setAccessibleName("The command that gets the model")
        self.command.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._show_command()
        self.chooser.model.currentTextChanged.connect(lambda _: self._show_command())
        ways = QVBoxLayout(self.ways)
        for widget in (self.own, self.vast, self.install, self.command):
            widget.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
            ways.addWidget(widget)
        self.later = StatusLine("Language model: later", self)
        for hidden in (self.ways, self.later):  # the wizard is made tall enough for them
            policy = hidden.sizePolicy()
            policy.setRetainSizeWhenHidden(True)
            hidden.setSizePolicy(policy)
        self.ways.hide()
        self._show_ollama_ways()
        layout = QVBoxLayout(self)
        layout.addWidget(self.chooser)
        layout.addWidget(self.ways)
        layout.addWidget(self.later)
        layout.addStretch(1)

    def _own_way(self) -> str:
        return OWN_WAY[self.chooser.provider()].format(example=self.chooser.example())

    def _show_ollama_ways(self) -> None:
        """Installing Ollama and pulling a model are ways forward for Ollama only."""
        ollama = self.chooser.provider() == OLLAMA
        self.install.setVisible(ollama)
        self.command.setVisible(ollama)

    def _show_command(self) -> None:
        model = self.chooser.model_name() or self._llm.model
        self.command.setText(f"Get the model: ollama pull {model}")

    @property
    def status(self) -> StatusLine:
        return self.chooser.status

    def initializePage(self) -> None:
        if self.chooser.probe is None and not self.chooser.checking and not self.deployed:
            self.chooser.start_check()

    @Slot(object)
    def on_chooser_probe_finished(self, probe: LlmProbe) -> None:
        if self.deployed:
            return
        self.ways.setVisible(not probe.ok)
        if probe.ok:
            self.later.clear_text()
        else:
            self.later.show_text(
                "info",
                "You can also go on and set this up later (Settings ▸ Language model); Hark "
                "starts without it and keeps trying.",
            )

    @Slot(str)
    def on_chooser_provider_changed(self, _provider: str) -> None:
        """Another kind of server: its own ways forward, and nothing said until Check."""
        self.own.setDescription(self._own_way())
        self._show_ollama_ways()
        if not self.deployed:
            self.ways.hide()
            self.later.clear_text()

    @Slot()
    def on_own_clicked(self) -> None:
        self.chooser.address.setFocus()
        self.chooser.address.selectAll()

    @Slot()
    def on_vast_clicked(self) -> None:
        if self._open_deploy is None:
            return
        self.deployed = self._open_deploy(self) or self.deployed
        if self.deployed:
            self.ways.hide()
            self.later.clear_text()
            self.status.show_text(
                "ok", "Your Vast.ai server is ready; Hark will use its language model."
            )
        else:
            self.status.show_text("info", "No server was deployed yet.")

    @Slot()
    def on_install_clicked(self) -> None:
        self._open_url(OLLAMA_DOWNLOAD)
        self.later.show_text(
            "info",
            f"Once Ollama is installed, run “ollama pull {self.chooser.model_name()}”, "
            "then press Check.",
        )

    def validatePage(self) -> bool:
        """Next goes on whatever the check said, but never with an address that is no URL."""
        if self.deployed or self.chooser.target() is not None:
            return True
        chooser = self.chooser
        probe = LlmProbe(
            chooser.host(), chooser.model_name(), Verdict.BAD_ADDRESS, provider=chooser.provider()
        )
        self.status.show_text("error", probe.words())
        return False

    def updates(self) -> Updates:
        """A deployed Vast.ai server, or the kind, address and model when they changed."""
        if self.deployed:
            return {"remote": {"url": None, "ca_cert": None, "use_deployment": True}}
        changed: dict[str, object] = {}
        host, model = self.chooser.host().rstrip("/"), self.chooser.model_name()
        if host and host != self._llm.host:
            changed["host"] = host
        if model and model != self._llm.model:
            changed["model"] = model
        if self.chooser.provider() != self._llm.provider:
            changed["provider"] = self.chooser.provider()
        return {"llm": changed} if changed else {}

    def secrets(self) -> dict[str, str]:
        """The API key typed for an OpenAI-compatible server (for the keyring at Finish)."""
        typed = self.key.text().strip()
        if self.deployed or self.chooser.provider() != OPENAI or not typed:
            return {}
        return {API_KEY: typed}
