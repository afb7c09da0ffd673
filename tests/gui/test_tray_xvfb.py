"""The real ``hark`` on a real X server with a real tray (Xvfb + trayer), driven with xdotool
as a user drives it: the setup wizard appears at the first start, a right click on the tray
icon opens the menu, ``s`` opens Settings, Esc closes it, and Quit ends Hark at once.

Skipped, saying why, where Xvfb, trayer or xdotool is not installed (``scripts/setup
desktop,server,dev`` installs them).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.fakes.ollama import FakeOllama
from tests.gui.xdisplay import Display

pytestmark = pytest.mark.skipif(
    not all(shutil.which(tool) for tool in ("Xvfb", "trayer", "xdotool")),
    reason="needs Xvfb, trayer and xdotool (scripts/setup desktop,server,dev installs them)",
)

SCREEN_WIDTH = 1280  # tests.gui.xdisplay's screen
READY_S = 90.0


class Hark:
    """``python -m app -v`` under the display; its log lines are kept as they come."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.lines: list[str] = []
        self.ready = threading.Event()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "app", "-v"],
            env=env,
            cwd=Path(__file__).resolve().parents[2],
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line.rstrip())
            if "Hark is ready" in line:
                self.ready.set()
        self.ready.set()  # ended: whoever waits sees it did

    def xdotool(self, *args: str) -> list[str]:
        done = subprocess.run(
            ["xdotool", *args], env=self.env, capture_output=True, text=True, timeout=30
        )
        return done.stdout.split()

    def visible(self, name: str) -> list[str]:
        return self.xdotool("search", "--onlyvisible", "--name", name)

    def wait_for(self, what: Callable[[], bool], timeout_s: float = 20.0) -> bool:
        """Poll the X server until ``what`` holds (each poll is an xdotool call)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if what():
                return True
        return what()

    def windows(self) -> set[str]:
        """Every window on screen, named or not (a Qt menu may have no name)."""
        return set(self.xdotool("search", "--onlyvisible", "--class", "."))

    def height(self, window: str) -> int:
        found = self.xdotool("getwindowgeometry", "--shell", window)
        sizes = dict(line.split("=", 1) for line in found if "=" in line)
        return int(sizes.get("HEIGHT", "0"))

    def open_menu(self) -> None:
        """A right click on the tray icon (the rightmost slot of trayer's panel); returns once
        the menu is on screen (a new window taller than a notification balloon). A click that
        comes within the double-click time of the one before is a double click, which opens
        no menu (xdotool is quicker than a hand): then it clicks again."""
        for _attempt in range(4):
            before = self.windows()
            self.xdotool("mousemove", str(SCREEN_WIDTH - 12), "12", "click", "3")

            def menu_shown(before: set[str] = before) -> bool:
                return any(self.height(w) > 150 for w in self.windows() - before)

            if self.wait_for(menu_shown, timeout_s=2.0):
                return
        raise AssertionError(f"the tray menu did not open\n{self.log()}")

    def log(self) -> str:
        return "\n".join(self.lines[-30:])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._reader.join(timeout=10)


@pytest.fixture
def hark(tmp_path: Path) -> Iterator[Hark]:
    from tests.support.speech import tiny_en_dir

    with Display() as display, FakeOllama(models=["llama3.2:3b"]) as ollama:
        if display.kind != "xvfb+trayer":
            pytest.skip("the tray host did not start")
        env = {
            **os.environ,
            **display.env,
            "HOME": str(tmp_path),
            "XDG_CONFIG_HOME": str(tmp_path / "config"),
            "XDG_DATA_HOME": str(tmp_path / "data"),
            "XDG_CACHE_HOME": str(tmp_path / "cache"),
            "PYTHON_KEYRING_BACKEND": "keyrings.alt.file.PlaintextKeyring",
            "HARK_LLM__HOST": ollama.url,
            "HARK_ASR__MODEL": str(tiny_en_dir()),
            "HARK_TTS__ENGINE": "none",
        }
        app = Hark(env)
        try:
            assert app.ready.wait(READY_S), app.log()
            assert app.proc.poll() is None, app.log()
            yield app
        finally:
            app.stop()


@pytest.mark.slow
def test_the_tray_menu_opens_settings_and_quit_is_at_once(hark: Hark) -> None:
    assert hark.wait_for(lambda: bool(hark.visible("Set up Hark"))), hark.log()  # first start

    hark.open_menu()
    hark.xdotool("key", "s")  # &Settings…
    assert hark.wait_for(lambda: bool(hark.visible("Hark settings"))), hark.log()
    hark.xdotool("key", "Escape")  # Settings has the keyboard: Esc closes it
    assert hark.wait_for(lambda: not hark.visible("Hark settings")), hark.log()

    hark.open_menu()
    asked = time.monotonic()
    hark.xdotool("key", "q")  # &Quit
    hark.proc.wait(timeout=30)
    took = time.monotonic() - asked
    assert hark.proc.returncode == 0, hark.log()
    assert took < 1.5, f"Quit took {took:.2f} s\n{hark.log()}"
