"""A display for the desktop app's benchmarks and screenshots: Xvfb with the ``trayer`` tray
host when both are installed (``scripts/setup …,dev`` installs them), else offscreen Qt."""

from __future__ import annotations

import os
import shutil
import subprocess


class Display:
    """Xvfb + trayer when available (a tray host, as on a desktop), else offscreen Qt."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []
        self.env: dict[str, str] = {"QT_QPA_PLATFORM": "offscreen"}
        self.kind = "offscreen"

    def __enter__(self) -> Display:
        if shutil.which("Xvfb") and shutil.which("trayer"):
            read, write = os.pipe()
            xvfb = subprocess.Popen(
                [
                    "Xvfb",
                    "-displayfd",
                    str(write),
                    "-screen",
                    "0",
                    "1280x800x24",
                    "-nolisten",
                    "tcp",
                ],
                pass_fds=(write,),
                stderr=subprocess.DEVNULL,
            )
            os.close(write)
            self.procs.append(xvfb)
            number = os.read(read, 16).decode().strip()
            os.close(read)
            display = f":{number}"
            env = {**os.environ, "DISPLAY": display}
            tray = subprocess.Popen(
                [
                    "trayer",
                    "--edge",
                    "top",
                    "--align",
                    "right",
                    "--widthtype",
                    "pixel",
                    "--width",
                    "200",
                ],
                env=env,
                stderr=subprocess.DEVNULL,
            )
            self.procs.append(tray)
            subprocess.run(
                ["xdotool", "search", "--sync", "--class", "trayer"],
                env=env,
                capture_output=True,
                timeout=10,
                check=False,
            )
            self.env = {"DISPLAY": display, "QT_QPA_PLATFORM": "xcb"}
            self.kind = "xvfb+trayer"
        return self

    def __exit__(self, *exc: object) -> None:
        for proc in reversed(self.procs):
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
