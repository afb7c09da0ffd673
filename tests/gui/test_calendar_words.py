"""The calendar's New event says in the user's words why nothing was created (Google not
connected, the calendar read-only), over the real engine and policy; and a surprise error is
shown without its class name."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt

from app.compose.build import build_engine
from app.gui.bridge import Bridge, EngineThread
from app.gui.panes.calendar import CalendarPane
from app.gui.panes.status import error_text
from app.gui.services import EngineServices
from app.settings.load import load_settings
from app.settings.secrets import SecretStore
from app.shared.errors import HarkError
from tests.fakes.ollama import FakeOllama
from tests.gui.engine_rig import real_engine

WAIT = 10_000


def create_dentist(qtbot: Any, pane: CalendarPane) -> str:
    qtbot.mouseClick(pane.new_button, Qt.MouseButton.LeftButton)
    qtbot.keyClicks(pane.form.title_edit, "Dentist")
    with qtbot.waitSignal(pane.action_finished, timeout=WAIT) as finished:
        qtbot.mouseClick(pane.form.create_button, Qt.MouseButton.LeftButton)
    assert finished.args[0].ok is False
    return pane.form.message_label.text()


def test_new_event_without_google_says_to_connect(
    qtbot: Any,
    bridge: Bridge,
    engine_thread: EngineThread,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    with FakeOllama(models=["llama3.2:3b"]) as ollama:
        monkeypatch.setenv("HARK_LLM__HOST", ollama.url)
        monkeypatch.setenv("HARK_POLICY__AUDIT_DB", str(tmp_path / "audit.sqlite3"))
        settings = load_settings(tmp_path / "config.toml")
        secrets = SecretStore()
        engine = build_engine(
            settings, bridge.publish, secrets=secrets, speak=False, with_asr=False
        )
        try:
            services = EngineServices(engine, settings, secrets)
            pane = CalendarPane(services, bridge, today=date.today, autoload=False)
            qtbot.addWidget(pane)
            text = create_dentist(qtbot, pane)
        finally:
            engine_thread.submit(engine.aclose()).result(timeout=10)
    assert text == (
        "Not created: Google isn't connected. Connect your account with Connect Google "
        "(here, or in Settings ▸ Google), then try again."
    )


def test_new_event_with_a_read_only_calendar_says_where_to_allow_it(
    qtbot: Any,
    bridge: Bridge,
    engine_thread: EngineThread,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("HARK_GOOGLE__CALENDAR", "read")
    with real_engine(bridge, engine_thread, monkeypatch, tmp_path) as rig:
        pane = CalendarPane(rig.services, bridge, today=date.today, autoload=False)
        qtbot.addWidget(pane)
        text = create_dentist(qtbot, pane)
    assert "no tool named" not in text
    assert text == (
        "Not created: Hark may not change your calendar. Allow it in Settings ▸ Google "
        "(Calendar: read and write), then try again."
    )


def test_errors_are_shown_in_the_users_words() -> None:
    assert error_text(KeyError("x")) == "Something went wrong. Try again; the log has the details."
    off = HarkError("google-mail-off", "mail is turned off (google.mail)")
    assert error_text(off) == "mail is turned off (see Settings ▸ Google)"
