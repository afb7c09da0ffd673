"""build_voice: each engine setting gives the right voice, wired to the right collaborators."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from app.settings.schema import ElevenLabsSettings, TtsSettings
from app.settings.secrets import SecretStore
from app.shared.errors import TtsError
from app.tts import build_voice
from app.tts.elevenlabs import ElevenLabsVoice
from app.tts.espeak import EspeakVoice
from app.tts.fallback import FallbackVoice
from app.tts.piper import PiperLocalVoice
from tests.fakes.elevenlabs import DEFAULT_KEY, FakeElevenLabs

NOBODY = SecretStore(env={})


def _notices() -> tuple[list[tuple[str, str]], Any]:
    got: list[tuple[str, str]] = []
    return got, lambda code, message: got.append((code, message))


def test_none_means_text_only() -> None:
    assert build_voice(TtsSettings(engine="none"), NOBODY, None) is None


def test_piper_with_speed_and_the_bundled_voice() -> None:
    voice = build_voice(TtsSettings(engine="piper", speed=1.5), NOBODY, None)
    assert isinstance(voice, PiperLocalVoice)
    assert voice.sample_rate == 22050
    assert voice.name == "piper"


def test_piper_with_a_missing_voice_file_fails_at_build(tmp_path: Path) -> None:
    settings = TtsSettings(engine="piper", piper_voice=tmp_path / "gone.onnx")
    with pytest.raises(TtsError) as info:
        build_voice(settings, NOBODY, None)
    assert info.value.code == "tts-piper-voice-missing"


def test_espeak_gets_its_voice_and_speed() -> None:
    voice = build_voice(TtsSettings(engine="espeak", espeak_voice="en-gb"), NOBODY, None)
    assert isinstance(voice, EspeakVoice)
    assert voice.name == "espeak"
    assert voice.sample_rate == 22050


@pytest.mark.parametrize(
    ("fallback", "kind"), [("piper", PiperLocalVoice), ("espeak", EspeakVoice)]
)
def test_elevenlabs_is_wrapped_with_the_chosen_fallback(fallback: Any, kind: type) -> None:
    voice = build_voice(TtsSettings(engine="elevenlabs", fallback=fallback), NOBODY, None)
    assert isinstance(voice, FallbackVoice)
    assert isinstance(voice.primary, ElevenLabsVoice)
    assert isinstance(voice.fallback, kind)


def test_elevenlabs_without_fallback() -> None:
    voice = build_voice(TtsSettings(engine="elevenlabs", fallback="none"), NOBODY, None)
    assert isinstance(voice, FallbackVoice)
    assert voice.fallback is None


def test_unavailable_fallback_is_left_out_with_a_notice(tmp_path: Path) -> None:
    got, notice = _notices()
    settings = TtsSettings(engine="elevenlabs", fallback="piper", piper_voice=tmp_path / "x.onnx")
    voice = build_voice(settings, NOBODY, notice)
    assert isinstance(voice, FallbackVoice)
    assert voice.fallback is None
    assert [code for code, _ in got] == ["tts-piper-voice-missing"]


async def test_elevenlabs_key_comes_from_the_keyring(fake_elevenlabs: FakeElevenLabs) -> None:
    secrets = SecretStore(env={})
    secrets.set("elevenlabs-api-key", DEFAULT_KEY)  # the test keyring (tests/conftest.py)
    settings = TtsSettings(
        engine="elevenlabs",
        fallback="none",
        elevenlabs=ElevenLabsSettings(base_url=fake_elevenlabs.url),
    )
    voice = build_voice(settings, secrets, None)
    assert isinstance(voice, FallbackVoice)
    try:
        pcm = b"".join([c async for c in voice.synthesize("Hello.")])
    finally:
        voice.close()
    assert pcm == fake_elevenlabs.pcm_for("Hello.")
    assert fake_elevenlabs.requests[0].key_valid


@pytest.mark.skipif(
    shutil.which("espeak-ng") is None,
    reason="espeak-ng is not installed (apt-get install espeak-ng); CI installs it",
)
async def test_missing_key_falls_back_with_a_notice() -> None:
    got, notice = _notices()
    voice = build_voice(TtsSettings(engine="elevenlabs", fallback="espeak"), NOBODY, notice)
    assert isinstance(voice, FallbackVoice)
    assert isinstance(voice.primary, ElevenLabsVoice)
    assert not voice.primary.has_key

    pcm = b"".join([c async for c in voice.synthesize("Hello.")])

    assert len(pcm) > 16000 // 4  # espeak spoke, resampled to 16 kHz
    assert voice.name == "elevenlabs→espeak"
    assert [code for code, _ in got] == ["tts-elevenlabs-no-key"]
    assert "hark secret set elevenlabs-api-key" in got[0][1]


def test_importing_app_tts_loads_no_heavy_library() -> None:
    code = (
        "import sys, app.tts; "
        "heavy = [m for m in ('elevenlabs', 'piper', 'onnxruntime', 'httpx') if m in sys.modules]; "
        "print(heavy); sys.exit(1 if heavy else 0)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert result.returncode == 0, result.stdout + result.stderr
