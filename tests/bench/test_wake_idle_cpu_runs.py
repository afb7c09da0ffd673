"""The wake word CPU benchmark runs end to end and reports every figure (no timing is
asserted)."""

from __future__ import annotations

import json

import pytest

from tests.bench import wake_idle_cpu


@pytest.mark.slow
def test_benchmark_prints_a_table_and_one_json_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert wake_idle_cpu.main(["--seconds", "2"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    summary = json.loads(lines[-1])
    assert summary["bench"] == "wake_idle_cpu"
    for key in ("gated_silence_cpu_pct", "gated_speech_cpu_pct", "ungated_cpu_pct", "load_s"):
        assert isinstance(summary[key], float), key
    assert summary["detections"] == 0  # background speech is not the wake word
    assert 0 < summary["gated_speech_scored_pct"] <= 100
    report = "\n".join(lines[:-1])
    for label in ("gated, silence", "gated, speech", "ungated"):
        assert label in report
    assert "cpu %" in report
