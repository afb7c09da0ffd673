"""The tray icon follows the language model within seconds: down while idle, back after a
failed turn (the fake Ollama loses and regains its model; the app checks every 0.2 s)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from app.core.events import TurnFailed
from app.gui.app import HarkApp
from app.gui.state import TrayState
from tests.fakes.ollama import FakeOllama

MODEL = "llama3.2:3b"


@pytest.fixture(autouse=True)
def quick_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARK_LLM__RETRY_INTERVAL_S", "0.2")


def test_a_model_that_goes_away_while_idle_shows_offline_then_ready(
    qtbot, start_app: Callable[..., HarkApp], ollama: FakeOllama
) -> None:
    hark = start_app()
    qtbot.waitUntil(lambda: len(ollama.calls) > 0, timeout=10_000)  # the first check
    assert hark.tray.state is TrayState.IDLE
    ollama.models.clear()  # the model is gone (removed, or the server lost it)
    qtbot.waitUntil(lambda: hark.tray.state is TrayState.OFFLINE, timeout=10_000)
    assert "does not have the model" in hark.tray.icon.toolTip()
    ollama.add_model(MODEL)
    qtbot.waitUntil(lambda: hark.tray.state is TrayState.IDLE, timeout=10_000)
    assert "does not have the model" not in hark.tray.icon.toolTip()


def test_after_a_failed_turn_the_error_goes_once_the_model_answers_again(
    qtbot, start_app: Callable[..., HarkApp], ollama: FakeOllama
) -> None:
    hark = start_app()
    assert hark.bridge is not None
    states: list[TrayState] = []
    failed: list[TurnFailed] = []
    hark.bridge.event_received.connect(lambda _e: states.append(hark.tray.state))
    hark.bridge.event_received.connect(
        lambda e: failed.append(e) if isinstance(e, TurnFailed) else None
    )
    ollama.fail(500, "model runner crashed")  # this turn's chat fails; /api/tags still works
    hark.bridge.run(hark.services().ask("what time is it?"))
    qtbot.waitUntil(lambda: bool(failed), timeout=10_000)
    assert failed[0].code == "llm-server-error"
    assert TrayState.ERROR in states
    qtbot.waitUntil(lambda: hark.tray.state is TrayState.IDLE, timeout=10_000)
    assert "Last error" not in hark.tray.icon.toolTip()
