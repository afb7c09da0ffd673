"""What the Settings dialog and the setup wizard are built with, as one value: the settings
they show, what they may ask of the engine, the bridge to the engine loop, and the keyring.

The app makes a fresh :class:`GuiContext` each time it opens one of those windows (the
settings may have changed since the last); tests build one over fakes.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.gui.bridge import Bridge
from app.gui.services import Services
from app.settings.schema import Settings
from app.settings.secrets import SecretStore


@dataclass(frozen=True, slots=True)
class GuiContext:
    """The settings, services, bridge and secrets a window works with."""

    settings: Settings
    services: Services
    bridge: Bridge
    secrets: SecretStore
