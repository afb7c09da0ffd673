"""Remote server ▸ Status/Start/Stop/Destroy work only with a server deployed; otherwise they
are disabled and say why, and every answer is in the user's words."""

from __future__ import annotations

from collections.abc import Callable

from app.gui.app import HarkApp
from app.gui.deploy_actions import NO_KEY
from app.gui.deploy_words import error_words
from app.shared.errors import HarkError
from remote.deploy.deployed import records
from remote.deploy.records import Deployment

ACTING = ("status", "start", "stop", "destroy")


def deployment() -> Deployment:
    return Deployment(
        27000001,
        "hark-20261123-test",
        77,
        "RTX 4080",
        0.112,
        "llama3.2:3b",
        "2026-11-23T06:00:00+00:00",
        "-----BEGIN CERTIFICATE-----\nX\n",
        "203.0.113.7",
        41234,
        "ready",
    )


def test_with_nothing_deployed_only_deploy_is_offered(
    qtbot, start_app: Callable[..., HarkApp]
) -> None:
    hark = start_app()
    for name in ACTING:
        action = hark.tray.actions[f"remote:{name}"]
        assert not action.isEnabled(), name
        assert action.toolTip() == "No server deployed yet — use Deploy to Vast.ai… first."
    assert hark.tray.actions["remote:deploy"].isEnabled()

    records().save(deployment())  # a deploy finished (here, or in a terminal)
    hark.tray.remote_menu.aboutToShow.emit()  # the user opens the submenu
    for name in ACTING:
        assert hark.tray.actions[f"remote:{name}"].isEnabled(), name


def test_answers_name_no_commands_or_codes() -> None:
    for code in ("remote-none", "remote-ambiguous", "remote-gone", "vast-auth"):
        words = error_words(HarkError(code, "make one with `hark remote deploy`"))
        assert "hark " not in words
        assert "`" not in words
        assert code not in words
    assert "Deploy to Vast.ai…" in error_words(HarkError("remote-none", "x"))
    assert "hark secret" not in NO_KEY
    assert "`" not in NO_KEY
