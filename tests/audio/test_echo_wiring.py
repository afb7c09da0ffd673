"""The canceller sits between Hark's speaker and its microphone: what the player's callback
gives the device becomes the reference, stamped with its DAC time; each microphone frame is
cleaned, stamped with its ADC time, before it reaches the event loop. PortAudio's callbacks are
driven directly here (no sound card); tests/audio/test_echo.py measures the cancelling itself.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from app.audio.capture import FrameAssembler, FrameQueue, MicrophoneSource
from app.audio.echo import EchoCanceller, ReferenceTap
from app.audio.playback import SoundDevicePlayer
from app.compose.build import build_engine, build_microphone
from app.core.types import FRAME_BYTES
from app.settings.schema import Settings
from app.settings.secrets import SecretStore


class RecordingEcho(EchoCanceller):
    """The real canceller, also noting what it was given and when."""

    def __init__(self) -> None:
        super().__init__()
        self.played: list[tuple[bytes, float]] = []
        self.heard: list[tuple[bytes, float | None, bytes]] = []

    def play(self, pcm: bytes | np.ndarray, at: float) -> None:  # type: ignore[type-arg]
        data = pcm.tobytes() if isinstance(pcm, np.ndarray) else pcm
        self.played.append((data, at))
        super().play(pcm, at)

    def clean(self, frame: bytes, at: float | None = None) -> bytes:
        out = super().clean(frame, at)
        self.heard.append((frame, at, out))
        return out


async def test_microphone_frames_are_cleaned_with_the_time_they_were_heard() -> None:
    echo = RecordingEcho()
    mic = MicrophoneSource(echo=echo)
    mic._assembler = FrameAssembler(16_000, 1)  # what opening the device sets up
    mic._queue = queue = FrameQueue(asyncio.get_running_loop(), 100)
    tone = (np.sin(np.arange(720) * 0.2) * 6000).astype("<i2").tobytes()  # 45 ms blocks
    before = time.monotonic()
    # one frame (15 ms held back) from a block that began 45 ms ago ...
    mic._callback(tone, 720, SimpleNamespace(currentTime=20.0, inputBufferAdcTime=19.955), None)
    # ... and two from the next, which begins now: the first starts with those 15 ms
    mic._callback(tone, 720, SimpleNamespace(currentTime=20.0, inputBufferAdcTime=20.0), None)
    after = time.monotonic()
    assert [len(f) for f, _, _ in echo.heard] == [FRAME_BYTES] * 3
    (_, t0, _), (_, t1, _), (_, t2, _) = echo.heard
    assert t0 is not None
    assert t1 is not None
    assert t2 is not None
    assert before - 0.045 - 0.001 <= t0 <= after - 0.045
    assert t1 == pytest.approx(t0 + 0.030, abs=0.005)
    assert t2 == pytest.approx(t1 + 0.030, abs=1e-9)
    got = [await queue.get() for _ in range(3)]
    assert got == [out for _, _, out in echo.heard]  # the loop gets the cleaned frames


def test_the_player_hands_every_block_it_plays_to_the_canceller() -> None:
    echo = RecordingEcho()
    player = SoundDevicePlayer(echo=echo)
    player._tap = echo.tap(16_000)  # what opening a 16 kHz device sets up
    speech = (np.sin(np.arange(300) * 0.1) * 9000).astype("<i2").tobytes()
    player._buffer += speech
    out = bytearray(2 * 256)
    before = time.monotonic()
    player._callback(out, 256, SimpleNamespace(currentTime=3.0, outputBufferDacTime=3.04), None)
    player._callback(out, 256, SimpleNamespace(currentTime=3.0, outputBufferDacTime=3.04), None)
    (first, at), (second, _) = echo.played
    assert first == speech[:512]
    assert second == speech[512:] + bytes(512 - len(speech[512:]))  # the silence played too
    assert before + 0.04 <= at <= time.monotonic() + 0.04
    assert bytes(out) == second


def test_a_48k_device_is_resampled_for_the_reference() -> None:
    echo = EchoCanceller()
    tap = echo.tap(48_000)
    assert isinstance(tap, ReferenceTap)
    for i in range(10):
        tap.push(bytes(2 * 1440), 1.0 + i * 0.03)
    assert abs(echo.reference_samples - 4800) <= 40  # 300 ms at 16 kHz (less the filter's lag)


def test_the_engine_builds_the_canceller_for_its_speaker_and_the_microphone_uses_it(
    tmp_path: Path,
) -> None:
    secrets = SecretStore(env={})
    on = Settings.model_validate({"tts": {"engine": "espeak", "fallback": "none"}})
    engine = build_engine(on, lambda e: None, secrets=secrets, with_asr=False)
    assert isinstance(engine.echo, EchoCanceller)
    assert engine.sink._echo is engine.echo  # type: ignore[attr-defined]
    mic = build_microphone(on, engine)
    assert isinstance(mic, MicrophoneSource)
    assert mic.echo is engine.echo
    off = on.model_copy(update={"audio": on.audio.model_copy(update={"echo_cancellation": False})})
    assert build_engine(off, lambda e: None, secrets=secrets, with_asr=False).echo is None
    # a reply written to a file has no speaker to cancel
    to_file = build_engine(
        on, lambda e: None, secrets=secrets, with_asr=False, out=tmp_path / "r.wav"
    )
    assert to_file.echo is None
    assert build_microphone(off, None, device="2").echo is None  # type: ignore[attr-defined]


async def test_with_a_canceller_the_speaker_stream_stays_open_between_replies() -> None:
    """A reopened stream shifts its latency under the canceller: with one, a finished reply
    wakes ``drain`` and the stream goes on playing (and tapping) silence."""
    import sounddevice

    echo = RecordingEcho()
    kept, plain = SoundDevicePlayer(echo=echo), SoundDevicePlayer()
    for player in (kept, plain):
        player._loop = asyncio.get_running_loop()
        player._done = asyncio.Event()
        player._finishing = True  # drain() was called and the buffer ran dry
    info = SimpleNamespace(currentTime=1.0, outputBufferDacTime=1.03)
    kept._tap = echo.tap(16_000)
    kept._callback(bytearray(64), 32, info, None)
    kept._callback(bytearray(64), 32, info, None)
    await asyncio.wait_for(kept._done.wait(), 5)
    assert [pcm for pcm, _ in echo.played] == [bytes(64), bytes(64)]
    with pytest.raises(sounddevice.CallbackStop):
        plain._callback(bytearray(64), 32, info, None)
