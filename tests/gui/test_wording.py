"""The engine's messages as the window shows them: no backticks, Settings pages instead of
setting names, no exception class names, hotkeys as people write them."""

from __future__ import annotations

import pytest

from app.gui.wording import hotkey_words, plain_words


@pytest.mark.parametrize(
    ("said", "shown"),
    [
        (
            "the calendar is turned off (google.calendar)",
            "the calendar is turned off (see Settings ▸ Google)",
        ),
        (
            "not done: mail_send is switched off in the settings (policy.tools.mail_send = deny)",
            "not done: “Send an email” is switched off in the settings "
            "(see Settings ▸ Permissions)",
        ),
        (
            "Store the server's key with `hark secret set server-api-key` "
            "(or HARK_SERVER_API_KEY).",
            "Store the server's key with hark secret set server-api-key.",
        ),
        (
            "Run `ollama pull x` there, or set HARK_LLM__MODEL to one it has.",
            "Run ollama pull x there, or change it in Settings ▸ Language model to one it has.",
        ),
        (
            "nothing was done: the action policy failed (RuntimeError('boom'))",
            "nothing was done: the action policy failed",
        ),
        (
            "try again later, or raise policy.rate_limits.mail_send",
            "try again later, or raise its hourly limit in the settings file",
        ),
        ("no tool named 'calendar_create_event'", "“Create an event” is not available right now"),
        ("Plain words stay as they are.", "Plain words stay as they are."),
        ("See www.google.com or audio.example.org.", "See www.google.com or audio.example.org."),
    ],
)
def test_plain_words(said: str, shown: str) -> None:
    assert plain_words(said) == shown


def test_hotkeys_as_people_write_them() -> None:
    assert hotkey_words("<ctrl>+<alt>+<space>") == "Ctrl+Alt+Space"
    assert hotkey_words("<cmd>+<shift>+h") == "Cmd+Shift+H"
    assert hotkey_words("<f12>") == "F12"
    assert hotkey_words("Ctrl+Alt+Space") == "Ctrl+Alt+Space"


def test_notifications_come_in_plain_words(qtbot: object) -> None:
    from app.gui.tray import TrayController

    tray = TrayController(force_window=True)
    tray.notify("Hark", "Run `hark doctor`, or set HARK_LLM__MODEL to one it has.")
    assert tray.recent[-1] == (
        "Hark",
        "Run hark doctor, or change it in Settings ▸ Language model to one it has.",
    )
