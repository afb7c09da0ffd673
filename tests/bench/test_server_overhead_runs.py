"""The server overhead benchmark runs end to end and reports every figure (no timing is
asserted)."""

from __future__ import annotations

import json

import pytest

from tests.bench import server_overhead


@pytest.mark.slow
def test_benchmark_prints_a_table_and_one_json_line(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--runs", "1", "--chat-runs", "1", "--tokens", "8", "--warmup", "1"]
    assert server_overhead.main([*argv, "--first-token-ms", "5", "--token-ms", "1"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    summary = json.loads(lines[-1])
    assert summary["bench"] == "server_overhead"
    t, c = summary["transcription"], summary["chat"]
    for key in ("in_process_ms", "server_ms", "ratio", "overhead_ms", "target_ms", "decode_ms"):
        assert isinstance(t[key], float), key
    for key in ("met", "words_match", "same_text"):
        assert isinstance(t[key], bool), key
    for key in (
        "direct_first_token_ms",
        "via_first_token_ms",
        "first_token_diff_ms",
        "direct_tokens_per_s",
        "via_tokens_per_s",
        "throughput_ratio",
    ):
        assert isinstance(c[key], float), key
    assert c["complete"] is True  # every token of every stream arrived
    assert c["tokens"] == 8
    report = "\n".join(lines[:-1])
    assert "target <= 1.05 x in-process + 15 ms" in report
    assert "target >= 0.9" in report
    assert "target <= +10 ms" in report
