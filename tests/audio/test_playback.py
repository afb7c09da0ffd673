"""Sinks that need no sound card: the WAV file (``hark ask --out``) and the null sink.

The speaker itself is exercised through PortAudio in test_portaudio.py.
"""

from __future__ import annotations

import time
import wave
from pathlib import Path

import numpy as np
import pytest

from app.audio.playback import NullSink, SoundDevicePlayer, WavFileSink
from app.audio.wavio import read_wav
from app.core.ports import AudioSink
from app.shared.errors import AudioError


def reply(n: int, seed: int = 0) -> bytes:
    return np.random.default_rng(seed).integers(-9000, 9000, n, dtype=np.int16).tobytes()


def wav_content(path: Path) -> tuple[int, bytes]:
    with wave.open(str(path)) as w:
        assert (w.getnchannels(), w.getsampwidth()) == (1, 2)
        return w.getframerate(), w.readframes(w.getnframes())


def test_the_sinks_fit_the_port() -> None:
    sinks: list[AudioSink] = [WavFileSink("x.wav"), NullSink(), SoundDevicePlayer()]
    assert all(s.first_sample_at is None for s in sinks)


async def test_wav_sink_writes_the_reply_as_it_comes(tmp_path: Path) -> None:
    path = tmp_path / "reply.wav"
    sink = WavFileSink(path)
    pcm = reply(22050)
    await sink.start(22050)
    assert wav_content(path) == (22050, b"")  # a valid, empty WAV from the start

    before = time.monotonic()
    for i in range(0, len(pcm), 4000):
        await sink.write(pcm[i : i + 4000])
        if i == 0:
            after_first = time.monotonic()
    await sink.drain()

    assert sink.first_sample_at is not None
    assert before <= sink.first_sample_at <= after_first
    assert wav_content(path) == (22050, pcm)  # complete before aclose()
    assert sink.samples_written == 22050
    await sink.aclose()
    assert wav_content(path) == (22050, pcm)


async def test_wav_sink_stop_keeps_a_valid_file_with_what_was_written(tmp_path: Path) -> None:
    path = tmp_path / "cut.wav"
    sink = WavFileSink(path)
    pcm = reply(16000)
    await sink.start(16000)
    await sink.write(pcm[:6000])

    sink.stop()  # barge-in
    await sink.write(pcm[6000:])
    await sink.drain()

    assert wav_content(path) == (16000, pcm[:6000])
    data, info = read_wav(path)
    assert data == pcm[:6000]
    assert info.frames == 3000
    await sink.aclose()


async def test_wav_sink_takes_a_second_reply_at_another_rate(tmp_path: Path) -> None:
    path = tmp_path / "two.wav"
    sink = WavFileSink(path)
    await sink.start(16000)
    await sink.write(reply(16000, 1))
    first_at = sink.first_sample_at
    await sink.drain()

    await sink.start(32000)  # resampled to the file's 16 kHz
    reset_at = sink.first_sample_at
    await sink.write(reply(32000, 2))
    await sink.drain()
    await sink.aclose()

    rate, data = wav_content(path)
    assert rate == 16000
    assert sink.sample_rate == 16000
    assert abs(len(data) // 2 - (16000 + 16000)) <= 64  # the resampler holds back a few
    assert data[:32000] == reply(16000, 1)
    second_at = sink.first_sample_at
    assert reset_at is None
    assert first_at is not None
    assert second_at is not None
    assert second_at >= first_at


async def test_wav_sink_must_be_started(tmp_path: Path) -> None:
    with pytest.raises(AudioError) as err:
        await WavFileSink(tmp_path / "x.wav").write(b"\x00\x00")
    assert err.value.code == "audio-sink-not-started"


async def test_wav_sink_reports_an_unwritable_path(tmp_path: Path) -> None:
    with pytest.raises(AudioError) as err:
        await WavFileSink(tmp_path / "no" / "such" / "dir.wav").start(16000)
    assert err.value.code == "audio-file-unwritable"


async def test_null_sink_counts_and_times_but_keeps_nothing() -> None:
    sink = NullSink()
    await sink.start(24000)
    before = time.monotonic()
    await sink.write(reply(2400))
    await sink.write(reply(2400))
    await sink.drain()
    first_at = sink.first_sample_at
    assert sink.sample_rate == 24000
    assert sink.samples_written == 4800
    assert first_at is not None
    assert first_at >= before

    sink.stop()
    await sink.write(reply(2400))
    assert sink.samples_written == 4800  # nothing after a barge-in

    await sink.start(16000)
    await sink.write(b"")
    assert (sink.first_sample_at, sink.samples_written) == (None, 0)  # no audio yet


async def test_player_must_be_started() -> None:
    with pytest.raises(AudioError) as err:
        await SoundDevicePlayer().write(b"\x00\x00")
    assert err.value.code == "audio-player-not-started"
