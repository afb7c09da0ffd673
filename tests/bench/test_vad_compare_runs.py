"""The VAD comparison runs end to end on a tiny set and reports every figure (no rate or
timing is asserted beyond what makes the figures meaningful)."""

from __future__ import annotations

import json

import pytest

from tests.bench import vad_compare


@pytest.mark.slow
def test_benchmark_prints_a_table_and_one_json_line(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--sentences", "1", "--snrs", "10", "--noises", "pink", "music"]
    assert vad_compare.main(argv) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    summary = json.loads(lines[-1])
    assert summary["bench"] == "vad_compare"
    for key in (
        "auc_webrtcvad",
        "auc_gate",
        "auc_silero_alone",
        "fp_noise_webrtcvad",
        "fp_noise_gate",
        "fp_pause_webrtcvad",
        "fp_pause_gate",
        "miss_webrtcvad",
        "miss_gate",
        "webrtcvad_us_per_frame",
        "gate_us_per_frame",
        "silero_ms_per_call",
        "silero_calls_pct",
    ):
        assert isinstance(summary[key], float), key
    assert 0.5 <= summary["auc_webrtcvad"] <= 1.0
    assert summary["auc_gate"] > summary["auc_webrtcvad"]
    assert summary["speech_frames"] > 0
    assert set(summary["sweep"]) == {"0.3", "0.4", "0.5", "0.6", "0.7", "0.8"}
    report = "\n".join(lines[:-1])
    for label in ("pink", "music", "all", "ROC-AUC", "CPU per 30 ms frame"):
        assert label in report
