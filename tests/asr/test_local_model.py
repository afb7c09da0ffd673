"""LocalWhisper with the real Whisper tiny.en model on real speech spoken by Piper."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Literal

import pytest

from app.asr.local import LocalWhisper
from app.shared.errors import AsrError
from tests.support.speech import noise, silence, speak_native, speech_clip, tiny_settings, words

pytestmark = pytest.mark.slow


async def test_hears_a_question(whisper: LocalWhisper) -> None:
    clip = speech_clip("What time is it?")
    result = await whisper.transcribe(clip.pcm, 16_000)
    assert words(result.text) == ["what", "time", "is", "it"]
    assert result.text == result.text.strip()
    assert result.language == "en"
    assert result.audio_s == pytest.approx(clip.duration_s)
    assert result.no_speech_prob is not None
    assert result.no_speech_prob < 0.6


async def test_hears_a_command(whisper: LocalWhisper) -> None:
    clip = speech_clip("Schedule a meeting with Alice tomorrow.")
    result = await whisper.transcribe(clip.pcm, 16_000)
    assert {"schedule", "meeting", "alice", "tomorrow"} <= set(words(result.text))
    assert "  " not in result.text


async def test_resamples_piper_rate_input(whisper: LocalWhisper) -> None:
    pcm, rate = speak_native("Read my latest email.")
    assert rate == 22_050
    result = await whisper.transcribe(pcm, rate)
    assert {"read", "latest", "email"} <= set(words(result.text))
    assert result.audio_s == pytest.approx(len(pcm) / 2 / 22_050)


async def test_hears_speech_through_noise(whisper: LocalWhisper) -> None:
    clip = speech_clip("What is on my calendar today?", noise_dbfs=-40, seed=3)
    result = await whisper.transcribe(clip.pcm, 16_000)
    assert {"calendar", "today"} <= set(words(result.text))


async def test_silence_gives_no_text(whisper: LocalWhisper) -> None:
    result = await whisper.transcribe(silence(2.0), 16_000)
    assert result.text == ""
    assert result.audio_s == pytest.approx(2.0)


async def test_near_silent_hiss_gives_no_text(whisper: LocalWhisper) -> None:
    result = await whisper.transcribe(noise(2.0, dbfs=-65, seed=1), 16_000)
    assert result.text == ""


@pytest.mark.parametrize("color", ["white", "pink"])
@pytest.mark.parametrize("level", [-35.0, -25.0])
async def test_noise_gives_no_text(
    whisper: LocalWhisper, color: Literal["white", "pink"], level: float
) -> None:
    # Loud enough to pass the energy gate: the VAD and Whisper's own checks must reject it.
    result = await whisper.transcribe(noise(3.0, dbfs=level, color=color, seed=7), 16_000)
    assert result.text == ""


async def test_concurrent_calls_each_get_their_own_text(whisper: LocalWhisper) -> None:
    phrases = ["What time is it?", "Schedule a meeting with Alice tomorrow.", "Good morning."]
    clips = [speech_clip(p, lead_silence_s=0.2, trail_silence_s=0.3) for p in phrases]
    results = await asyncio.gather(*(whisper.transcribe(c.pcm, 16_000) for c in clips))
    assert "time" in words(results[0].text)
    assert "alice" in words(results[1].text)
    assert "morning" in words(results[2].text)


async def test_auto_language_restricted_to_english(tiny_en_dir: Path) -> None:
    w = LocalWhisper(tiny_settings(tiny_en_dir, language="auto", languages=["en"]))
    loaded_before = w.loaded
    result = await w.transcribe(speech_clip("Turn off the lights.").pcm, 16_000)
    assert (loaded_before, w.loaded) == (False, True)  # the first call loads the model
    assert result.language == "en"
    assert {"turn", "off", "lights"} <= set(words(result.text))


async def test_english_only_model_refuses_german(tiny_en_dir: Path) -> None:
    w = LocalWhisper(tiny_settings(tiny_en_dir, language="de"))
    with pytest.raises(AsrError) as err:
        await w.load()
    assert err.value.code == "asr-language-unsupported"
    assert "English only" in err.value.message
    assert "HARK_ASR__LANGUAGE=en" in err.value.message
    assert not w.loaded


async def test_english_only_model_refuses_a_list_without_english(tiny_en_dir: Path) -> None:
    w = LocalWhisper(tiny_settings(tiny_en_dir, language="auto", languages=["de", "fr"]))
    with pytest.raises(AsrError) as err:
        await w.load()
    assert err.value.code == "asr-language-unsupported"


async def test_model_name_is_found_in_the_cache_without_network(
    tiny_en_dir: Path, tmp_path: Path, dead_hub: str
) -> None:
    # Lay tiny.en out as the Hub client caches it; the dead endpoint proves no download ran.
    repo = tmp_path / "models--Systran--faster-whisper-tiny.en"
    commit = "0123456789abcdef0123456789abcdef01234567"
    snap = repo / "snapshots" / commit
    snap.mkdir(parents=True)
    for f in tiny_en_dir.iterdir():
        (snap / f.name).symlink_to(f)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)

    seen: list[tuple[str, int]] = []
    w = LocalWhisper(
        tiny_settings(Path("unused"), model="tiny.en", download_root=tmp_path),
        progress=lambda m: seen.append((m, threading.get_ident())),
        hub_endpoint=dead_hub,
    )
    status = await w.check()
    assert status.ok, status.message
    assert status.message == "Whisper tiny.en on cpu (int8)"
    assert (w.device, w.compute_type) == ("cpu", "int8")
    # The worker queued its progress calls on the loop before the call's own result, so
    # they have run by now.
    messages = [m for m, _ in seen]
    assert messages == ["Loading Whisper tiny.en on cpu (int8)", "Whisper tiny.en ready"]
    assert {ident for _, ident in seen} == {threading.get_ident()}  # delivered on the loop
    result = await w.transcribe(speak_native("Good night.")[0], 22_050)
    assert "night" in words(result.text)
