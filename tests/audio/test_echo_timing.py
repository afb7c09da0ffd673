"""Timestamps that miss: the canceller keeps both streams where their samples are.

Over PulseAudio, PortAudio's stamps are estimates: the output callback sometimes has no usable
DAC time (while the stream plays silence between replies), and a single callback on either
side can be off by tens of milliseconds. Each move of the reference against the microphone
makes WebRTC's APM adapt again, and Hark's voice leaks through meanwhile (a false barge-in),
so a stamp moves a stream only when the next one confirms it. The real APM, webrtcvad and
Piper speech; the echo path is digital (tests/support/echo_path.py), on a virtual clock.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from app.audio.echo import PIECE, EchoCanceller
from app.audio.playback import SoundDevicePlayer
from app.audio.vad import Endpointer
from app.core.events import SpeechStarted
from app.core.types import FRAME_BYTES, SAMPLE_RATE
from tests.support import echo_path
from tests.support.echo_path import Room

FRAME_N = FRAME_BYTES // 2


def test_a_block_without_a_dac_time_follows_the_one_before() -> None:
    echo = EchoCanceller()
    player = SoundDevicePlayer(echo=echo)
    player._tap = echo.tap(SAMPLE_RATE)  # what opening a 16 kHz device sets up
    tone = (np.sin(np.arange(512) * 0.2) * 7000).astype("<i2")
    player._buffer += tone.tobytes()
    out = bytearray(2 * 256)
    player._callback(out, 256, SimpleNamespace(currentTime=7.0, outputBufferDacTime=7.04), None)
    start = echo._ref.end
    assert start is not None
    # PortAudio over PulseAudio: no DAC time for this one ("now" would be 40 ms early)
    player._callback(out, 256, SimpleNamespace(currentTime=7.0, outputBufferDacTime=0.0), None)
    assert echo._ref.end == start + 256
    assert np.array_equal(echo._ref.read(start - 256, 512), tone)


def test_one_stamp_that_misses_moves_neither_stream_and_two_that_agree_do() -> None:
    now = [10.0]
    echo = EchoCanceller(clock=lambda: now[0])
    frame = bytes(FRAME_BYTES)
    echo.clean(frame, 10.0)
    echo.clean(frame, 10.030 + 0.035)  # one late wake-up's stamp: 35 ms off
    echo.clean(frame, 10.060)
    assert echo._heard.next == round(10.090 * SAMPLE_RATE) - round(10.0 * SAMPLE_RATE)
    echo.clean(frame, 10.090 + 0.050)  # the stream really moved by 50 ms ...
    echo.clean(frame, 10.120 + 0.051)  # ... as the next stamp confirms
    assert echo._heard.next == round((10.150 + 0.051) * SAMPLE_RATE) - round(10.0 * SAMPLE_RATE)
    block = np.ones(PIECE, dtype=np.int16)
    echo.play(block, 10.0)
    echo.play(block, 10.010 - 0.030)
    assert echo._ref.end == 2 * PIECE


def _false_barge_ins(reply: bytes, room: Room, *, glitches: bool) -> int:
    """The echo path of tests/support/echo_path.run, with PulseAudio's faults when asked: every
    40th output block has no DAC time, every 50th microphone stamp is 35 ms late."""
    far = np.frombuffer(reply, dtype="<i2").astype(np.int16)
    mic = echo_path.microphone(reply, room)
    echo = EchoCanceller()
    endpointer = Endpointer(aggressiveness=2, hangover_ms=450, min_speech_ms=240)
    out_s, in_s = room.out_latency_ms / 1000, room.in_latency_ms / 1000
    starts = 0
    for k in range(len(far) // FRAME_N + 4):
        t = k * FRAME_N / SAMPLE_RATE
        block = far[round((t + out_s) * SAMPLE_RATE) :][:FRAME_N]
        if len(block):
            echo.play(block, None if glitches and k % 40 == 39 else t + out_s)
        heard = t - in_s - FRAME_N / SAMPLE_RATE
        j = round(heard * SAMPLE_RATE)
        if j < 0 or j + FRAME_N > len(mic):
            continue
        late = 0.035 if glitches and k % 50 == 49 else 0.0
        frame = echo.clean(mic[j : j + FRAME_N].tobytes(), heard + late)
        starts += sum(isinstance(x, SpeechStarted) for x in endpointer.feed(frame))
    return starts


def test_hark_does_not_barge_in_on_itself_when_stamps_miss() -> None:
    reply = echo_path.hark_reply(20.0)
    room = Room(delay_ms=60, gain=0.7)
    assert _false_barge_ins(reply, room, glitches=True) == 0
    assert _false_barge_ins(reply, room, glitches=False) == 0
