"""The first-run wizard (microphone, server, voice, Google) and the Vast.ai deploy wizard."""

from __future__ import annotations

from app.gui.wizards.deploy import RemoteWizard
from app.gui.wizards.first_run import FirstRunWizard
from app.gui.wizards.voice_page import VoiceChoice

__all__ = ["FirstRunWizard", "RemoteWizard", "VoiceChoice"]
