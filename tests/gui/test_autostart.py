"""The login-start entry: written and removed under the test's XDG_CONFIG_HOME."""

from __future__ import annotations

import configparser
import os
import sys
from pathlib import Path

import pytest

from app.gui.autostart import Autostart, desktop_entry, exec_line, hark_command
from app.shared.errors import ConfigError


def _entry(path: Path) -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(path.read_text(encoding="utf-8"))
    return parser["Desktop Entry"]


def test_enable_writes_the_entry_under_xdg_config_home(isolated_home: Path) -> None:
    autostart = Autostart(platform="linux", command=["/opt/hark/bin/hark", "tray"])
    assert not autostart.enabled
    path = autostart.enable()
    assert path == Path(os.environ["XDG_CONFIG_HOME"]) / "autostart" / "hark.desktop"
    assert path.is_relative_to(isolated_home)
    entry = _entry(path)
    assert entry["Type"] == "Application"
    assert entry["Exec"] == "/opt/hark/bin/hark tray"
    assert entry["X-GNOME-Autostart-enabled"] == "true"
    assert autostart.enabled
    assert "starts when you log in" in autostart.status()


def test_disable_removes_it(isolated_home: Path) -> None:
    autostart = Autostart(platform="linux", command=["hark"])
    path = autostart.enable()
    assert autostart.disable() is True
    assert not path.exists()
    assert not autostart.enabled
    assert autostart.disable() is False
    assert "does not start" in autostart.status()


def test_set_toggles(isolated_home: Path) -> None:
    autostart = Autostart(platform="linux", command=["hark"])
    autostart.set(True)
    assert autostart.path.exists()
    autostart.set(False)
    assert not autostart.path.exists()


def test_without_xdg_config_home_uses_dot_config(tmp_path: Path) -> None:
    autostart = Autostart(platform="linux", env={"HOME": str(tmp_path)}, command=["hark"])
    assert autostart.path == tmp_path / ".config" / "autostart" / "hark.desktop"
    autostart.enable()
    assert (tmp_path / ".config" / "autostart" / "hark.desktop").is_file()


def test_an_entry_switched_off_by_hand_counts_as_off(isolated_home: Path) -> None:
    autostart = Autostart(platform="linux", command=["hark"])
    path = autostart.enable()
    path.write_text(path.read_text().replace("enabled=true", "enabled=false"))
    assert not autostart.enabled


@pytest.mark.parametrize("platform", ["win32", "darwin"])
def test_other_systems_say_not_supported(platform: str, isolated_home: Path) -> None:
    autostart = Autostart(platform=platform, command=["hark"])
    assert not autostart.supported
    assert not autostart.enabled
    assert "cannot be set from here" in autostart.status()
    with pytest.raises(ConfigError) as caught:
        autostart.enable()
    assert caught.value.code == "autostart-unsupported"
    assert autostart.disable() is False
    assert not (isolated_home / ".config" / "autostart").exists()


def test_exec_line_quotes_as_the_spec_says() -> None:
    assert exec_line(["/usr/bin/hark", "tray"]) == "/usr/bin/hark tray"
    assert exec_line(["/home/a b/hark"]) == '"/home/a b/hark"'
    assert exec_line(['/x/"q"$']) == '"/x/\\\\"q\\\\"\\\\$"'
    assert exec_line(["/p/100%"]) == "/p/100%%"


def test_the_entry_runs_python_m_app_from_a_checkout() -> None:
    command = hark_command("/work/app/__main__.py")
    assert command == [str(Path(sys.executable).resolve()), "-m", "app"]
    assert "-m app tray" in desktop_entry([*command, "tray"])


def test_the_entry_runs_the_hark_script_when_started_through_it(tmp_path: Path) -> None:
    script = tmp_path / "bin" / "hark"
    script.parent.mkdir()
    script.write_text("#!/bin/sh\n")
    assert hark_command(str(script)) == [str(script.resolve())]
    assert Autostart(platform="linux").command()[-1] == "tray"
