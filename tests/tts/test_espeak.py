"""EspeakVoice with the real espeak-ng program, and its streamed-WAV parser."""

from __future__ import annotations

import os
import shutil
import struct
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from app.shared.errors import TtsError
from app.tts.espeak import ESPEAK_RATE, EspeakVoice, WavStreamParser

needs_espeak = pytest.mark.skipif(
    shutil.which("espeak-ng") is None,
    reason="espeak-ng is not installed (apt-get install espeak-ng); CI installs it",
)


async def _collect(chunks: AsyncIterator[bytes]) -> bytes:
    return b"".join([c async for c in chunks])


def _espeak_children() -> list[int]:
    """PIDs of espeak-ng processes this test process started and has not reaped."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)
            comm = fields[0].split("(", 1)[1]
            ppid = int(fields[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if comm.startswith("espeak") and ppid == os.getpid():
            found.append(int(stat.parent.name))
    return found


@needs_espeak
async def test_speaks_with_energy_and_plausible_length() -> None:
    voice = EspeakVoice()
    assert voice.sample_rate == ESPEAK_RATE == 22050
    assert voice.name == "espeak"

    pcm = await _collect(voice.synthesize("Your next meeting is at three o'clock."))

    x = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    assert 1.0 < len(x) / ESPEAK_RATE < 6.0
    assert np.sqrt(np.mean(x**2)) > 300  # speech, not silence


@needs_espeak
async def test_speed_changes_the_length() -> None:
    text = "One two three four five six seven eight."
    slow = await _collect(EspeakVoice(speed=0.6).synthesize(text))
    fast = await _collect(EspeakVoice(speed=2.0).synthesize(text))
    assert len(slow) > 2 * len(fast)


@needs_espeak
async def test_text_is_not_read_as_options() -> None:
    pcm = await _collect(EspeakVoice().synthesize("--help -v xx"))
    assert len(pcm) > ESPEAK_RATE // 2  # it was spoken, not parsed


@needs_espeak
async def test_unknown_voice_is_an_error() -> None:
    with pytest.raises(TtsError) as info:
        await _collect(EspeakVoice(voice="xx-no-such-voice").synthesize("hello"))
    assert info.value.code == "tts-espeak-failed"
    assert "xx-no-such-voice" in info.value.message


@needs_espeak
async def test_closing_early_kills_espeak() -> None:
    gen = EspeakVoice().synthesize("This is a rather long text. " * 200)
    assert await anext(gen)
    assert _espeak_children()  # still speaking (it blocks on the full pipe)
    await gen.aclose()
    assert _espeak_children() == []


async def test_missing_program_says_how_to_install(tmp_path: Path) -> None:
    voice = EspeakVoice(binary=str(tmp_path / "espeak-ng"))
    with pytest.raises(TtsError) as info:
        await _collect(voice.synthesize("hello"))
    assert info.value.code == "tts-espeak-missing"
    assert "sudo apt-get install espeak-ng" in info.value.message


def _wav_header(rate: int, channels: int, bogus: int = 0x7FFFF000) -> bytes:
    fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * 2 * channels, 2 * channels, 16)
    return (
        b"RIFF"
        + struct.pack("<I", bogus)
        + b"WAVE"
        + b"fmt "
        + struct.pack("<I", len(fmt))
        + fmt
        + b"LIST"
        + struct.pack("<I", 3)
        + b"abc\0"  # an odd-sized extra chunk, padded
        + b"data"
        + struct.pack("<I", bogus)
    )


def test_parser_takes_a_byte_at_a_time_and_ignores_bogus_lengths() -> None:
    samples = (np.arange(1000, dtype=np.int16) * 7).astype("<i2").tobytes()
    stream = _wav_header(22050, 1) + samples
    parser = WavStreamParser(22050)
    out = b"".join(parser.feed(stream[i : i + 1]) for i in range(len(stream)))
    assert parser.header_done
    assert out == samples


def test_parser_mixes_stereo_and_resamples() -> None:
    t = np.arange(16000) / 16000
    tone = np.round(np.sin(2 * np.pi * 440 * t) * 8000).astype("<i2")
    stereo = np.repeat(tone, 2).astype("<i2").tobytes()
    stream = _wav_header(16000, 2) + stereo
    parser = WavStreamParser(22050)
    out = b"".join(parser.feed(stream[i : i + 4001]) for i in range(0, len(stream), 4001))
    y = np.frombuffer(out, dtype="<i2")
    assert abs(len(y) - 22050) < 100
    spectrum = np.abs(np.fft.rfft(y))
    assert abs(np.argmax(spectrum) * 22050 / len(y) - 440) < 5


def test_parser_rejects_a_non_wav_stream() -> None:
    with pytest.raises(TtsError) as info:
        WavStreamParser(22050).feed(b"Error: something went wrong\n")
    assert info.value.code == "tts-espeak-failed"
