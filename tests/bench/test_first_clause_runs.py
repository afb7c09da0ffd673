"""The first-clause benchmark runs end to end and reports its figures; at the fake's pace the
clause must come out sooner than the whole first sentence (nine more tokens at 80 ms each)."""

from __future__ import annotations

import json

import pytest

from tests.bench import first_clause


@pytest.mark.slow
def test_benchmark_prints_a_table_and_one_json_line(capsys: pytest.CaptureFixture[str]):
    assert first_clause.main(["--runs", "1", "--first-token-ms", "20", "--token-ms", "80"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    summary = json.loads(lines[-1])
    assert summary["first_audio_clause_ms"] > 0
    assert summary["saved_ms"] > 300  # the 720 ms of tokens after the comma, less any noise
    assert "whole sentence" in "\n".join(lines[:-1])
