"""Uploaded audio files → 16 kHz mono samples for Whisper.

Decoded with PyAV (FFmpeg inside the wheel, so WAV, FLAC, MP3, OGG/Opus, M4A, WebM … all
work) as ``faster_whisper.decode_audio`` does, but with a cap on the decoded length (a small
compressed file can hold hours of sound) and with every failure turned into a ``bad-audio``
error that says what to send instead: the file comes from a client, so a decoder failure is
the file's fault, never the server's.
"""

from __future__ import annotations

import io
import wave
from typing import Any

import numpy as np

from app.core.types import SAMPLE_RATE
from app.shared.errors import AsrError
from app.shared.protocol import ErrorCode

Audio = np.ndarray[Any, np.dtype[np.float32]]


def decode_audio(data: bytes, max_seconds: float) -> Audio:
    """Any audio file's bytes → float32 mono samples at 16 kHz; :class:`AsrError` otherwise."""
    if not data:
        raise AsrError(ErrorCode.BAD_AUDIO, "the uploaded file is empty; send a recording")
    plain = _plain_wav(data)
    if plain is not None:
        if plain.size > max_seconds * SAMPLE_RATE:
            raise _too_long(max_seconds)
        if plain.size:
            fast: Audio = plain.astype(np.float32) / 32768.0
            return fast
    import av

    max_samples = int(max_seconds * SAMPLE_RATE)
    pieces: list[np.ndarray[Any, Any]] = []
    total = 0
    try:
        with av.open(io.BytesIO(data), mode="r", metadata_errors="ignore") as container:
            if not container.streams.audio:
                raise AsrError(ErrorCode.BAD_AUDIO, "the uploaded file holds no audio stream")
            resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
            for frame in _frames(container):
                for out in resampler.resample(frame):
                    pieces.append(out.to_ndarray().reshape(-1))
                    total += pieces[-1].size
                if total > max_samples:
                    raise _too_long(max_seconds)
            pieces.extend(out.to_ndarray().reshape(-1) for out in resampler.resample(None))
    except AsrError:
        raise
    except Exception as exc:  # untrusted input: any decoder failure is the file's fault
        reason = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else ""
        raise AsrError(
            ErrorCode.BAD_AUDIO,
            f"could not decode the upload as audio ({type(exc).__name__}{': ' if reason else ''}"
            f"{reason}); send a WAV, FLAC, MP3, OGG/Opus, M4A or WebM recording",
        ) from exc
    samples = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int16)
    if samples.size == 0:
        raise AsrError(ErrorCode.BAD_AUDIO, "the uploaded file holds no audio samples")
    audio: Audio = samples.astype(np.float32) / 32768.0
    return audio


def _frames(container: Any) -> Any:
    """The audio frames, skipping ones FFmpeg finds invalid (as faster-whisper does)."""
    import av

    frames = iter(container.decode(audio=0))
    while True:
        try:
            frame = next(frames)
        except StopIteration:
            return
        except av.error.InvalidDataError:
            continue
        frame.pts = None  # the resampler must not check timestamps of damaged files
        yield frame


def _too_long(max_seconds: float) -> AsrError:
    return AsrError(
        ErrorCode.TOO_LARGE,
        f"the recording is longer than this server accepts ({max_seconds:g} s); "
        "send a shorter one, or raise HARK_SERVER__MAX_AUDIO_S on the server",
    )


def _plain_wav(data: bytes) -> np.ndarray[Any, np.dtype[np.int16]] | None:
    """Samples of a 16 kHz mono 16-bit PCM WAV (what Hark sends) without FFmpeg; else None.

    Saves the decoder's set-up on every request; anything else, or anything odd about the
    file, goes the general way.
    """
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return None
    try:
        with wave.open(io.BytesIO(data)) as w:
            if (w.getnchannels(), w.getsampwidth(), w.getframerate()) != (1, 2, SAMPLE_RATE):
                return None
            frames = w.readframes(w.getnframes())
    except Exception:  # untrusted bytes; the general decoder gives the proper error
        return None
    return np.frombuffer(frames[: len(frames) - len(frames) % 2], dtype="<i2")
