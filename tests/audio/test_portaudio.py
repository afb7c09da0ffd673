"""The real PortAudio path, without a sound card: ALSA's ``file`` plugin as the devices.

A test ALSA configuration defines capture devices that read raw PCM from a file and playback
devices that write what they play to a file (their slave is ALSA's ``null`` device). They are
not paced: PortAudio calls back as fast as it can, and after the input file ends it repeats
stale data, so inputs are padded with silence and a fixed number of frames is read.

``sounddevice`` initialises PortAudio when imported, so all scenarios run in one child process
(``portaudio_driver.py``) whose environment points ALSA at that configuration. Needs the system
library ``libportaudio2`` (and ALSA's ``libasound2``, which it pulls in).
"""

from __future__ import annotations

import ctypes.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from app.audio.capture import FrameAssembler
from app.audio.resample import resample_pcm
from app.core.types import FRAME_BYTES, SAMPLE_RATE

pytestmark = [
    pytest.mark.portaudio,
    pytest.mark.skipif(
        ctypes.util.find_library("portaudio") is None,
        reason="libportaudio2 is not installed (apt-get install libportaudio2)",
    ),
]

ROOT = Path(__file__).resolve().parents[2]
DRIVER = Path(__file__).with_name("portaudio_driver.py")
REPLY_RATE = 22_050  # Piper's rate: the player must resample it for a 48 kHz device


def tone(freq: float, seconds: float, rate: int, amp: float = 8000.0) -> npt.NDArray[np.int16]:
    t = np.arange(int(seconds * rate)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def peak_hz(samples: npt.NDArray[np.int16], rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64) * np.hanning(len(samples))))
    return float(np.argmax(spectrum) * rate / len(samples))


def audible(raw: bytes) -> npt.NDArray[np.int16]:
    """What a playback device wrote, without the silence it played before and after."""
    x = np.frombuffer(raw, dtype="<i2")
    loud = np.nonzero(x)[0]
    return x[loud[0] : loud[-1] + 1] if len(loud) else x[:0]


def nonzero(raw: bytes) -> npt.NDArray[np.int16]:
    """The samples that are not silence. The devices here are not paced, so the player
    underruns between chunks and pads with silence, as it should; a reply without zero samples
    is then compared whole."""
    x: npt.NDArray[np.int16] = np.frombuffer(raw, dtype="<i2")
    loud: npt.NDArray[np.int16] = x[x != 0]
    return loud


@pytest.fixture(scope="module")
def alsa(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Write the inputs and the ALSA configuration, run every scenario, return the results."""
    d = tmp_path_factory.mktemp("alsa")
    rng = np.random.default_rng(7)
    data: dict[str, Any] = {"dir": d}

    # 16 kHz mono capture: 2 s of noise (every sample distinct from its neighbours), then
    # 1 s of silence so that reading past the data never meets the plugin's stale repeats.
    mic16 = rng.integers(-20000, 20000, 2 * SAMPLE_RATE, dtype=np.int16)
    (d / "in16.raw").write_bytes(mic16.tobytes() + bytes(2 * SAMPLE_RATE))
    data["mic16"] = mic16

    # 48 kHz stereo capture, converted by Hark: a 440 Hz tone, louder on the left.
    left, right = tone(440, 2.0, 48_000, 9000), tone(440, 2.0, 48_000, 3000)
    stereo = np.stack([left, right], axis=1).reshape(-1)
    (d / "in48.raw").write_bytes(stereo.tobytes() + bytes(48_000 * 4))
    data["mic48"] = stereo

    # Replies to play: Hark's own rate (bit-exact) and Piper's rate on a 48 kHz device.
    reply16 = rng.integers(-12000, 12000, SAMPLE_RATE, dtype=np.int16)
    reply16[reply16 == 0] = 1  # no zero inside, so the audible span is exactly the reply
    (d / "reply16.raw").write_bytes(reply16.tobytes())
    data["reply16"] = reply16
    reply22 = tone(660, 1.5, REPLY_RATE)
    (d / "reply22.raw").write_bytes(reply22.tobytes())
    data["reply22"] = reply22

    conf = d / "test.conf"
    lines = [
        f'pcm.hark_in16 {{ type file; slave.pcm "null"; file "/dev/null"; '
        f'infile "{d / "in16.raw"}"; format "raw" }}',
        f'pcm.hark_in48 {{ type file; slave.pcm "null"; file "/dev/null"; '
        f'infile "{d / "in48.raw"}"; format "raw" }}',
    ]
    for name in ("out16", "out48", "barge"):
        lines.append(
            f'pcm.hark_{name} {{ type file; slave.pcm "null"; file "{d / name}.raw"; '
            'format "raw" }'
        )
    conf.write_text("\n".join(lines) + "\n")

    frames16 = (len(mic16) * 2) // FRAME_BYTES  # whole frames of the data, none of the pad
    scenarios = [
        {"name": "list", "mode": "list"},
        {
            "name": "missing",
            "mode": "capture",
            "device": "no such mic",
            "frames": 1,
            "out": str(d / "none.raw"),
        },
        # A huge queue: the unpaced device must not make the source drop frames here. Device
        # blocks of 7 ms: the source must still hand out exact 30 ms frames.
        {
            "name": "cap16",
            "mode": "capture",
            "device": "HARK_IN1",
            "block_ms": 7,
            "frames": frames16,
            "out": str(d / "cap16.raw"),
            "max_queue_frames": 1_000_000,
        },
        {
            "name": "cap48",
            "mode": "capture",
            "device": "hark_in48",
            "device_rate": 48_000,
            "device_channels": 2,
            "frames": 50,
            "out": str(d / "cap48.raw"),
            "max_queue_frames": 1_000_000,
        },
        {
            "name": "play16",
            "mode": "play",
            "device": "hark_out16",
            "rate": SAMPLE_RATE,
            "pcm": str(d / "reply16.raw"),
            "chunk_bytes": 3000,
        },
        {
            "name": "play48",
            "mode": "play",
            "device": "hark_out48",
            "rate": REPLY_RATE,
            "device_rate": 48_000,
            "pcm": str(d / "reply22.raw"),
            "chunk_bytes": len(reply22) * 2,
        },
        {
            "name": "barge",
            "mode": "play",
            "device": "hark_barge",
            "rate": SAMPLE_RATE,
            "pcm": str(d / "reply16.raw"),
            "chunk_bytes": 9600,
            "stop_at_bytes": 9600,
        },
    ]
    env = dict(os.environ)
    env["ALSA_CONFIG_PATH"] = f"/usr/share/alsa/alsa.conf:{conf}"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    proc = subprocess.run(
        [sys.executable, str(DRIVER), json.dumps(scenarios)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    data["results"] = json.loads(proc.stdout.strip().splitlines()[-1])
    data["stderr"] = proc.stderr[-4000:]
    return data


def result(alsa: dict[str, Any], name: str) -> dict[str, Any]:
    res: dict[str, Any] = alsa["results"][name]
    assert "exception" not in res, f"{res['exception']}\n{alsa['stderr']}"
    return res


def test_devices_are_listed(alsa: dict[str, Any]) -> None:
    names = result(alsa, "list")["devices"]
    assert {"hark_in16", "hark_in48", "hark_out16"} <= set(names)


def test_unknown_device_names_the_choices(alsa: dict[str, Any]) -> None:
    res = result(alsa, "missing")
    assert res["error"] == "audio-input-device-not-found"
    assert "no such mic" in res["message"]
    assert "hark_in16" in res["message"]


def test_capture_is_bit_exact_in_whole_frames(alsa: dict[str, Any]) -> None:
    res = result(alsa, "cap16")
    mic16: npt.NDArray[np.int16] = alsa["mic16"]
    assert res["device"] == "hark_in16"  # found by a partial, case-insensitive name
    assert res["format"] == [SAMPLE_RATE, 1]
    assert res["sizes"] == [FRAME_BYTES]
    assert res["overflows"] == 0
    got = np.frombuffer((alsa["dir"] / "cap16.raw").read_bytes(), dtype="<i2")
    assert len(got) == res["frames"] * FRAME_BYTES // 2
    np.testing.assert_array_equal(got, mic16[: len(got)])


def test_capture_resamples_and_mixes_a_48k_stereo_device(alsa: dict[str, Any]) -> None:
    res = result(alsa, "cap48")
    assert res["format"] == [48_000, 2]
    assert res["sizes"] == [FRAME_BYTES]
    got = np.frombuffer((alsa["dir"] / "cap48.raw").read_bytes(), dtype="<i2")
    assert len(got) == 50 * FRAME_BYTES // 2
    # The same conversion done here in one go: equal up to rounding at block edges.
    expected = np.frombuffer(
        b"".join(FrameAssembler(48_000, 2).push(alsa["mic48"].tobytes())), dtype="<i2"
    )
    assert np.abs(got.astype(np.int32) - expected[: len(got)]).max() <= 2
    assert abs(peak_hz(got, SAMPLE_RATE) - 440) < 5
    # Mixed to mono: the mean of a 9000 and a 3000 amplitude tone.
    assert 5700 < np.abs(got[200:]).max() < 6300


def test_playback_lands_bit_exact(alsa: dict[str, Any]) -> None:
    res = result(alsa, "play16")
    assert res["device_rate"] == SAMPLE_RATE
    assert res["first_sample_after_start_s"] is not None
    assert 0 <= res["first_sample_after_start_s"] < 1.0
    played = nonzero((alsa["dir"] / "out16.raw").read_bytes())
    np.testing.assert_array_equal(played, alsa["reply16"])


def test_playback_resamples_for_a_48k_device(alsa: dict[str, Any]) -> None:
    res = result(alsa, "play48")
    assert res["device_rate"] == 48_000
    played = audible((alsa["dir"] / "out48.raw").read_bytes())
    expected_len = len(alsa["reply22"]) * 48_000 / REPLY_RATE
    assert abs(len(played) - expected_len) < 0.01 * expected_len
    assert abs(peak_hz(played, 48_000) - 660) < 5
    reference = np.frombuffer(
        resample_pcm(alsa["reply22"].tobytes(), REPLY_RATE, 48_000), dtype="<i2"
    )
    # Streamed in chunks, it matches converting the whole reply at once (up to a small delay).
    window = played[1000:20000].astype(np.int32)
    errors = [np.abs(window - reference[1000 + lag : 20000 + lag]).max() for lag in range(-8, 9)]
    assert min(errors) < 100


def test_barge_in_drops_the_rest_of_the_reply(alsa: dict[str, Any]) -> None:
    result(alsa, "barge")
    played = nonzero((alsa["dir"] / "barge.raw").read_bytes())
    reply: npt.NDArray[np.int16] = alsa["reply16"]
    written_before_stop = 9600 // 2
    # Something was heard (the stop came after the first sample), only from before the stop.
    assert 0 < len(played) <= written_before_stop < len(reply)
    np.testing.assert_array_equal(played, reply[: len(played)])
