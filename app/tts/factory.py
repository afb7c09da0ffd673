"""Build the voice the settings ask for (the composition root calls this once).

Heavy libraries (the ElevenLabs SDK, Piper and onnxruntime) are imported only when a voice
first speaks, so building a voice, and importing :mod:`app.tts`, stays cheap.
"""

from __future__ import annotations

import logging
from typing import Literal

from app.core.ports import Synthesizer
from app.settings.schema import TtsSettings
from app.settings.secrets import SecretStore
from app.shared.errors import TtsError
from app.tts.elevenlabs import ElevenLabsVoice
from app.tts.espeak import EspeakVoice
from app.tts.fallback import FallbackVoice, Notice
from app.tts.piper import PiperLocalVoice

log = logging.getLogger(__name__)


def build_local_voice(engine: Literal["piper", "espeak"], settings: TtsSettings) -> Synthesizer:
    """A local voice by name; raises ``TtsError`` if Piper's voice files are missing."""
    if engine == "piper":
        return PiperLocalVoice(settings.piper_voice, settings.speed)
    return EspeakVoice(settings.espeak_voice, settings.speed)


def build_voice(
    settings: TtsSettings, secrets: SecretStore, on_notice: Notice | None = None
) -> Synthesizer | None:
    """The configured voice, or None for text-only replies (``tts.engine = "none"``).

    ElevenLabs is always wrapped in :class:`FallbackVoice` with ``tts.fallback`` behind it
    (none: its errors are raised). A fallback that cannot be built (Piper's voice missing) is
    reported through ``on_notice`` and left out rather than stopping Hark from starting.
    """
    if settings.engine == "none":
        log.info("voice: none (text replies only)")
        return None
    if settings.engine in ("piper", "espeak"):
        voice = build_local_voice(settings.engine, settings)
        log.info("voice: %s", voice.name)
        return voice
    primary = ElevenLabsVoice(settings.elevenlabs, secrets.get("elevenlabs-api-key"))
    fallback: Synthesizer | None = None
    if settings.fallback != "none":
        try:
            fallback = build_local_voice(settings.fallback, settings)
        except TtsError as exc:
            log.warning("fallback voice %s unavailable: %s", settings.fallback, exc.code)
            if on_notice is not None:
                on_notice(exc.code, f"The fallback voice is unavailable: {exc.message}")
    log.info(
        "voice: elevenlabs (key %s), fallback %s",
        "set" if primary.has_key else "missing",
        fallback.name if fallback is not None else "none",
    )
    return FallbackVoice(primary, fallback, on_notice)
