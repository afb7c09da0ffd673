"""Starting the desktop app: ``hark`` with no arguments.

Says so when there is no display to show the tray on (and what to use instead), makes the
QApplication, starts :class:`~app.gui.app.HarkApp` and, at the first start, the setup wizard.
"""

from __future__ import annotations

import os
import sys

from PySide6.QtWidgets import QApplication

from app.gui.app import HarkApp
from app.gui.gc_main import MainThreadCollector
from app.gui.state import TrayState
from app.gui.tray import state_icon
from app.settings.schema import Settings
from app.shared.paths import config_path

NO_DISPLAY = (
    "hark: no display to show the tray app on (DISPLAY and WAYLAND_DISPLAY are unset). "
    'Use `hark ask "…"` or `hark listen` in a terminal, or start Hark from your desktop.'
)


def no_display_reason(env: dict[str, str] | None = None) -> str | None:
    """Why the GUI cannot start here, or None. Only Linux/BSD need a display server."""
    env = dict(os.environ) if env is None else env
    if not sys.platform.startswith(("linux", "freebsd", "openbsd")):
        return None
    if env.get("QT_QPA_PLATFORM", "").startswith(("offscreen", "minimal", "vnc")):
        return None
    if env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"):
        return None
    return NO_DISPLAY


def run_gui(settings: Settings) -> int:
    """``hark`` with no arguments: the tray app until Quit."""
    reason = no_display_reason()
    if reason is not None:
        print(reason, file=sys.stderr)
        return 2
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setApplicationName("Hark")
    app.setQuitOnLastWindowClosed(False)
    app.setWindowIcon(state_icon(TrayState.IDLE))
    collector = MainThreadCollector(app)  # no garbage collection on the engine's threads
    collector.start()
    hark = HarkApp(settings)
    hark.start()
    if not config_path().exists():
        hark.first_run()
    try:
        return app.exec()
    finally:
        hark.shutdown()
        collector.stop()
