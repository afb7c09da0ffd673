"""Reading WAV files of any common shape into Hark's 16 kHz mono int16, and writing WAVs.

The standard library's ``wave`` module (Python 3.11) rejects WAVE_FORMAT_EXTENSIBLE, which is
how most 24-bit and multichannel recorders write their files, and it knows no float samples.
So the RIFF chunks are parsed here: PCM 8/16/24/32-bit integers and 32/64-bit floats, plain or
extensible, any rate, any number of channels.
"""

from __future__ import annotations

import logging
import struct
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from app.audio.resample import resample_pcm
from app.core.types import SAMPLE_RATE
from app.shared.errors import AudioCode, AudioError

log = logging.getLogger(__name__)

_PCM = 0x0001
_FLOAT = 0x0003
_EXTENSIBLE = 0xFFFE


@dataclass(frozen=True, slots=True)
class WavInfo:
    """The shape of a WAV file's audio, as its ``fmt`` chunk declares it."""

    sample_rate: int
    channels: int
    sample_width: int
    is_float: bool
    frames: int

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate


def read_wav(path: str | Path) -> tuple[bytes, WavInfo]:
    """Read a WAV file as interleaved int16 PCM at its own rate and channel count."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise AudioError(
            AudioCode.FILE_UNREADABLE,
            f"Cannot read the audio file {str(p)!r}: {exc.strerror or exc}. "
            "Check the path and that you may read it.",
        ) from exc
    if not data:
        raise AudioError(
            AudioCode.FILE_EMPTY, f"The audio file {str(p)!r} is empty (0 bytes); record again."
        )
    if len(data) < 12 or data[:4] not in (b"RIFF", b"RIFX") or data[8:12] != b"WAVE":
        raise AudioError(
            AudioCode.FILE_FORMAT,
            f"{str(p)!r} is not a WAV file (no RIFF/WAVE header). "
            "Convert it first, e.g. `ffmpeg -i input.mp3 -ar 16000 -ac 1 output.wav`.",
        )
    if data[:4] == b"RIFX":
        raise AudioError(
            AudioCode.FILE_FORMAT,
            f"{str(p)!r} is a big-endian (RIFX) WAV, which Hark does not read; convert it to "
            "a little-endian PCM WAV.",
        )
    fmt, payload = _chunks(data, p)
    info = _parse_fmt(fmt, len(payload), p)
    if info.frames == 0:
        raise AudioError(
            AudioCode.FILE_EMPTY, f"The WAV file {str(p)!r} holds no audio samples; record again."
        )
    used = info.frames * info.channels * info.sample_width
    return _to_int16(payload[:used], info).tobytes(), info


def read_wav_16k(path: str | Path) -> bytes:
    """Read a WAV file of any rate, channel count and sample width as 16 kHz mono int16."""
    pcm, info = read_wav(path)
    log.debug(
        "Read WAV: %s Hz, %d ch, %d-bit%s, %.2f s",
        info.sample_rate,
        info.channels,
        info.sample_width * 8,
        " float" if info.is_float else "",
        info.duration_s,
    )
    return resample_pcm(pcm, info.sample_rate, SAMPLE_RATE, info.channels)


def write_wav(path: str | Path, pcm: bytes, sample_rate: int = SAMPLE_RATE) -> None:
    """Write mono int16 PCM as a standard WAV file."""
    if len(pcm) % 2:
        raise AudioError(
            AudioCode.PCM_ODD_LENGTH,
            f"int16 PCM must have an even number of bytes; got {len(pcm)}.",
        )
    try:
        with wave.open(str(path), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(sample_rate)
            w.writeframes(pcm)
    except OSError as exc:
        raise AudioError(
            AudioCode.FILE_UNWRITABLE,
            f"Cannot write the audio file {str(path)!r}: {exc.strerror or exc}.",
        ) from exc


def _chunks(data: bytes, path: Path) -> tuple[bytes, bytes]:
    """Find the ``fmt `` and ``data`` chunks (chunks are word-aligned; sizes may lie)."""
    fmt: bytes | None = None
    payload: bytes | None = None
    pos = 12
    while pos + 8 <= len(data):
        cid = data[pos : pos + 4]
        (size,) = struct.unpack_from("<I", data, pos + 4)
        body = data[pos + 8 : pos + 8 + size]  # a streamed WAV may claim more than it holds
        if cid == b"fmt ":
            fmt = body
        elif cid == b"data":
            payload = body
            if fmt is not None:
                break
        pos += 8 + size + (size & 1)
    if fmt is None or payload is None:
        missing = "fmt" if fmt is None else "data"
        raise AudioError(
            AudioCode.FILE_FORMAT,
            f"{str(path)!r} is a damaged WAV file (no {missing} chunk); record or convert it "
            "again.",
        )
    return fmt, payload


def _parse_fmt(fmt: bytes, payload_len: int, path: Path) -> WavInfo:
    if len(fmt) < 16:
        raise AudioError(AudioCode.FILE_FORMAT, f"{str(path)!r} has a truncated WAV header.")
    tag, channels, rate, _, block_align, bits = struct.unpack_from("<HHIIHH", fmt)
    if tag == _EXTENSIBLE and len(fmt) >= 40:
        (tag,) = struct.unpack_from("<H", fmt, 24)  # first two bytes of the sub-format GUID
    width = (bits + 7) // 8
    is_float = tag == _FLOAT
    supported = (tag == _PCM and width in (1, 2, 3, 4)) or (is_float and width in (4, 8))
    frame_bytes = width * channels
    if not supported or channels < 1 or rate < 1 or block_align not in (0, frame_bytes):
        kind = {_PCM: "PCM", _FLOAT: "float"}.get(tag, f"format 0x{tag:04x}")
        raise AudioError(
            AudioCode.FILE_FORMAT,
            f"{str(path)!r} holds {kind} audio with {bits}-bit samples, {channels} channel(s) at "
            f"{rate} Hz, which Hark cannot read; convert it to 16-bit PCM, e.g. "
            "`ffmpeg -i input.wav -ar 16000 -ac 1 -c:a pcm_s16le output.wav`.",
        )
    return WavInfo(rate, channels, width, is_float, payload_len // frame_bytes)


def _to_int16(raw: bytes, info: WavInfo) -> npt.NDArray[np.int16]:
    """Any supported sample encoding to little-endian int16, keeping the channels."""
    w = info.sample_width
    if info.is_float:
        f = np.frombuffer(raw, dtype="<f4" if w == 4 else "<f8")
        return np.clip(np.round(f * 32767.0), -32768, 32767).astype("<i2")
    if w == 1:  # 8-bit WAV is unsigned
        return ((np.frombuffer(raw, dtype=np.uint8).astype(np.int16) - 128) << 8).astype("<i2")
    if w == 2:
        return np.frombuffer(raw, dtype="<i2").copy()
    if w == 3:
        b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        v = np.where(v & 0x800000, v - 0x1000000, v)
        return (v >> 8).astype("<i2")
    return (np.frombuffer(raw, dtype="<i4") >> 16).astype("<i2")
