"""The first-run wizard's voice: ElevenLabs (with its key) or the local Piper voice, with a
"Say hello" button so you hear the choice before keeping it.

Speaking goes through an injected ``speak(text, choice)`` coroutine function run on the engine
loop (:func:`default_speak` builds the real voice and plays it on the speaker; tests record
what was asked). The ElevenLabs key is never shown back: a stored key reads as "stored".
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from PySide6.QtCore import Slot
from PySide6.QtWidgets import (
    QButtonGroup,
    QFormLayout,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
    QWizardPage,
)

from app.gui.bridge import Bridge, while_alive
from app.gui.widgets import StatusLine
from app.gui.wizards.common import Updates
from app.gui.wording import user_message

if TYPE_CHECKING:
    from app.settings.schema import Settings
    from app.settings.secrets import SecretStore

log = logging.getLogger(__name__)

ELEVENLABS_SECRET = "elevenlabs-api-key"
HELLO = "Hello! I'm Hark. Nice to meet you."


@dataclass(frozen=True, slots=True)
class VoiceChoice:
    """The voice picked on the page; ``elevenlabs_key`` is the typed or stored key."""

    engine: Literal["elevenlabs", "piper"]
    elevenlabs_key: str | None = None


Speak = Callable[[str, VoiceChoice], Awaitable[None]]
"""Says ``text`` in the chosen voice; runs on the engine loop; raises ``HarkError``."""


def default_speak(settings: Settings) -> Speak:
    """The real voice on the real speaker (the composition root passes this)."""

    async def speak(text: str, choice: VoiceChoice) -> None:
        from app.audio.playback import SoundDevicePlayer
        from app.core.ports import Synthesizer
        from app.tts.elevenlabs import ElevenLabsVoice
        from app.tts.factory import build_local_voice

        voice: Synthesizer
        if choice.engine == "elevenlabs":
            voice = ElevenLabsVoice(settings.tts.elevenlabs, choice.elevenlabs_key)
        else:
            voice = build_local_voice("piper", settings.tts)
        player = SoundDevicePlayer(settings.audio.output_device)
        await player.start(voice.sample_rate)
        try:
            async for chunk in voice.synthesize(text):
                await player.write(chunk)
            await player.drain()
        finally:
            await player.aclose()

    return speak


class VoicePage(QWizardPage):
    """How Hark's replies sound."""

    def __init__(
        self,
        bridge: Bridge,
        settings: Settings,
        secrets: SecretStore,
        speak: Speak,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setTitle("Voice")
        self.setSubTitle("Pick how Hark sounds, then press Say hello to hear it.")
        self._bridge = bridge
        self._speak = speak
        self._stored_key = secrets.get(ELEVENLABS_SECRET)
        self.speaking = False

        self.elevenlabs = QRadioButton("ElevenLabs (natural; online, needs an API key)", self)
        self.local = QRadioButton("A voice on this computer (Piper; private, offline)", self)
        self.choice = QButtonGroup(self)
        self.choice.addButton(self.elevenlabs, 0)
        self.choice.addButton(self.local, 1)
        for button in (self.elevenlabs, self.local):
            button.setAccessibleName(button.text())
        self.key = QLineEdit(self)
        self.key.setEchoMode(QLineEdit.EchoMode.Password)
        self.key.setAccessibleName("ElevenLabs API key")
        self.key.setPlaceholderText(
            "stored (type a new key to replace it)"
            if self._stored_key
            else "from elevenlabs.io → Profile → API keys"
        )
        self.key_form = QWidget(self)
        form = QFormLayout(self.key_form)
        form.setContentsMargins(24, 0, 0, 0)
        form.addRow("API key:", self.key)
        self.hello = QPushButton("Say hello", self)
        self.hello.setAccessibleName("Say hello")
        self.hello.clicked.connect(self.on_hello_clicked)
        self.status = StatusLine("Voice status", self)

        layout = QVBoxLayout(self)
        layout.addWidget(self.elevenlabs)
        layout.addWidget(self.key_form)
        layout.addWidget(self.local)
        layout.addWidget(self.hello)
        layout.addWidget(self.status)
        layout.addStretch(1)

        local = settings.tts.engine in ("piper", "espeak")
        (self.local if local else self.elevenlabs).setChecked(True)
        self.choice.idToggled.connect(self.on_choice_toggled)
        self.key.textChanged.connect(self.on_key_text_changed)
        self._refresh()

    def voice(self) -> VoiceChoice:
        if self.elevenlabs.isChecked():
            return VoiceChoice("elevenlabs", self.key.text().strip() or self._stored_key)
        return VoiceChoice("piper")

    def isComplete(self) -> bool:
        choice = self.voice()
        return not self.speaking and (choice.engine != "elevenlabs" or bool(choice.elevenlabs_key))

    def _refresh(self) -> None:
        self.key_form.setEnabled(self.elevenlabs.isChecked())
        self.hello.setEnabled(self.isComplete())
        self.completeChanged.emit()

    @Slot(int, bool)
    def on_choice_toggled(self, _id: int, checked: bool) -> None:
        if checked:
            self.status.clear_text()
            self._refresh()

    @Slot(str)
    def on_key_text_changed(self, _text: str) -> None:
        self.status.clear_text()
        self._refresh()

    @Slot()
    def on_hello_clicked(self) -> None:
        if not self.isComplete():
            return
        self.speaking = True
        self._refresh()
        self.status.show_text("busy", "Speaking…")
        self._bridge.run(
            self._speak(HELLO, self.voice()),
            while_alive(self, self._on_spoken),
            while_alive(self, self._on_failed),
        )

    def _on_spoken(self, _: object) -> None:
        self.speaking = False
        self._refresh()
        self.status.show_text("ok", "Did you hear it? If not, check your speaker and volume.")

    def _on_failed(self, error: BaseException) -> None:
        self.speaking = False
        self._refresh()
        message = user_message(error, "The voice test")
        log.warning("voice test failed: %s", getattr(error, "code", type(error).__name__))
        self.status.show_text("error", f"Hark could not speak: {message}")

    def updates(self) -> Updates:
        return {"tts": {"engine": self.voice().engine}}

    def secrets(self) -> dict[str, str]:
        typed = self.key.text().strip()
        return {ELEVENLABS_SECRET: typed} if self.elevenlabs.isChecked() and typed else {}
