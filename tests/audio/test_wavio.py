"""WAV files of any common shape in, Hark's 16 kHz mono int16 out; and writing WAVs."""

from __future__ import annotations

import struct
import wave
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from app.audio.wavio import read_wav, read_wav_16k, write_wav
from app.core.types import SAMPLE_RATE
from app.shared.errors import AudioError


def sine(freq: float, seconds: float, rate: int, amp: float = 0.5) -> npt.NDArray[np.float64]:
    """A sine in [-1, 1] full scale."""
    return amp * np.sin(2 * np.pi * freq * np.arange(int(seconds * rate)) / rate)


def peak_hz(samples: npt.NDArray[np.int16], rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64) * np.hanning(len(samples))))
    return float(np.argmax(spectrum) * rate / len(samples))


def wav_bytes(
    payload: bytes,
    *,
    rate: int,
    channels: int,
    bits: int,
    tag: int = 1,
    extensible: bool = False,
    data_size: int | None = None,
) -> bytes:
    """Build a RIFF/WAVE file by hand, including the shapes ``wave`` cannot write."""
    block = channels * bits // 8
    fmt = struct.pack(
        "<HHIIHH", 0xFFFE if extensible else tag, channels, rate, rate * block, block, bits
    )
    if extensible:
        guid_tail = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
        fmt += struct.pack("<HHI", 22, bits, 0) + struct.pack("<H", tag) + guid_tail
    size = len(payload) if data_size is None else data_size
    extra = b"LIST" + struct.pack("<I", 3) + b"abc\x00"  # an odd-sized chunk before the data
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + extra
    body += b"data" + struct.pack("<I", size) + payload
    return b"RIFF" + struct.pack("<I", len(body)) + body


@pytest.mark.parametrize("rate", [8000, 22050, 44100, 48000])
def test_stereo_16bit_becomes_16k_mono_and_keeps_the_pitch(tmp_path: Path, rate: int) -> None:
    left = sine(440, 1.5, rate, 0.6)
    right = sine(440, 1.5, rate, 0.2)
    stereo = (np.stack([left, right], axis=1) * 32767).astype("<i2")
    path = tmp_path / f"tone{rate}.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(stereo.tobytes())

    out = np.frombuffer(read_wav_16k(path), dtype="<i2")

    assert abs(len(out) - 1.5 * SAMPLE_RATE) <= 2
    assert abs(peak_hz(out, SAMPLE_RATE) - 440) < 3
    # the channels were averaged: (0.6 + 0.2) / 2 of full scale
    assert abs(np.abs(out[1000:-1000]).max() / 32767 - 0.4) < 0.02


@pytest.mark.parametrize(
    ("bits", "tag", "extensible", "encode"),
    [
        (8, 1, False, lambda x: (np.round(x * 127) + 128).astype(np.uint8).tobytes()),
        (
            24,
            1,
            True,
            lambda x: b"".join(
                int(v).to_bytes(4, "little", signed=True)[:3] for v in np.round(x * 8388607)
            ),
        ),
        (32, 1, False, lambda x: np.round(x * 2147483647).astype("<i4").tobytes()),
        (32, 3, False, lambda x: x.astype("<f4").tobytes()),
        (32, 3, True, lambda x: x.astype("<f4").tobytes()),
    ],
    ids=["u8", "s24-extensible", "s32", "float32", "float32-extensible"],
)
def test_other_sample_widths(
    tmp_path: Path,
    bits: int,
    tag: int,
    extensible: bool,
    encode: Callable[[npt.NDArray[np.float64]], bytes],
) -> None:
    x = sine(1000, 0.5, 16000, 0.5)
    x[0], x[1] = 0.5, -0.5  # exact values to check the scaling
    path = tmp_path / "w.wav"
    payload = encode(x)
    path.write_bytes(
        wav_bytes(payload, rate=16000, channels=1, bits=bits, tag=tag, extensible=extensible)
    )

    out = np.frombuffer(read_wav_16k(path), dtype="<i2")

    assert len(out) == len(x)
    tolerance = 300 if bits == 8 else 2
    assert np.abs(out.astype(np.int32) - np.round(x * 32767)).max() <= tolerance
    assert abs(int(out[0]) - 16383) <= tolerance
    assert abs(int(out[1]) + 16383) <= tolerance


def test_a_streamed_wav_whose_data_size_lies_is_read_to_its_end(tmp_path: Path) -> None:
    pcm = (sine(300, 0.2, 16000) * 32767).astype("<i2").tobytes()
    path = tmp_path / "streamed.wav"
    path.write_bytes(wav_bytes(pcm, rate=16000, channels=1, bits=16, data_size=0xFFFFFFFF))
    assert read_wav_16k(path) == pcm


def test_write_then_read_round_trips_exactly(tmp_path: Path) -> None:
    pcm = np.random.default_rng(3).integers(-30000, 30000, 12345, dtype=np.int16).tobytes()
    path = tmp_path / "out.wav"
    write_wav(path, pcm, SAMPLE_RATE)
    assert read_wav_16k(path) == pcm
    data, info = read_wav(path)
    assert data == pcm
    assert (info.sample_rate, info.channels, info.sample_width, info.frames) == (16000, 1, 2, 12345)


def test_write_keeps_its_rate(tmp_path: Path) -> None:
    path = tmp_path / "r.wav"
    write_wav(path, bytes(4410), 22050)
    with wave.open(str(path)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth(), w.getnframes()) == (
            22050,
            1,
            2,
            2205,
        )


def test_write_rejects_half_samples(tmp_path: Path) -> None:
    with pytest.raises(AudioError) as err:
        write_wav(tmp_path / "odd.wav", b"\x00\x01\x02", SAMPLE_RATE)
    assert err.value.code == "audio-pcm-odd-length"


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(AudioError) as err:
        read_wav_16k(tmp_path / "nope.wav")
    assert err.value.code == "audio-file-unreadable"
    assert "nope.wav" in err.value.message


def test_a_directory_is_unreadable(tmp_path: Path) -> None:
    with pytest.raises(AudioError) as err:
        read_wav_16k(tmp_path)
    assert err.value.code == "audio-file-unreadable"


def test_not_a_wav(tmp_path: Path) -> None:
    path = tmp_path / "song.mp3"
    path.write_bytes(b"ID3\x03\x00" + bytes(100))
    with pytest.raises(AudioError) as err:
        read_wav_16k(path)
    assert err.value.code == "audio-file-format"
    assert "ffmpeg" in err.value.message


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.wav"
    path.write_bytes(b"")
    with pytest.raises(AudioError) as err:
        read_wav_16k(path)
    assert err.value.code == "audio-file-empty"


def test_wav_without_samples(tmp_path: Path) -> None:
    path = tmp_path / "silent.wav"
    write_wav(path, b"", SAMPLE_RATE)
    with pytest.raises(AudioError) as err:
        read_wav_16k(path)
    assert err.value.code == "audio-file-empty"


def test_compressed_wav_is_refused_with_a_hint(tmp_path: Path) -> None:
    path = tmp_path / "adpcm.wav"
    path.write_bytes(wav_bytes(bytes(256), rate=8000, channels=1, bits=4, tag=2))
    with pytest.raises(AudioError) as err:
        read_wav_16k(path)
    assert err.value.code == "audio-file-format"
    assert "0x0002" in err.value.message


def test_wav_without_data_chunk(tmp_path: Path) -> None:
    full = wav_bytes(bytes(64), rate=16000, channels=1, bits=16)
    path = tmp_path / "cut.wav"
    path.write_bytes(full[: full.index(b"data")])
    with pytest.raises(AudioError) as err:
        read_wav_16k(path)
    assert err.value.code == "audio-file-format"
    assert "no data chunk" in err.value.message
