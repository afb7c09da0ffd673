"""Text to speech: the hosted ElevenLabs voice, local Piper and espeak-ng voices, and the
fallback chain between them. Every voice implements :class:`app.core.ports.Synthesizer`.

Importing this package is cheap: the ElevenLabs SDK, Piper and onnxruntime load on first use.
"""

from __future__ import annotations

from app.tts.elevenlabs import ElevenLabsVoice
from app.tts.espeak import EspeakVoice
from app.tts.factory import build_local_voice, build_voice
from app.tts.fallback import FallbackVoice
from app.tts.piper import PiperLocalVoice

__all__ = [
    "ElevenLabsVoice",
    "EspeakVoice",
    "FallbackVoice",
    "PiperLocalVoice",
    "build_local_voice",
    "build_voice",
]
