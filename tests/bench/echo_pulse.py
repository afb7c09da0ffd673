"""Barge-in through a real PulseAudio loop: a null sink, its monitor as the microphone.

Real parts: a private PulseAudio (its own runtime folder and socket, stopped afterwards),
PortAudio through ALSA's ``pulse`` plugin (libasound2-plugins), Hark's ``SoundDevicePlayer`` and
``MicrophoneSource``, WebRTC's APM, webrtcvad, Piper speech. A child process opens the
microphones, lets them run 1.5 s (as Hark's run from start-up), plays a short first reply on a
freshly opened speaker stream, then (on the same, still open, stream) a long one; the user's
speech comes in through a second player after ``--user-after`` seconds. Two microphones read the
monitor, one through the canceller and one raw, each with its own endpointer. Reported per run:
false barge-ins (``SpeechStarted`` on Hark's voice alone) in the first reply (a fresh stream)
and in the second, with and without the canceller, and the delay from the user's first word to
``SpeechStarted``. Runs in real time (about 20 s a run); needs ``pulseaudio``.

    python -m tests.bench.echo_pulse [--runs 3] [--seconds 15]

The last line is one JSON object, for comparing runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

import numpy as np

from app.audio.capture import MicrophoneSource
from app.audio.echo import EchoCanceller
from app.audio.playback import SoundDevicePlayer
from app.audio.vad import Endpointer
from app.core.events import SpeechStarted
from app.core.types import SAMPLE_RATE
from tests.support import echo_path

MIC_SETTLE_FRAMES = 50
"""Frames (1.5 s) the microphones run before Hark's first reply, on a fresh speaker stream."""


class Listener:
    """A microphone and an endpointer; records when speech starts (monotonic seconds)."""

    def __init__(self, mic: MicrophoneSource) -> None:
        self.mic = mic
        self.endpointer = Endpointer()
        self.starts: list[float] = []
        self.frames = 0
        self.first = asyncio.Event()
        self.user_due: asyncio.Event | None = None
        self.due_at = 0

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        async for frame in self.mic.frames():
            self.frames += 1
            self.first.set()
            if self.user_due is not None and self.frames >= self.due_at:
                self.user_due.set()
            for item in self.endpointer.feed(frame):
                if isinstance(item, SpeechStarted):
                    self.starts.append(loop.time())


async def child(spec: dict[str, Any]) -> dict[str, Any]:
    """In the child process: both replies, the user, both microphones (see the module)."""
    reply = Path(spec["reply"]).read_bytes()
    user = Path(spec["user"]).read_bytes()
    echo = EchoCanceller()
    clean = Listener(MicrophoneSource("pulse", echo=echo))
    raw = Listener(MicrophoneSource("pulse"))
    tasks = [asyncio.create_task(x.run()) for x in (clean, raw)]
    await asyncio.wait_for(asyncio.gather(clean.first.wait(), raw.first.wait()), 20)
    # Hark opens its microphone at start-up, long before it can answer anything: wait out the
    # capture stream's first second, whose ADC times are off by up to ~200 ms while PulseAudio
    # hands over its backlog (a reply then leaks whatever the speaker does)
    clean.user_due, clean.due_at = asyncio.Event(), clean.frames + MIC_SETTLE_FRAMES
    await asyncio.wait_for(clean.user_due.wait(), 20)
    hark, person = SoundDevicePlayer("pulse", echo=echo), SoundDevicePlayer("pulse")
    await hark.start(SAMPLE_RATE)
    await hark.write(reply[: 2 * SAMPLE_RATE * 2])  # a first, short reply ...
    await asyncio.wait_for(hark.drain(), 20)
    await hark.start(SAMPLE_RATE)  # ... then the next on the same, still open, stream
    await hark.write(reply)
    t_reply = await asyncio.wait_for(hark.wait_first_sample(), 20)
    if t_reply is None:
        raise RuntimeError("the second reply never reached the device")
    clean.user_due = asyncio.Event()
    clean.due_at = clean.frames + round(spec["user_after_s"] * 1000 / 30)
    await asyncio.wait_for(clean.user_due.wait(), 30)
    await person.start(SAMPLE_RATE)
    await person.write(user)
    t_user = await asyncio.wait_for(person.wait_first_sample(), 20)
    if t_user is None:
        raise RuntimeError("the user's speech never reached the device")
    await asyncio.wait_for(asyncio.gather(hark.drain(), person.drain()), 60)
    for x in (clean, raw):
        await x.mic.aclose()
    await asyncio.gather(*tasks)
    await hark.aclose()
    await person.aclose()
    # the loop's clock and time.monotonic() are the same clock on Linux
    return {
        "clean": [t - t_reply for t in clean.starts],
        "raw": [t - t_reply for t in raw.starts],
        "user_speech_at": t_user - t_reply + spec["user_onset_s"],
        "reply_s": len(reply) / 2 / SAMPLE_RATE,
        "cleaned_frames": echo.frames_cleaned,
        "reference_s": echo.reference_samples / SAMPLE_RATE,
    }


def _pulse(folder: Path) -> tuple[subprocess.Popen[str], dict[str, str]]:
    """Start a private PulseAudio; returns it once it says it is ready, and the environment
    that points PortAudio (ALSA's pulse plugin) at it."""
    socket = folder / "native"
    (folder / "test.pa").write_text(
        f"load-module module-native-protocol-unix auth-anonymous=1 socket={socket}\n"
        "load-module module-null-sink sink_name=nullout rate=16000 channels=1\n"
        "set-default-sink nullout\nset-default-source nullout.monitor\n",
        encoding="ascii",
    )
    env = dict(
        os.environ,
        PULSE_RUNTIME_PATH=str(folder / "runtime"),
        HOME=str(folder),
        PULSE_SERVER=f"unix:{socket}",
    )
    args = ["pulseaudio", "-n", "-F", str(folder / "test.pa"), "--daemonize=no"]
    args += ["--exit-idle-time=-1", "--disallow-exit", "--use-pid-file=no", "--enable-memfd=no"]
    server = subprocess.Popen(
        [*args, "-v", "--log-target=stderr"], env=env, stderr=subprocess.PIPE, text=True
    )
    assert server.stderr is not None
    for line in server.stderr:  # blocks until the server reports in (or exits)
        if "Daemon startup complete" in line:
            break
    else:
        server.wait()
        raise RuntimeError("PulseAudio did not start")
    drain = threading.Thread(target=lambda: [None for _ in server.stderr or ()], daemon=True)
    drain.start()
    return server, env


def one_run(folder: Path, seconds: float, user_after_s: float) -> dict[str, Any]:
    half = lambda pcm: (np.frombuffer(pcm, dtype="<i2") // 2).astype("<i2").tobytes()  # noqa: E731
    user, onset = echo_path.user_speech()
    (folder / "reply.pcm").write_bytes(half(echo_path.hark_reply(seconds)))
    (folder / "user.pcm").write_bytes(half(user))
    spec = {
        "reply": str(folder / "reply.pcm"),
        "user": str(folder / "user.pcm"),
        "user_after_s": user_after_s,
        "user_onset_s": onset,
    }
    server, env = _pulse(folder)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "tests.bench.echo_pulse", "--child", json.dumps(spec)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
    finally:
        server.terminate()
        server.wait(10)
    r: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    user_s = len(user) / 2 / SAMPLE_RATE
    at = r["user_speech_at"]
    in_user = [t for t in r["clean"] if at <= t < at + user_s + 0.5]
    return {
        "false_first_with": sum(t < 0 for t in r["clean"]),
        "false_first_without": sum(t < 0 for t in r["raw"]),
        "false_second_with": sum(t >= 0 and t not in in_user for t in r["clean"]),
        "false_second_without": sum(t >= 0 and not at <= t < at + user_s + 0.5 for t in r["raw"]),
        "detect_ms": round((in_user[0] - at) * 1000) if in_user else None,
        "second_reply_s": r["reply_s"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=15.0, help="the second reply's length")
    parser.add_argument("--user-after", type=float, default=5.0, help="seconds into it")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(asyncio.run(child(json.loads(args.child)))))
        return 0
    if shutil.which("pulseaudio") is None:
        print("pulseaudio is not installed (scripts/setup dev installs it)", file=sys.stderr)
        return 2
    rows = []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="hark-pulse-") as folder:
            rows.append(one_run(Path(folder), args.seconds, args.user_after))
    print(f"PulseAudio null-sink loop, {args.runs} runs, second reply {args.seconds:.0f} s")
    print(f"{'run':>4} {'1st reply AEC/raw':>18} {'2nd reply AEC/raw':>18} {'detect ms':>10}")
    for i, r in enumerate(rows, 1):
        first = f"{r['false_first_with']}/{r['false_first_without']}"
        second = f"{r['false_second_with']}/{r['false_second_without']}"
        detect = "-" if r["detect_ms"] is None else str(r["detect_ms"])
        print(f"{i:>4} {first:>18} {second:>18} {detect:>10}")
    minutes = sum(r["second_reply_s"] for r in rows) / 60
    detects = [r["detect_ms"] for r in rows if r["detect_ms"] is not None]
    summary = {
        "runs": args.runs,
        "false_per_min_second_reply_with_aec": sum(r["false_second_with"] for r in rows) / minutes,
        "false_per_min_second_reply_without": sum(r["false_second_without"] for r in rows)
        / minutes,
        "false_in_first_reply_with_aec": sum(r["false_first_with"] for r in rows),
        "barge_in_detect_ms_median": float(statistics.median(detects)) if detects else None,
        "missed_barge_ins": sum(r["detect_ms"] is None for r in rows),
        "rows": rows,
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
