"""``hark ask`` with a real language model: SmolLM2-135M on llama.cpp's OpenAI-compatible
server writes the reply, streamed, and the real Piper voice speaks it into a file."""

from __future__ import annotations

import json
import wave
from pathlib import Path

import pytest

from tests.cli.test_main import run
from tests.llm.real_server import RealServer

pytestmark = pytest.mark.slow


def test_a_real_model_answers_and_its_answer_is_spoken(
    real_llm: RealServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HARK_LLM__PROVIDER", "openai")
    monkeypatch.setenv("HARK_LLM__HOST", real_llm.url)
    monkeypatch.setenv("HARK_LLM__MODEL", real_llm.model)
    monkeypatch.setenv("HARK_TTS__ENGINE", "piper")
    out_wav = tmp_path / "reply.wav"
    code, out, err = run(capsys, "ask", "Say hello to Anna.", "--json", "--out", str(out_wav))
    assert code == 0, err
    data = json.loads(out)
    assert data["reply"].strip()
    assert data["timings_ms"]["llm_first_token"] < data["timings_ms"]["total"]
    with wave.open(str(out_wav)) as w:
        assert w.getnframes() > w.getframerate() // 4  # at least a quarter second of speech
