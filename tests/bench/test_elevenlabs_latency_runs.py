"""The ElevenLabs latency benchmark runs end to end against the fake and reports every figure
(no timing is asserted: this machine is shared)."""

from __future__ import annotations

import json

import pytest

from tests.bench import elevenlabs_latency


def test_benchmark_prints_a_table_and_one_json_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert elevenlabs_latency.main(["--runs", "1", "--first-chunk-ms", "5", "--token-ms", "1"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    summary = json.loads(lines[-1])
    assert summary["bench"] == "elevenlabs_latency"
    assert summary["runs"] == 1
    for key in (
        "http_sentence_ms",
        "http_fresh_ms",
        "ws_sentence_ms",
        "ws_stream_ms",
        "http_from_first_word_ms",
        "ws_from_first_word_ms",
        "ws_stream_saving_ms",
        "speaker_sentence_ms",
        "speaker_stream_ms",
    ):
        assert isinstance(summary[key], float), key
    # every path waited for the fake's first-chunk delay, so none can be faster than it
    for key in ("http_sentence_ms", "http_fresh_ms", "ws_sentence_ms", "ws_stream_ms"):
        assert summary[key] >= 5.0, key
    # the whole reply over one connection voices its first clause ("Sure,") at once: audio
    # comes sooner after the model's first word than when the voice waits for the sentence
    assert summary["ws_from_first_word_ms"] < summary["http_from_first_word_ms"]
    # the reply has three sentences: three connections per sentence, one for the stream
    assert summary["speaker_sentence_connections"] == 3
    assert summary["speaker_stream_connections"] == 1
    report = "\n".join(lines[:-1])
    assert "WebSocket, whole reply over one connection" in report
    assert "HTTP, a request per sentence" in report
    assert "speaker, one stream per reply" in report
