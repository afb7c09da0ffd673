"""The tray's state rules for listening, a missing microphone and an error the LLM caused."""

from __future__ import annotations

from app.core.events import (
    BackendStatusChanged,
    ListeningTimedOut,
    Stage,
    TurnCancelled,
    TurnFailed,
    TurnFinished,
    TurnResult,
    TurnStarted,
    TurnTimings,
    WakeWordDetected,
)
from app.gui.state import StateTracker, TrayState


def test_the_wake_word_shows_listening_until_the_request_is_taken_or_none_comes() -> None:
    tracker = StateTracker()
    tracker.feed(WakeWordDetected("hey_jarvis", 0.99))
    assert tracker.state is TrayState.LISTENING
    tracker.feed(ListeningTimedOut(8.0))
    assert tracker.state is TrayState.IDLE
    tracker.feed(WakeWordDetected("hey_jarvis", 0.99))
    tracker.feed(TurnStarted(1, "voice"))
    assert tracker.state is TrayState.THINKING


def test_listening_wins_over_the_end_of_the_turn_it_interrupted() -> None:
    tracker = StateTracker()
    tracker.feed(TurnStarted(1, "voice"))
    tracker.set_listening(True)  # a click while Hark answers: listening again at once
    tracker.feed(TurnCancelled(1, "push-to-talk"))
    tracker.feed(TurnFinished(TurnResult(1, "", "", (), TurnTimings(), cancelled=True)))
    assert tracker.state is TrayState.LISTENING
    tracker.feed(TurnStarted(2, "text"))  # a typed request does not end listening
    assert tracker.listening


def test_an_llm_error_goes_when_the_llm_answers_again_but_not_for_another_backend() -> None:
    tracker = StateTracker()
    tracker.feed(TurnStarted(1, "voice"))
    tracker.feed(TurnFailed(1, Stage.LLM, "llm-unreachable", "Ollama did not answer"))
    tracker.feed(BackendStatusChanged("asr", True, "ready"))
    assert tracker.state is TrayState.ERROR
    tracker.feed(BackendStatusChanged("llm", True, "ready"))
    assert tracker.state is TrayState.IDLE
    assert "Last error" not in tracker.tooltip()


def test_no_microphone_is_degraded_and_never_called_ready() -> None:
    tracker = StateTracker(talk_hint="Talk: Ctrl+Alt+Space (hold) or click")
    tracker.no_microphone = "No input device was found."
    assert tracker.state is TrayState.OFFLINE
    tip = tracker.tooltip()
    assert tip.splitlines()[0] == "Hark — no microphone found: type to Hark instead"
    assert "Microphone: No input device was found." in tip
    assert "Ctrl+Alt+Space" not in tip
