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
            number = b""
            while not number.endswith(b"\n"):  # Xvfb writes "N\n" once it accepts clients
                chunk = os.read(read, 16)
                if not chunk:
                    raise RuntimeError("Xvfb did not start (it wrote no display number)")
                number += chunk
            os.close(read)
            number = number.strip()
            display = f":{number.decode()}"
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
            found = subprocess.run(
                ["xdotool", "search", "--sync", "--class", "trayer"],
                env=env,
                capture_output=True,
                timeout=10,
                check=False,
            )
            if found.returncode != 0:
                self.__exit__()
                raise RuntimeError(
                    f"the tray host did not come up on Xvfb {display}: "
                    f"{found.stderr.decode(errors='replace').strip() or 'no window'}"
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
