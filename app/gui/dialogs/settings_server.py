"""The Server and Voice pages: where the heavy models run, and who speaks the replies.

API keys typed here go to the OS keyring at Save (``server-api-key``, ``elevenlabs-api-key``),
never to the settings file, and are never shown again: the page only says whether one is
stored.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from app.gui.bridge import Bridge
from app.gui.dialogs.settings_widgets import (
    PathPicker,
    SecretField,
    SettingsPage,
    SettingsValues,
    optional_text,
)
from app.settings.schema import Settings
from app.settings.secrets import SecretStore

log = logging.getLogger(__name__)

SERVER_KEY = "server-api-key"
ELEVENLABS_KEY = "elevenlabs-api-key"
TTS_ENGINES = {
    "elevenlabs": "ElevenLabs (online, most natural)",
    "piper": "Piper (on this computer)",
    "espeak": "eSpeak (on this computer, robotic)",
    "none": "No voice (text only)",
}
FALLBACKS = {"piper": "Piper", "espeak": "eSpeak", "none": "Nothing (stay silent)"}


class ServerPage(SettingsPage):
    """Run speech recognition and the language model here, on a Hark server, or on the server
    Hark deployed to Vast.ai."""

    title = "Server"
    sections = ("remote",)
    deploy_clicked = Signal()

    def __init__(
        self,
        settings: Settings,
        secrets: SecretStore,
        bridge: Bridge,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        remote = settings.remote
        outer = QVBoxLayout(self)
        self.local = QRadioButton("On this computer")
        self.server = QRadioButton("On a Hark server:")
        self.deployed = QRadioButton("On the server I deployed to Vast.ai")
        self.choice = QButtonGroup(self)
        for i, button in enumerate((self.local, self.server, self.deployed)):
            button.setAccessibleName(button.text().rstrip(":"))
            self.choice.addButton(button, i)
            outer.addWidget(button)
        form = QFormLayout()
        self.url = QLineEdit(remote.url or "")
        self.url.setPlaceholderText("https://203.0.113.7:41234")
        self.url.setAccessibleName("Server address")
        form.addRow("Address", self.url)
        self.key = SecretField(SERVER_KEY, "Server API key", secrets, bridge)
        form.addRow("API key", self.key)
        self.ca_cert = PathPicker(
            remote.ca_cert,
            placeholder="the server's certificate (PEM), for a self-signed server",
            caption="Server certificate",
            file_filter="Certificates (*.pem *.crt);;All files (*)",
        )
        form.addRow("Certificate", self.ca_cert)
        outer.addLayout(form)
        self.deploy = QPushButton("Deploy to Vast.ai…")
        self.deploy.setAccessibleName("Deploy to Vast.ai")
        self.deploy.clicked.connect(self.deploy_clicked)
        outer.addWidget(self.deploy, 0, Qt.AlignmentFlag.AlignLeft)
        hint = QLabel(
            "A GPU server answers much faster. Deploy one on Vast.ai (you pay Vast.ai by the "
            "hour; Hark stops it when you are not talking), or point Hark at your own."
        )
        hint.setWordWrap(True)
        outer.addWidget(hint)
        outer.addStretch(1)
        if remote.url:
            self.server.setChecked(True)
        elif remote.use_deployment:
            self.deployed.setChecked(True)
        else:
            self.local.setChecked(True)
        self.choice.idToggled.connect(lambda _, __: self._sync())
        self._sync()

    def _sync(self) -> None:
        on_server = self.server.isChecked()
        for widget in (self.url, self.ca_cert):
            widget.setEnabled(on_server)

    def values(self) -> SettingsValues:
        on_server = self.server.isChecked()
        return {
            "remote": {
                "url": optional_text(self.url) if on_server else None,
                "ca_cert": self.ca_cert.path() if on_server else None,
                "use_deployment": self.deployed.isChecked(),
            }
        }

    def problem(self) -> str | None:
        if self.server.isChecked() and not self.url.text().strip():
            return (
                "Type the Hark server's address (like https://203.0.113.7:41234), or choose "
                "“On this computer”."
            )
        cert = self.ca_cert.path()
        if self.server.isChecked() and cert is not None and not cert.is_file():
            return f"The certificate file {cert} does not exist; choose the server's .pem file."
        return None

    def secret_changes(self) -> dict[str, str | None]:
        changed, value = self.key.change()
        return {SERVER_KEY: value} if changed else {}

    def loading(self) -> bool:
        return self.key.loading


class VoicePage(SettingsPage):
    """Which voice speaks, its key and voice id, and the local voice to fall back on."""

    title = "Voice"
    sections = ("tts",)

    def __init__(
        self,
        settings: Settings,
        secrets: SecretStore,
        bridge: Bridge,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        tts = settings.tts
        form = QFormLayout(self)
        self.engine = QComboBox()
        self.engine.setAccessibleName("Voice engine")
        for key, label in TTS_ENGINES.items():
            self.engine.addItem(label, key)
        self.engine.setCurrentIndex(max(0, self.engine.findData(tts.engine)))
        form.addRow("Voice", self.engine)
        self.key = SecretField(ELEVENLABS_KEY, "ElevenLabs API key", secrets, bridge)
        form.addRow("ElevenLabs key", self.key)
        self.voice_id = QLineEdit(tts.elevenlabs.voice_id)
        self.voice_id.setAccessibleName("ElevenLabs voice id")
        form.addRow("ElevenLabs voice id", self.voice_id)
        self.fallback = QComboBox()
        self.fallback.setAccessibleName("Fallback voice")
        for key, label in FALLBACKS.items():
            self.fallback.addItem(label, key)
        self.fallback.setCurrentIndex(max(0, self.fallback.findData(tts.fallback)))
        form.addRow("When it fails, use", self.fallback)
        self.piper_voice = PathPicker(
            tts.piper_voice,
            placeholder="the voice that comes with Hark",
            caption="Piper voice",
            file_filter="Piper voices (*.onnx);;All files (*)",
        )
        form.addRow("Local voice", self.piper_voice)
        self.engine.currentIndexChanged.connect(lambda _: self._sync())
        self._sync()

    def _sync(self) -> None:
        hosted = self.engine.currentData() == "elevenlabs"
        self.key.setEnabled(hosted)
        self.voice_id.setEnabled(hosted)

    def values(self) -> SettingsValues:
        return {
            "tts": {
                "engine": self.engine.currentData(),
                "fallback": self.fallback.currentData(),
                "piper_voice": self.piper_voice.path(),
                "elevenlabs": {"voice_id": self.voice_id.text().strip()},
            }
        }

    def problem(self) -> str | None:
        if self.engine.currentData() == "elevenlabs" and not self.voice_id.text().strip():
            return (
                "Type an ElevenLabs voice id (the default is 21m00Tcm4TlvDq8ikWAM), or pick "
                "another voice."
            )
        voice = self.piper_voice.path()
        if voice is not None and not voice.is_file():
            return f"The Piper voice {voice} does not exist; choose its .onnx file."
        return None

    def secret_changes(self) -> dict[str, str | None]:
        changed, value = self.key.change()
        return {ELEVENLABS_KEY: value} if changed else {}

    def loading(self) -> bool:
        return self.key.loading
