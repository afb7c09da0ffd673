"""What `hark listen` prints when an answer stops: the user went on, or interrupted."""

from __future__ import annotations

import io
import sys

import pytest

from app.cli.printer import Printer
from app.core.events import (
    NoticeRaised,
    ReplyTextReceived,
    TranscriptPartial,
    TranscriptReady,
    TurnCancelled,
)


def test_an_answer_stopped_because_the_user_went_on_says_so(
    capsys: pytest.CaptureFixture[str],
) -> None:
    printer = Printer(json_mode=False)
    printer(TranscriptReady("Send a message to", "en"))
    printer(ReplyTextReceived("Okay, I"))
    printer(TurnCancelled(1, "continued speech"))
    printer(TranscriptReady("Send a message to Tom saying I am late.", "en"))
    out, err = capsys.readouterr()
    assert out.splitlines() == [
        "you: Send a message to",
        "hark: Okay, I",
        "you: Send a message to Tom saying I am late.",
    ]
    assert "you went on: hearing it all as one request" in err


def test_an_interrupted_answer_says_it_stopped(capsys: pytest.CaptureFixture[str]) -> None:
    printer = Printer(json_mode=False)
    printer(ReplyTextReceived("Once upon a time"))
    printer(TurnCancelled(1, "barge-in"))
    out, err = capsys.readouterr()
    assert out == "hark: Once upon a time\n"
    assert err.strip() == "(stopped)"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_words_so_far_overwrite_one_line_in_a_terminal_and_are_cleared(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    printer = Printer(json_mode=False)
    printer(TranscriptPartial("Remind me to", ""))
    printer(TranscriptPartial("Remind me to call Peter", "Remind me to"))
    printer(TranscriptReady("Remind me to call Peter at five.", "en"))
    assert terminal.getvalue() == (
        "\r… Remind me to\033[K\r… Remind me to call Peter\033[K\r\033[K"
    )
    assert capsys.readouterr().out == "you: Remind me to call Peter at five.\n"


def test_words_so_far_are_not_written_into_a_pipe(capsys: pytest.CaptureFixture[str]) -> None:
    printer = Printer(json_mode=False)
    printer(TranscriptPartial("Remind me to", ""))
    printer(TranscriptReady("Remind me to call Peter.", "en"))
    out, err = capsys.readouterr()
    assert err == ""
    assert out == "you: Remind me to call Peter.\n"


def test_a_notice_after_a_percentage_starts_its_own_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    printer = Printer(json_mode=False)
    printer.progress("Downloading the model: 40 %")
    printer(NoticeRaised("llm-unreachable", "Ollama did not answer."))
    err = capsys.readouterr().err
    assert err == "\rDownloading the model: 40 %\033[K\nhark: Ollama did not answer.\n"
