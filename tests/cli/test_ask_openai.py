"""``hark ask`` and ``hark doctor`` with an OpenAI-compatible server as the language model
(``llm.provider = "openai"``): the fake's ``/v1`` API streaming tool calls in pieces, as
llama.cpp's server and vLLM do, the key from the keyring, the real Piper voice."""

from __future__ import annotations

import json
import wave
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.settings.secrets import SecretStore
from tests.cli.test_main import run
from tests.fakes.ollama import FakeOllama

MODEL = "qwen2.5-3b-instruct"
KEY = "sk-local-5f2e9c"


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOllama]:
    with FakeOllama(models=[MODEL], token=KEY, tool_call_fragments=True) as fake:
        monkeypatch.setenv("HARK_LLM__PROVIDER", "openai")
        monkeypatch.setenv("HARK_LLM__HOST", f"{fake.url}/v1")
        monkeypatch.setenv("HARK_LLM__MODEL", MODEL)
        monkeypatch.setenv("HARK_TTS__ENGINE", "piper")
        yield fake


def test_ask_runs_a_tool_the_model_calls_and_speaks_the_answer(
    server: FakeOllama, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    SecretStore().set("llm-api-key", KEY)
    server.reply_tool_call("get_current_time", {})
    server.reply("It is noon on Monday.")
    out_wav = tmp_path / "reply.wav"
    code, out, err = run(capsys, "ask", "what time is it?", "--json", "--out", str(out_wav))
    assert code == 0, err
    data = json.loads(out)
    assert data["reply"] == "It is noon on Monday."
    assert data["tool_calls"][0]["name"] == "get_current_time"
    assert "weekday" in json.loads(data["tool_calls"][0]["result"])
    assert server.calls.count("POST /v1/chat/completions") == 2
    first, second = server.requests
    call = second["messages"][-2]["tool_calls"][0]
    result = second["messages"][-1]
    assert result["role"] == "tool"
    assert result["tool_call_id"] == call["id"]  # the result answers the call by its id
    assert call["id"].startswith("call_")
    assert {t["function"]["name"] for t in first["tools"]} >= {"get_current_time"}
    assert all(h["authorization"] == f"Bearer {KEY}" for h in server.headers)
    with wave.open(str(out_wav)) as w:
        assert w.getnframes() > 0
    assert KEY not in out + err


def test_ask_with_a_wrong_key_says_what_to_do(
    server: FakeOllama, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-not-this-one")
    code, out, err = run(capsys, "ask", "hello", "--no-voice")
    assert code != 0
    assert "refused" in err
    assert "hark secret set llm-api-key" in err
    assert "Traceback" not in err
    assert "sk-not-this-one" not in out + err


def test_doctor_checks_the_openai_compatible_server(
    server: FakeOllama, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("HARK_LLM__MODEL", "llama3.1:8b")  # not what the server serves
    code, out, _ = run(capsys, "doctor", "--json")
    checks = {c["name"]: c for c in json.loads(out)["checks"]}
    llm = checks["language model"]
    assert llm["status"] == "fail"
    assert MODEL in llm["detail"]
    assert "llm.model" in llm["fix"]
    assert code != 0
