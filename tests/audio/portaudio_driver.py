"""Drives Hark's real PortAudio code in a child process, for tests/audio/test_portaudio.py.

``sounddevice`` initialises PortAudio (and reads the ALSA configuration) when it is imported,
so each scenario runs in a fresh interpreter whose environment points ALSA at the test's
virtual devices. Usage: ``python portaudio_driver.py '<json spec>'``; the result is one line of
JSON on stdout, and any audio goes to the files the spec names. A spec is a list of scenarios,
run one after another in the same process (PortAudio starts once).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from app.audio.capture import MicrophoneSource, list_devices
from app.audio.playback import SoundDevicePlayer
from app.shared.errors import AudioError


async def capture(spec: dict[str, Any]) -> dict[str, Any]:
    mic = MicrophoneSource(
        spec["device"],
        block_ms=spec.get("block_ms", 30),
        device_rate=spec.get("device_rate"),
        device_channels=spec.get("device_channels"),
        max_queue_frames=spec.get("max_queue_frames", 100),
    )
    got: list[bytes] = []
    sizes: set[int] = set()
    async for frame in mic.frames():
        sizes.add(len(frame))
        got.append(frame)
        if len(got) == spec["frames"]:
            break
    await mic.aclose()
    Path(spec["out"]).write_bytes(b"".join(got))
    return {
        "frames": len(got),
        "sizes": sorted(sizes),
        "format": mic.device_format,
        "device": mic.device.name if mic.device else None,
        "overflows": mic.overflows,
    }


async def play(spec: dict[str, Any]) -> dict[str, Any]:
    pcm = Path(spec["pcm"]).read_bytes()
    player = SoundDevicePlayer(spec["device"], device_rate=spec.get("device_rate"))
    chunk = spec.get("chunk_bytes", 4410)
    await player.start(spec["rate"])
    before = time.monotonic()
    stop_at = spec.get("stop_at_bytes")
    for i in range(0, len(pcm), chunk):
        if i == stop_at:
            # Barge-in once the reply is audible; what is written after must never play.
            await player.wait_first_sample()
            player.stop()
        await player.write(pcm[i : i + chunk])
    await player.drain()
    first = player.first_sample_at
    await player.aclose()
    return {
        "device_rate": player.device_rate,
        "first_sample_after_start_s": None if first is None else first - before,
    }


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    try:
        if spec["mode"] == "list":
            return {"devices": [d.name for d in list_devices()]}
        if spec["mode"] == "capture":
            return await capture(spec)
        return await play(spec)
    except AudioError as exc:
        return {"error": exc.code, "message": exc.message}
    except Exception as exc:  # reported to the test, which shows it
        return {"exception": repr(exc)}


async def main(specs: list[dict[str, Any]]) -> dict[str, Any]:
    return {spec["name"]: await run(spec) for spec in specs}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(json.loads(sys.argv[1])))))
