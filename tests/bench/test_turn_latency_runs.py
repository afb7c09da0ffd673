"""The latency benchmark runs end to end and reports every figure (no timing is asserted)."""

from __future__ import annotations

import json

import pytest

from tests.bench import turn_latency


@pytest.mark.slow
def test_benchmark_prints_a_table_and_one_json_line(capsys: pytest.CaptureFixture[str]):
    assert turn_latency.main(["--clips", "1", "--first-token-ms", "50", "--token-ms", "5"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    summary = json.loads(lines[-1])
    for key in ("endpoint_after_true_end_ms", "asr_rtf", "first_audio_ratio", "overhead_ms"):
        assert isinstance(summary[key], float)
    assert summary["first_audio_streaming_ms"] > 0
    assert "streaming" in "\n".join(lines[:-1])
    assert "sequential" in "\n".join(lines[:-1])
