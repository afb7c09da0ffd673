"""What `hark listen` prints when an answer stops: the user went on, or interrupted."""

from __future__ import annotations

import pytest

from app.cli.printer import Printer
from app.core.events import ReplyTextReceived, TranscriptReady, TurnCancelled


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
