"""The listening overlay on its own: what it shows for each event of a turn, where it goes, and
that it never takes the keyboard focus (the app-level tests are in test_overlay_app.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QGuiApplication, QPalette
from PySide6.QtWidgets import QLineEdit

from app.core.events import (
    AudioStarted,
    ListeningTimedOut,
    ReplyTextReceived,
    TranscriptPartial,
    TranscriptReady,
    TurnCancelled,
    TurnFinished,
    TurnResult,
    TurnStarted,
    TurnTimings,
    UtteranceEnded,
    WakeWordDetected,
)
from app.gui.bridge import Bridge
from app.gui.level import LevelTap
from app.gui.overlay import (
    ANSWERING,
    LISTENING,
    MARGIN,
    SPEAKING,
    THINKING,
    WIDTH,
    ListeningOverlay,
    overlay_position,
)
from tests.support.speech import speak_16k


def finished(turn_id: int, text: str = "", *, cancelled: bool = False) -> TurnFinished:
    return TurnFinished(TurnResult(turn_id, text, "", (), TurnTimings(), cancelled=cancelled))


def make(qtbot: Any, **kw: Any) -> ListeningOverlay:
    overlay = ListeningOverlay(**kw)
    qtbot.addWidget(overlay)
    return overlay


def test_a_turn_from_listening_to_the_end(qtbot: Any) -> None:
    overlay = make(qtbot)
    assert not overlay.isVisible()
    overlay.on_listening_changed(True)
    assert overlay.isVisible()
    assert overlay.status.text() == LISTENING
    assert overlay.meter.isVisibleTo(overlay)
    overlay.on_engine_event(UtteranceEnded(1.2, 450.0))
    assert overlay.status.text() == THINKING
    overlay.on_listening_changed(False)
    overlay.on_engine_event(TurnStarted(4, "voice"))
    overlay.on_engine_event(TranscriptReady("what time is it", "en"))
    assert overlay.words.text() == "“what time is it”"
    assert overlay.words.isVisibleTo(overlay)
    assert not overlay.meter.isVisibleTo(overlay)
    overlay.on_engine_event(ReplyTextReceived("It is"))
    assert overlay.status.text() == ANSWERING
    overlay.on_engine_event(AudioStarted(300.0))
    assert overlay.status.text() == SPEAKING
    assert overlay.isVisible()
    overlay.on_engine_event(finished(4, "what time is it"))
    assert not overlay.isVisible()


def test_the_end_of_an_earlier_turn_does_not_hide_new_listening(qtbot: Any) -> None:
    overlay = make(qtbot)
    overlay.on_engine_event(TurnStarted(1, "voice"))  # Hark is answering turn 1 …
    overlay.on_listening_changed(True)  # … when the user presses to talk again
    overlay.on_engine_event(TurnCancelled(1, "push-to-talk"))
    overlay.on_engine_event(finished(1, cancelled=True))
    assert overlay.isVisible()
    assert overlay.status.text() == LISTENING
    overlay.on_engine_event(TurnStarted(2, "voice"))
    overlay.on_engine_event(finished(2))
    assert not overlay.isVisible()


def test_the_wake_word_shows_it_and_a_timeout_hides_it(qtbot: Any) -> None:
    overlay = make(qtbot)
    overlay.on_engine_event(WakeWordDetected("hey_jarvis", 0.99))
    assert overlay.isVisible()
    assert overlay.status.text() == LISTENING
    overlay.on_engine_event(ListeningTimedOut(8.0))
    assert not overlay.isVisible()


def test_a_typed_request_shows_no_overlay(qtbot: Any) -> None:
    overlay = make(qtbot)
    overlay.on_engine_event(TurnStarted(1, "text"))
    overlay.on_engine_event(ReplyTextReceived("Hello"))
    assert not overlay.isVisible()


def test_releasing_push_to_talk_with_nothing_said_hides_it(qtbot: Any) -> None:
    overlay = make(qtbot, release_grace_ms=20)
    overlay.on_listening_changed(True)
    overlay.on_listening_changed(False)  # released; no turn comes
    assert overlay.isVisible()  # not at once: a turn may still be on its way
    qtbot.waitUntil(lambda: not overlay.isVisible(), timeout=2000)


def test_partial_transcripts_show_the_words_as_they_come(qtbot: Any) -> None:
    overlay = make(qtbot)
    overlay.on_listening_changed(True)
    overlay.on_engine_event(TranscriptPartial("what time", ""))
    assert overlay.words.isVisible()
    assert "what time" in overlay.words.text()
    overlay.on_engine_event(TranscriptPartial("what time is it", "what time"))
    shown = overlay.words.text()
    assert overlay.words.textFormat() == Qt.TextFormat.RichText
    settled, guess = shown.split("<span", 1)
    assert "what time" in settled  # the settled words plainly
    assert "is it" not in settled
    assert " is it</span>" in guess  # the guess at the rest set apart
    text_colour = overlay.palette().color(QPalette.ColorRole.WindowText).name()
    assert f"color: {text_colour}" not in guess  # in a colour of its own
    assert overlay.status.text() == LISTENING


def test_a_partial_after_the_turn_began_does_not_replace_the_transcript(qtbot: Any) -> None:
    overlay = make(qtbot)
    overlay.on_listening_changed(True)
    overlay.on_engine_event(TurnStarted(1, "voice"))
    overlay.on_engine_event(TranscriptReady("what time is it in Tokyo", "en"))
    overlay.on_engine_event(TranscriptPartial("what time is it", "what time"))
    assert overlay.words.text() == "“what time is it in Tokyo”"


def test_turned_off_it_never_shows(qtbot: Any) -> None:
    on = [False]
    overlay = make(qtbot, enabled=lambda: on[0])
    overlay.on_listening_changed(True)
    overlay.on_engine_event(WakeWordDetected("alexa", 0.9))
    assert not overlay.isVisible()
    on[0] = True  # the setting changed while Hark runs
    overlay.on_listening_changed(True)
    assert overlay.isVisible()


def test_cancel_asks_to_cancel_and_goes(qtbot: Any) -> None:
    overlay = make(qtbot)
    overlay.on_listening_changed(True)
    with qtbot.waitSignal(overlay.cancel_requested, timeout=1000):
        qtbot.mouseClick(overlay.cancel, Qt.MouseButton.LeftButton)
    assert not overlay.isVisible()


def test_it_sits_bottom_right_and_never_takes_the_focus(qtbot: Any) -> None:
    field = QLineEdit()
    qtbot.addWidget(field)
    field.show()
    field.activateWindow()
    field.setFocus()
    qtbot.waitUntil(field.hasFocus)
    overlay = make(qtbot)
    flags = overlay.windowFlags()
    for flag in (
        Qt.WindowType.WindowDoesNotAcceptFocus,
        Qt.WindowType.WindowStaysOnTopHint,
        Qt.WindowType.FramelessWindowHint,
        Qt.WindowType.Tool,
    ):
        assert flags & flag == flag, flag
    assert overlay.testAttribute(Qt.WidgetAttribute.WA_ShowWithoutActivating)
    overlay.on_listening_changed(True)
    qtbot.waitExposed(overlay)
    assert field.hasFocus()
    assert not overlay.isActiveWindow()
    area = QGuiApplication.primaryScreen().availableGeometry()
    frame = overlay.geometry()
    assert frame.right() == area.right() - MARGIN
    assert frame.bottom() == area.bottom() - MARGIN
    assert frame.width() == WIDTH


def test_next_to_a_tray_at_the_top_it_sits_top_right() -> None:
    area = QRect(0, 0, 1920, 1080)
    top_tray = QRect(1890, 4, 22, 22)
    assert overlay_position(area, 100, top_tray).y() == MARGIN
    assert overlay_position(area, 100, QRect()).y() == 1080 - 100 - MARGIN
    assert overlay_position(area, 100, QRect()).x() == 1920 - WIDTH - MARGIN


class Speech:
    """A frame source that says one clip (the microphone, for the level test)."""

    def __init__(self, pcm: bytes) -> None:
        self.pcm = pcm
        self.closed = False

    async def frames(self) -> AsyncIterator[bytes]:
        for i in range(0, len(self.pcm) - 959, 960):
            yield self.pcm[i : i + 960]

    async def aclose(self) -> None:
        self.closed = True


def test_the_meter_shows_the_microphone_only_while_listening(qtbot: Any, bridge: Bridge) -> None:
    overlay = make(qtbot)
    levels: list[float] = []
    overlay.meter.level_changed.connect(levels.append)
    source = overlay.tap(Speech(speak_16k("Hello Hark, what time is it?")))
    assert isinstance(source, LevelTap)
    assert not source.active  # nobody is looking: nothing is measured
    overlay.on_listening_changed(True)
    assert source.active
    done: list[int] = []

    async def read_all() -> int:
        return len([frame async for frame in source.frames()])

    bridge.run(read_all(), done.append)
    qtbot.waitUntil(lambda: bool(done) and len(levels) == done[0], timeout=10_000)
    assert max(levels) > 0.5
    overlay.finish()
    assert not source.active


async def test_a_tap_passes_every_frame_on_and_measures_only_while_active() -> None:
    pcm = speak_16k("Hello Hark")
    measured: list[float] = []
    tap = LevelTap(Speech(pcm), measured.append)
    quiet = [frame async for frame in tap.frames()]
    assert measured == []
    tap.active = True
    heard = [frame async for frame in tap.frames()]
    assert heard == quiet
    assert b"".join(heard) == pcm[: len(heard) * 960]
    assert len(measured) == len(heard)
    assert max(measured) > 0.5
    await tap.aclose()
    assert tap.source.closed  # type: ignore[attr-defined]
