"""The warm-start benchmark runs end to end and reports every figure (no timing is asserted
beyond what the fake's explicit load delay makes certain)."""

from __future__ import annotations

import json

import pytest

from tests.bench import warm_start


@pytest.mark.slow
def test_benchmark_prints_a_table_and_one_json_line(capsys: pytest.CaptureFixture[str]):
    argv = ["--turns", "1", "--load-ms", "400", "--prefill-ms", "50", "--token-ms", "5"]
    assert warm_start.main([*argv, "--first-token-ms", "20"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    summary = json.loads(lines[-1])
    for key in ("lazy_first_ms", "lazy_last_ms", "warm_first_ms", "warm_after_idle_ms"):
        assert isinstance(summary[key], float)
    # the lazy start pays the fake's 400 ms cold load in its first turn, the warm one before it
    assert summary["lazy_first_ms"] - summary["warm_first_ms"] > 400
    assert summary["warm_startup_ms"] > 400
    table = "\n".join(lines[:-1])
    assert "after 10 min idle" in table
    assert "lazy" in table
    assert "warm" in table
