"""The latency benchmark runs end to end and reports every figure (no timing is asserted)."""

from __future__ import annotations

import json

import pytest

from tests.bench import turn_latency


@pytest.mark.slow
def test_benchmark_prints_a_table_and_one_json_line(capsys: pytest.CaptureFixture[str]):
    args = ["--clips", "1", "--first-token-ms", "50", "--token-ms", "5", "--pause-clips", "1"]
    assert turn_latency.main(args) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    summary = json.loads(lines[-1])
    for key in turn_latency.FIGURES:
        assert isinstance(summary[key], float), key
    assert summary["first_audio_ms"] > summary["model_to_clause_ms"]
    assert summary["answered_split"] in (0, 1)
    table = "\n".join(lines[:-1])
    for mode in ("streaming", "no early asr", "sequential"):
        assert mode in table
