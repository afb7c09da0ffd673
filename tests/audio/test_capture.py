"""Frame sources without a sound card: WAV files, device-block conversion, the loop hand-over,
and choosing a device and its format."""

from __future__ import annotations

import asyncio
import threading
import time
import wave
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from app.audio.capture import FrameAssembler, FrameQueue, MicrophoneSource, WavFileSource
from app.audio.devices import DeviceInfo, choose_format, resolve_device
from app.audio.resample import resample_pcm
from app.audio.wavio import write_wav
from app.core.ports import FrameSource
from app.core.types import FRAME_BYTES, SAMPLE_RATE
from app.shared.errors import AudioError


def ramp(n: int) -> bytes:
    """Distinct, recognisable samples."""
    return (np.arange(n) % 20000 - 10000).astype("<i2").tobytes()


def peak_hz(samples: npt.NDArray[np.int16], rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64) * np.hanning(len(samples))))
    return float(np.argmax(spectrum) * rate / len(samples))


async def collect(source: WavFileSource) -> list[bytes]:
    return [frame async for frame in source.frames()]


def test_the_sources_fit_the_port(tmp_path: Path) -> None:
    sources: list[FrameSource] = [WavFileSource(tmp_path / "a.wav"), MicrophoneSource()]
    assert all(callable(s.frames) for s in sources)


# --- WavFileSource -------------------------------------------------------------------------


async def test_wav_source_yields_whole_frames_and_pads_the_last(tmp_path: Path) -> None:
    pcm = ramp(16000)  # 1 s: 33 whole frames and a third
    write_wav(tmp_path / "a.wav", pcm)

    frames = await collect(WavFileSource(tmp_path / "a.wav"))

    assert len(frames) == 34
    assert {len(f) for f in frames} == {FRAME_BYTES}
    joined = b"".join(frames)
    assert joined[: len(pcm)] == pcm
    assert joined[len(pcm) :] == bytes(34 * FRAME_BYTES - len(pcm))


async def test_wav_source_appends_trailing_silence(tmp_path: Path) -> None:
    pcm = ramp(480 * 10)
    write_wav(tmp_path / "a.wav", pcm)

    frames = await collect(WavFileSource(tmp_path / "a.wav", trailing_silence_ms=300))

    assert len(frames) == 20
    assert b"".join(frames[:10]) == pcm
    assert all(f == bytes(FRAME_BYTES) for f in frames[10:])


async def test_wav_source_converts_44k_stereo(tmp_path: Path) -> None:
    t = np.arange(44100) / 44100
    tone = (8000 * np.sin(2 * np.pi * 500 * t)).astype("<i2")
    path = tmp_path / "s.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(44100)
        w.writeframes(np.stack([tone, tone], axis=1).tobytes())

    frames = await collect(WavFileSource(path))

    out = np.frombuffer(b"".join(frames), dtype="<i2")
    assert len(frames) == 34
    assert abs(peak_hz(out[:16000], SAMPLE_RATE) - 500) < 3


async def test_wav_source_stops_when_closed(tmp_path: Path) -> None:
    write_wav(tmp_path / "a.wav", ramp(16000))
    source = WavFileSource(tmp_path / "a.wav")
    got = []
    async for frame in source.frames():
        got.append(frame)
        if len(got) == 3:
            await source.aclose()
    assert len(got) == 3


async def test_wav_source_in_real_time_takes_as_long_as_the_audio(tmp_path: Path) -> None:
    write_wav(tmp_path / "a.wav", ramp(480 * 8))  # 240 ms
    start = time.monotonic()
    frames = await collect(WavFileSource(tmp_path / "a.wav", realtime=True))
    elapsed = time.monotonic() - start
    assert len(frames) == 8
    assert 0.22 <= elapsed < 1.0


async def test_wav_source_reports_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(AudioError) as err:
        await collect(WavFileSource(tmp_path / "gone.wav"))
    assert err.value.code == "audio-file-unreadable"


# --- FrameAssembler: device blocks to frames ------------------------------------------------


def test_assembler_passes_16k_mono_through_exactly_in_any_block_size() -> None:
    pcm = ramp(480 * 7)
    assembler = FrameAssembler(SAMPLE_RATE, 1)
    frames: list[bytes] = []
    for size in (100, 2, 958, 1000, 3000, 1660):  # bytes, summing to len(pcm)
        block, pcm_left = pcm[:size], pcm[size:]
        frames += assembler.push(block)
        pcm = pcm_left
    assert {len(f) for f in frames} == {FRAME_BYTES}
    assert b"".join(frames) == ramp(480 * 7)


def test_assembler_resamples_48k_stereo_blocks_like_a_whole_file() -> None:
    rate = 48_000
    t = np.arange(rate * 2) / rate
    left = (9000 * np.sin(2 * np.pi * 300 * t)).astype(np.int16)
    right = (3000 * np.sin(2 * np.pi * 300 * t)).astype(np.int16)
    interleaved = np.stack([left, right], axis=1).reshape(-1).tobytes()

    assembler = FrameAssembler(rate, 2)
    frames: list[bytes] = []
    pos, sizes = 0, [1764, 4, 4096, 1440 * 4, 4800]  # device blocks of odd sizes, in bytes
    for n in range(len(interleaved)):
        if pos >= len(interleaved):
            break
        size = sizes[n % len(sizes)]
        frames += assembler.push(interleaved[pos : pos + size])
        pos += size

    assert {len(f) for f in frames} == {FRAME_BYTES}
    out = np.frombuffer(b"".join(frames), dtype="<i2").astype(np.int32)
    whole = np.frombuffer(resample_pcm(interleaved, rate, SAMPLE_RATE, 2), dtype="<i2")
    assert len(whole) - 2 * FRAME_BYTES // 2 <= len(out) <= len(whole)
    assert abs(peak_hz(out.astype(np.int16), SAMPLE_RATE) - 300) < 3
    # Away from the edges the streamed conversion matches the one-shot one.
    assert np.abs(out[500:20000] - whole[500:20000]).max() <= 2


# --- FrameQueue: device thread to event loop ------------------------------------------------


async def test_frame_queue_drops_the_oldest_when_the_consumer_stalls() -> None:
    loop = asyncio.get_running_loop()
    queue = FrameQueue(loop, max_frames=10)
    frames = [bytes([i]) * FRAME_BYTES for i in range(50)]

    def device_thread() -> None:
        for f in frames:
            queue.put_threadsafe(f)

    thread = threading.Thread(target=device_thread)
    thread.start()
    await asyncio.to_thread(thread.join)
    # Handles run in order: once this one has run, so have all 50 puts.
    barrier = loop.create_future()
    loop.call_soon_threadsafe(barrier.set_result, None)
    await barrier

    got = [await queue.get() for _ in range(10)]
    assert got == frames[-10:]
    assert queue.overflows == 40
    queue.close()
    assert await queue.get() is None
    assert await queue.get() is None


async def test_frame_queue_keeps_everything_for_a_consumer_that_keeps_up() -> None:
    queue = FrameQueue(asyncio.get_running_loop(), max_frames=2)
    got = []
    for i in range(20):
        assert queue.put_threadsafe(bytes([i]))
        got.append(await queue.get())
    assert got == [bytes([i]) for i in range(20)]
    assert queue.overflows == 0


async def test_frame_queue_refuses_after_the_loop_closed() -> None:
    other = asyncio.new_event_loop()
    queue = FrameQueue(other, max_frames=2)
    other.close()
    assert queue.put_threadsafe(b"x") is False


def test_microphone_settings_are_checked() -> None:
    with pytest.raises(AudioError) as err:
        MicrophoneSource(max_queue_frames=0)
    assert err.value.code == "audio-input-settings"


# --- choosing a device and its format -------------------------------------------------------

DEVICES = [
    DeviceInfo(0, "HDA Intel PCH: ALC257 Analog (hw:0,0)", "ALSA", 2, 2, 44100.0),
    DeviceInfo(1, "USB Headset: Audio (hw:1,0)", "ALSA", 1, 2, 48000.0),
    DeviceInfo(2, "HDMI 0", "ALSA", 0, 8, 48000.0),
    DeviceInfo(3, "pulse", "ALSA", 32, 32, 44100.0),
    DeviceInfo(4, "default", "ALSA", 32, 32, 44100.0, True, True),
]


@pytest.mark.parametrize(
    ("spec", "index"),
    [(1, 1), ("1", 1), ("usb", 1), ("USB HEADSET", 1), ("alc257", 0), ("pulse", 3)],
)
def test_devices_are_found_by_number_or_part_of_the_name(spec: str | int, index: int) -> None:
    found = resolve_device(spec, DEVICES, "input")
    assert found is not None
    assert found.index == index


@pytest.mark.parametrize("spec", [None, "", "default"])
def test_no_device_means_the_system_default(spec: str | None) -> None:
    assert resolve_device(spec, DEVICES, "input") is None


def test_an_output_only_device_is_no_microphone() -> None:
    with pytest.raises(AudioError) as err:
        resolve_device("hdmi", DEVICES, "input")
    assert err.value.code == "audio-input-device-not-found"
    assert "USB Headset" in err.value.message  # the choices are listed
    assert "HDMI" not in err.value.message
    found = resolve_device("hdmi", DEVICES, "output")
    assert found is not None
    assert found.index == 2


def test_an_unknown_number_lists_the_devices() -> None:
    with pytest.raises(AudioError) as err:
        resolve_device(9, DEVICES, "input")
    assert err.value.code == "audio-input-device-not-found"
    assert "0: HDA Intel PCH" in err.value.message


def test_an_ambiguous_name_says_which_devices_fit() -> None:
    with pytest.raises(AudioError) as err:
        resolve_device("hw:", DEVICES, "input")
    assert err.value.code == "audio-input-device-ambiguous"
    assert "ALC257" in err.value.message
    assert "USB Headset" in err.value.message


def _only(*formats: tuple[int, int]) -> Callable[[int, int], bool]:
    return lambda rate, channels: (rate, channels) in formats


def test_format_prefers_16k_mono() -> None:
    fmt = choose_format(
        _only((16000, 1), (48000, 2)), wanted_rate=16000, default_rate=48000.0, max_channels=2
    )
    assert fmt == (16000, 1)


def test_format_falls_back_to_the_default_rate_then_stereo() -> None:
    assert choose_format(
        _only((48000, 1)), wanted_rate=16000, default_rate=48000.0, max_channels=2
    ) == (48000, 1)
    assert choose_format(
        _only((44100, 2)), wanted_rate=16000, default_rate=44100.0, max_channels=2
    ) == (44100, 2)


def test_format_can_be_forced() -> None:
    fmt = choose_format(
        _only((16000, 1), (48000, 2)),
        wanted_rate=16000,
        default_rate=44100.0,
        max_channels=2,
        force_rate=48000,
    )
    assert fmt == (48000, 2)


def test_no_usable_format_is_a_clear_error() -> None:
    with pytest.raises(AudioError) as err:
        choose_format(_only(), wanted_rate=16000, default_rate=44100.0, max_channels=2)
    assert err.value.code == "audio-device-format"
    assert "44100 Hz × 2 ch" in err.value.message
