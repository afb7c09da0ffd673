"""Start Hark when the user logs in: the freedesktop (XDG) autostart entry on Linux.

Desktops that follow the XDG Autostart specification (GNOME, KDE, Xfce, Cinnamon, LXQt…) start
every ``*.desktop`` file in ``$XDG_CONFIG_HOME/autostart`` at login, so turning the setting on
writes ``hark.desktop`` there and turning it off deletes it. The ``Exec`` line runs the same
Hark the user is running now (the bundle's executable, the ``hark`` script, resolved, or
``python -m app`` from a source checkout). Windows and macOS need other mechanisms: the
Windows installer offers a "start at login" task (packaging/windows/hark.iss), and on macOS
Hark.app is added to the Login Items by hand; :attr:`Autostart.supported` is False there, with
a clear reason.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from app.shared.errors import ConfigCode, ConfigError

log = logging.getLogger(__name__)

ENTRY_NAME = "hark.desktop"
DEFAULT_ARGUMENTS = ("tray",)
"""What the entry asks Hark to do at login: start the tray app."""
UNSUPPORTED = (
    "Starting at login cannot be set from here on this system yet; add Hark to your "
    "login items by hand."
)
_RESERVED = set(" \t\n\"'\\><~|&;$*?#()`")


def hark_command(
    argv0: str | None = None, *, frozen: bool | None = None, executable: str | None = None
) -> list[str]:
    """The command that starts this Hark: the bundle's executable when Hark runs from a
    PyInstaller bundle (``sys.frozen``; there is no Python to run ``-m app`` with), the resolved
    ``hark`` script when Hark was started through it, else this Python with ``-m app``.

    ``frozen`` and ``executable`` default to this process's ``sys.frozen`` and
    ``sys.executable``; tests pass their own."""
    exe = sys.executable if executable is None else executable
    if getattr(sys, "frozen", False) if frozen is None else frozen:
        # resolved: the ~/.local/bin/hark link may go while the bundle stays
        return [str(Path(exe).resolve())]
    raw = sys.argv[0] if argv0 is None else argv0
    if raw and not raw.endswith(".py") and raw not in ("-c", "-m"):
        script = Path(raw)
        if script.name.lower().startswith("hark") and not script.is_dir():
            found = script if script.exists() else None
            if found is None and script.name == raw:  # started as plain `hark` from PATH
                import shutil

                which = shutil.which(raw)
                found = Path(which) if which else None
            if found is not None:
                return [str(found.resolve())]
    return [str(Path(exe).resolve()), "-m", "app"]


def exec_line(command: Sequence[str]) -> str:
    """``command`` as a desktop entry ``Exec`` value (quoted and escaped as the spec says)."""
    parts = []
    for arg in command:
        if arg and not (set(arg) & _RESERVED):
            quoted = arg
        else:
            inner = "".join("\\" + c if c in '"`$\\' else c for c in arg)
            quoted = f'"{inner}"'
        # the value is also a desktop-entry string: its backslashes are escaped once more,
        # and a literal percent sign is written twice (field codes use %)
        parts.append(quoted.replace("\\", "\\\\").replace("%", "%%"))
    return " ".join(parts)


def desktop_entry(command: Sequence[str]) -> str:
    """The text of ``hark.desktop``."""
    return (
        "[Desktop Entry]\n"
        "Type=Application\n"
        "Name=Hark\n"
        "Comment=Talk to your computer; Hark answers out loud\n"
        f"Exec={exec_line(command)}\n"
        "Icon=hark\n"
        "Terminal=false\n"
        "Categories=Utility;\n"
        "X-GNOME-Autostart-enabled=true\n"
    )


class Autostart:
    """The login-start setting for this user.

    ``platform`` and ``env`` default to this process's; tests pass their own ``env`` with a
    temporary ``XDG_CONFIG_HOME``. ``command`` defaults to :func:`hark_command` plus
    :data:`DEFAULT_ARGUMENTS`.
    """

    def __init__(
        self,
        *,
        platform: str | None = None,
        env: Mapping[str, str] | None = None,
        command: Sequence[str] | None = None,
    ) -> None:
        self.platform = sys.platform if platform is None else platform
        self._env = os.environ if env is None else env
        self._command = list(command) if command is not None else None

    @property
    def supported(self) -> bool:
        """Whether this system's autostart can be set from Hark (XDG desktops only, for now)."""
        return self.platform.startswith(("linux", "freebsd", "openbsd", "netbsd"))

    @property
    def path(self) -> Path:
        """``$XDG_CONFIG_HOME/autostart/hark.desktop`` (``~/.config`` when unset)."""
        base = self._env.get("XDG_CONFIG_HOME") or ""
        root = Path(base) if os.path.isabs(base) else Path(self._home()) / ".config"
        return root / "autostart" / ENTRY_NAME

    def _home(self) -> str:
        return self._env.get("HOME") or str(Path.home())

    @property
    def enabled(self) -> bool:
        """The entry exists (and was not switched off by hand with ``Hidden=true``)."""
        if not self.supported:
            return False
        try:
            text = self.path.read_text(encoding="utf-8")
        except OSError:
            return False
        lines = {line.strip().lower() for line in text.splitlines()}
        return "hidden=true" not in lines and "x-gnome-autostart-enabled=false" not in lines

    def command(self) -> list[str]:
        return self._command or [*hark_command(), *DEFAULT_ARGUMENTS]

    def status(self) -> str:
        """One line for the settings dialog."""
        if not self.supported:
            return UNSUPPORTED
        if self.enabled:
            return f"Hark starts when you log in ({self.path})."
        return "Hark does not start by itself when you log in."

    def enable(self) -> Path:
        """Write the entry; raise ``ConfigError`` when that is not possible here."""
        if not self.supported:
            raise ConfigError(ConfigCode.AUTOSTART_UNSUPPORTED, UNSUPPORTED)
        path = self.path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            temp = path.with_name(path.name + ".tmp")
            temp.write_text(desktop_entry(self.command()), encoding="utf-8")
            os.replace(temp, path)
        except OSError as exc:
            raise ConfigError(
                ConfigCode.AUTOSTART_WRITE,
                f"could not write {path}: {exc.strerror or exc}. Check that the folder is "
                "writable.",
            ) from exc
        log.info("autostart entry written: %s", path)
        return path

    def disable(self) -> bool:
        """Delete the entry; False when there was none."""
        if not self.supported:
            return False
        try:
            self.path.unlink()
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise ConfigError(
                ConfigCode.AUTOSTART_WRITE, f"could not delete {self.path}: {exc.strerror or exc}"
            ) from exc
        log.info("autostart entry removed: %s", self.path)
        return True

    def set(self, enabled: bool) -> None:
        """Turn starting at login on or off."""
        if enabled:
            self.enable()
        else:
            self.disable()
