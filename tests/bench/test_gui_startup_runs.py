"""The desktop start-up benchmark runs end to end and reports every figure (no timing is
asserted)."""

from __future__ import annotations

import json

import pytest

from tests.bench import gui_startup


@pytest.mark.slow
def test_benchmark_prints_a_table_and_one_json_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert gui_startup.main(["--runs", "1", "--idle-s", "0.2"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    summary = json.loads(lines[-1])
    assert summary["bench"] == "gui_startup"
    assert summary["runs"] == 1
    assert 0 < summary["tray_shown_s"] <= summary["ready_s"]
    assert summary["idle_rss_mb"] > 50  # Qt, Whisper and the engine are really loaded
    assert isinstance(summary["met"], bool)
    assert "tray icon shown" in "\n".join(lines[:-1])
