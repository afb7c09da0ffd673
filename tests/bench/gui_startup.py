"""How fast ``hark`` shows its tray icon, and how much memory the app holds when idle.

Runs the real desktop app in a child process — under Xvfb with the ``trayer`` tray host when
both are installed (as on a desktop), else offscreen — with the fake Ollama as its LLM, the
Whisper tiny.en model shipped for tests, and a silent recording as the microphone. It
measures, from the moment the child is started:

- ``tray_shown_s``: the tray icon (or the no-tray window) is visible;
- ``ready_s``: the engine is assembled (speech model loaded, listening);
- ``idle_rss_mb``: the app's resident memory ``--idle-s`` seconds after it became ready.

Usage: ``python -m tests.bench.gui_startup [--runs 3] [--idle-s 2]``. Prints a small table and
one JSON line. Not a pass/fail test: the issue's target (tray in ≤ 2 s) is printed beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_TRAY_S = 2.0

CHILD = r"""
import os, sys, time, resource
from pathlib import Path
from PySide6.QtWidgets import QApplication
app = QApplication([])
app.setQuitOnLastWindowClosed(False)
from app.audio.capture import WavFileSource
from app.settings.load import load_settings
from app.gui.app import HarkApp
settings = load_settings(Path("/nonexistent.toml"))
silence = Path(os.environ["BENCH_SILENCE_WAV"])
hark = HarkApp(settings, microphone=lambda s: WavFileSource(silence, realtime=True))
def ready(_engine):
    print("READY", flush=True)
    from PySide6.QtCore import QTimer
    def report():
        rss_kb = int(next(l.split()[1] for l in open("/proc/self/status") if l.startswith("VmRSS")))
        print(f"RSS {rss_kb}", flush=True)
        hark.shutdown()
        app.quit()
    QTimer.singleShot(int(float(os.environ["BENCH_IDLE_S"]) * 1000), report)
hark.engine_ready.connect(ready)
hark.engine_failed.connect(lambda m: (print("FAILED", m, flush=True), app.quit()))
hark.start()
print("SHOWN", flush=True)
app.exec()
"""


def _silence(folder: Path, seconds: float = 120.0) -> Path:
    import wave

    path = folder / "silence.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16_000)
        w.writeframes(b"\0\0" * int(16_000 * seconds))
    return path


def one_run(env: dict[str, str], timeout_s: float = 120.0) -> dict[str, float]:
    started = time.monotonic()
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    figures: dict[str, float] = {}
    try:
        assert child.stdout is not None
        for line in child.stdout:
            now = time.monotonic() - started
            if line.startswith("SHOWN"):
                figures["tray_shown_s"] = now
            elif line.startswith("READY"):
                figures["ready_s"] = now
            elif line.startswith("RSS"):
                figures["idle_rss_mb"] = int(line.split()[1]) / 1024
            elif line.startswith("FAILED"):
                raise RuntimeError(line.strip())
            if time.monotonic() - started > timeout_s:
                raise TimeoutError("the app did not report in time")
        child.wait(timeout=30)
        if "tray_shown_s" not in figures or "idle_rss_mb" not in figures:
            assert child.stderr is not None
            raise RuntimeError(f"the app did not start: {child.stderr.read()[-2000:]}")
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--idle-s", type=float, default=2.0)
    args = parser.parse_args(argv)

    from tests.fakes.ollama import FakeOllama
    from tests.gui.xdisplay import Display
    from tests.support.speech import tiny_en_dir

    runs: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory() as tmp, FakeOllama() as ollama, Display() as display:
        home = Path(tmp)
        env = {
            **os.environ,
            **display.env,
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / "config"),
            "XDG_DATA_HOME": str(home / "data"),
            "XDG_CACHE_HOME": str(home / "cache"),
            "PYTHON_KEYRING_BACKEND": "keyrings.alt.file.PlaintextKeyring",
            "HARK_LLM__HOST": ollama.url,
            "HARK_ASR__MODEL": str(tiny_en_dir()),
            "HARK_TTS__ENGINE": "none",
            "BENCH_SILENCE_WAV": str(_silence(home)),
            "BENCH_IDLE_S": str(args.idle_s),
        }
        for _ in range(args.runs):
            runs.append(one_run(env))

    def median(key: str) -> float:
        return round(statistics.median(r[key] for r in runs), 3)

    summary = {
        "bench": "gui_startup",
        "display": display.kind,
        "runs": len(runs),
        "tray_shown_s": median("tray_shown_s"),
        "ready_s": median("ready_s"),
        "idle_rss_mb": round(statistics.median(r["idle_rss_mb"] for r in runs), 1),
        "target_tray_s": TARGET_TRAY_S,
        "met": median("tray_shown_s") <= TARGET_TRAY_S,
    }
    print(f"Hark desktop app start-up ({display.kind}, {len(runs)} runs, median)")
    print(
        f"  {'tray icon shown':<22}{summary['tray_shown_s']:>8.2f} s   target <= {TARGET_TRAY_S} s"
    )
    print(f"  {'engine ready':<22}{summary['ready_s']:>8.2f} s")
    print(f"  {'idle memory (RSS)':<22}{summary['idle_rss_mb']:>8.1f} MB")
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
