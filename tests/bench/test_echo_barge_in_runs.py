"""The echo barge-in benchmark runs end to end and reports every figure (no timing asserted)."""

from __future__ import annotations

import json

import pytest

from tests.bench import echo_barge_in


@pytest.mark.slow
def test_benchmark_prints_a_table_and_one_json_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert echo_barge_in.main(["--seconds", "9", "--delays", "60"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    summary = json.loads(lines[-1])
    assert summary["false_barge_ins_per_min_with_aec"] == 0.0
    assert summary["false_barge_ins_per_min_without_aec"] > 0
    assert summary["missed_barge_ins_with_aec"] == 0
    assert isinstance(summary["barge_in_detect_ms_median"], float)
    assert [r["delay_ms"] for r in summary["rooms"]] == [60.0]
    assert "false/min AEC" in "\n".join(lines[:-1])
