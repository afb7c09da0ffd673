"""What the first-run wizard tests give the wizard: a microphone to list, scripted Google
services, and a recorder for what it saves and says."""

from __future__ import annotations

from typing import Any

from app.audio.devices import DeviceInfo
from app.google.scopes import AccountStatus
from app.gui.wizards import VoiceChoice
from app.shared.errors import ConfigError, HarkError

MIC = DeviceInfo(3, "USB Microphone", "ALSA", 1, 0, 16000.0, is_default_input=True)
"""The default input device the wizard lists."""


class ScriptedServices:
    """The two things the wizard asks of the engine: is Google connected, and connect it."""

    def __init__(self, connect: AccountStatus | HarkError) -> None:
        self.connect = connect
        self.connects = 0

    def google_connected(self) -> bool:
        return False

    async def connect_google(self) -> AccountStatus:
        self.connects += 1
        if isinstance(self.connect, HarkError):
            raise self.connect
        return self.connect


class Recorder:
    """``save`` and ``speak`` as the wizard calls them."""

    def __init__(self) -> None:
        self.saved: list[dict[str, dict[str, Any]]] = []
        self.spoken: list[tuple[str, VoiceChoice]] = []
        self.save_error: ConfigError | None = None
        self.speak_error: HarkError | None = None

    def save(self, updates: dict[str, dict[str, Any]]) -> str:
        if self.save_error is not None:
            raise self.save_error
        self.saved.append(updates)
        return "saved"

    async def speak(self, text: str, choice: VoiceChoice) -> None:
        if self.speak_error is not None:
            raise self.speak_error
        self.spoken.append((text, choice))
