"""The listening overlay: a small window near the tray that shows Hark is listening.

It appears the moment listening starts (a click on the icon, the hotkey, the wake word) and
shows how loud the microphone is, what Hark understood, and a Cancel button; it goes when
the turn ends. It never takes the keyboard focus from the window the user is typing in
(a frameless tool window that does not accept focus and shows without activating), and it
stays on top of other windows.

What it shows follows the engine's events (through the bridge): "Listening…", then
"Thinking…" once the utterance ended, the words as they are recognised while the user
still talks (``TranscriptPartial``: the words that will not change in plain text, the latest
guess at the rest in grey), then the transcript, "Answering…" and "Speaking…". The level comes
from a :class:`~app.gui.level.LevelTap` between the microphone and the listening loop
(:meth:`tap`).

Turns are followed by id: when listening starts while an earlier turn is still ending (a
push-to-talk press interrupts Hark), that turn's end does not hide the new listening.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable

from PySide6.QtCore import QPoint, QRect, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QGuiApplication, QPalette, QScreen
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.core.events import (
    AudioStarted,
    Event,
    ListeningTimedOut,
    ReplyTextReceived,
    SpeechStarted,
    ToolCallStarted,
    TranscriptPartial,
    TranscriptReady,
    TurnCancelled,
    TurnFinished,
    TurnStarted,
    UtteranceEnded,
    WakeWordDetected,
)
from app.core.ports import FrameSource
from app.gui.level import LevelMeter, LevelTap

log = logging.getLogger(__name__)

MARGIN = 12
"""Distance from the screen's edge (and from the tray), in pixels."""
RELEASE_GRACE_MS = 2000
"""After push-to-talk ends with nothing said, the overlay waits this long for a turn."""
WIDTH = 340

LISTENING, THINKING, ANSWERING, SPEAKING, HIDDEN = (
    "Listening…",
    "Thinking…",
    "Answering…",
    "Speaking…",
    "",
)


class ListeningOverlay(QWidget):
    """The overlay (see the module docstring). ``enabled`` is asked each time listening
    starts (the setting may change while Hark runs); ``anchor`` gives the tray icon's place
    on the screen, when the desktop tells it (an empty rectangle otherwise)."""

    cancel_requested = Signal()
    """The user pressed Cancel: stop listening and end the turn."""
    _level_measured = Signal(float)  # emitted on the engine thread, delivered on the GUI's

    def __init__(
        self,
        enabled: Callable[[], bool] = lambda: True,
        anchor: Callable[[], QRect] | None = None,
        *,
        release_grace_ms: int = RELEASE_GRACE_MS,
    ) -> None:
        super().__init__(
            None,
            Qt.WindowType.Tool
            | Qt.WindowType.FramelessWindowHint
            | Qt.WindowType.WindowStaysOnTopHint
            | Qt.WindowType.WindowDoesNotAcceptFocus,
        )
        self.setAttribute(Qt.WidgetAttribute.WA_ShowWithoutActivating)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setWindowTitle("Hark is listening")
        self.setAccessibleName("Hark is listening")
        self._enabled = enabled
        self._anchor = anchor
        self._tap: LevelTap | None = None
        self._turn: int | None = None
        self.phase = HIDDEN

        panel = QFrame(self)
        panel.setObjectName("panel")
        panel.setFrameShape(QFrame.Shape.StyledPanel)
        panel.setStyleSheet(
            "QFrame#panel { background: palette(window); border: 1px solid palette(mid);"
            " border-radius: 6px; }"
        )
        self.status = QLabel(LISTENING)
        self.status.setAccessibleName("What Hark is doing")
        font = self.status.font()
        font.setBold(True)
        self.status.setFont(font)
        self.cancel = QPushButton("Cancel")
        self.cancel.setAccessibleName("Cancel")
        self.cancel.setToolTip("Stop listening and drop this request")
        self.cancel.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.cancel.clicked.connect(self.on_cancel_clicked)
        self.meter = LevelMeter()
        self.words = QLabel("")
        self.words.setAccessibleName("What Hark heard")
        self.words.setWordWrap(True)
        self.words.hide()
        top = QHBoxLayout()
        top.addWidget(self.status, 1)
        top.addWidget(self.cancel)
        inner = QVBoxLayout(panel)
        inner.addLayout(top)
        inner.addWidget(self.meter)
        inner.addWidget(self.words)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(panel)
        self.setFixedWidth(WIDTH)

        self._level_measured.connect(self.meter.set_level)
        self._grace = QTimer(self)
        self._grace.setSingleShot(True)
        self._grace.setInterval(release_grace_ms)
        self._grace.timeout.connect(self.on_grace_timeout)

    # --- the microphone's level --------------------------------------------------------------

    def tap(self, source: FrameSource) -> FrameSource:
        """``source`` with its level reported here while the overlay listens (give the result
        to the listening loop in place of the microphone)."""
        tap = LevelTap(source, self._level_measured.emit)
        tap.active = self._tap is not None and self._tap.active
        self._tap = tap
        return tap

    def _measure(self, on: bool) -> None:
        if self._tap is not None:
            self._tap.active = on
        if not on:
            self.meter.reset()

    # --- what starts and ends it -------------------------------------------------------------

    def on_listening_started(self) -> None:
        """Listening for a request began (a click, the hotkey or the wake word)."""
        self._grace.stop()
        if not self._enabled():
            self.finish()
            return
        self._turn = None
        self.words.clear()
        self.words.hide()
        self._set_phase(LISTENING)
        self._measure(True)
        if not self.isVisible():
            self.place()
            self.show()
        self.raise_()

    def on_listening_changed(self, listening: bool) -> None:
        """The tray's "listening" turned on or off."""
        if listening:
            self.on_listening_started()
        else:
            self.on_listening_stopped()

    def on_listening_stopped(self) -> None:
        """Push-to-talk ended. What was said becomes a turn (which keeps the overlay); when
        nothing was said no turn comes, and the overlay goes after a short wait."""
        if self.phase == LISTENING:
            self._measure(False)
            self._grace.start()

    def on_grace_timeout(self) -> None:
        if self.phase == LISTENING and self._turn is None:
            self.finish()

    def on_engine_event(self, event: Event) -> None:
        """Follow a turn through the engine's events (connect the bridge's signal here)."""
        if isinstance(event, WakeWordDetected):
            self.on_listening_started()
        elif isinstance(event, SpeechStarted):
            if self.phase == HIDDEN:
                self.on_listening_started()
        elif isinstance(event, TranscriptPartial):
            if self.phase != HIDDEN and self._turn is None:
                self.show_words(event.text, settled=event.stable)
        elif isinstance(event, UtteranceEnded):
            if self.phase == LISTENING:
                self._measure(False)
                self._set_phase(THINKING)
        elif isinstance(event, TurnStarted):
            self._on_turn_started(event)
        elif self.phase == HIDDEN:
            return
        elif isinstance(event, TranscriptReady):
            if self._turn is not None:
                self.show_words(event.text)
        elif isinstance(event, ReplyTextReceived | ToolCallStarted):
            if self._turn is not None and self.phase == THINKING:
                self._set_phase(ANSWERING)
        elif isinstance(event, AudioStarted):
            if self._turn is not None:
                self._set_phase(SPEAKING)
        elif isinstance(event, TurnFinished | TurnCancelled):
            turn = event.result.turn_id if isinstance(event, TurnFinished) else event.turn_id
            if turn == self._turn:
                self.finish()
        elif isinstance(event, ListeningTimedOut) and self.phase == LISTENING:
            self.finish()

    def _on_turn_started(self, event: TurnStarted) -> None:
        if self.phase not in (LISTENING, THINKING) or event.source != "voice":
            return  # typed requests have their own window; no overlay for them
        self._grace.stop()
        self._turn = event.turn_id
        self._measure(False)
        self._set_phase(THINKING)

    def show_words(self, text: str, *, settled: str | None = None) -> None:
        """Show what Hark heard (so far); ``settled``: the start of ``text`` that will not
        change any more, when the rest is still a guess (shown in grey)."""
        text = text.strip()
        if not text:
            self.words.setTextFormat(Qt.TextFormat.PlainText)
            self.words.setText("(Hark heard nothing it could make out)")
        elif settled is None or not text.startswith(settled.strip()):
            self.words.setTextFormat(Qt.TextFormat.PlainText)
            self.words.setText(f"“{text}”")
        else:
            head = settled.strip()
            guess = text[len(head) :]
            grey = _halfway(
                self.palette().color(QPalette.ColorRole.WindowText),
                self.palette().color(QPalette.ColorRole.Window),
            )
            self.words.setTextFormat(Qt.TextFormat.RichText)
            self.words.setText(
                f"“{html.escape(head)}<span style='color: {grey}'>{html.escape(guess)}</span>”"
            )
        self.words.show()
        self.adjustSize()

    def finish(self) -> None:
        """The turn ended (or was cancelled): go."""
        self._grace.stop()
        self._measure(False)
        self._turn = None
        self.phase = HIDDEN
        self.hide()

    def on_cancel_clicked(self) -> None:
        self.cancel_requested.emit()
        self.finish()

    def _set_phase(self, phase: str) -> None:
        self.phase = phase
        self.status.setText(phase)
        self.meter.setVisible(phase == LISTENING)
        self.adjustSize()

    # --- where it goes ------------------------------------------------------------------------

    def place(self) -> None:
        """Bottom-right of the screen's free area, or next to the tray when it is at the top."""
        anchor = self._anchor() if self._anchor is not None else QRect()
        screen: QScreen | None = None
        if anchor.isValid() and not anchor.isEmpty():
            screen = QGuiApplication.screenAt(anchor.center())
        screen = screen or QGuiApplication.primaryScreen()
        self.adjustSize()
        self.move(overlay_position(screen.availableGeometry(), self.size().height(), anchor))


def _halfway(text: QColor, window: QColor) -> str:
    """The colour between the text's and the background's: a guess, set apart from the words
    that will not change, in any theme."""
    return QColor(
        (text.red() + window.red()) // 2,
        (text.green() + window.green()) // 2,
        (text.blue() + window.blue()) // 2,
    ).name()


def overlay_position(area: QRect, height: int, anchor: QRect) -> QPoint:
    """Where the overlay's top-left corner goes: the bottom-right corner of ``area``, unless
    the tray (``anchor``) sits in the top half, then the top-right corner."""
    x = area.right() - WIDTH - MARGIN + 1
    top_tray = anchor.isValid() and not anchor.isEmpty() and anchor.center().y() < area.center().y()
    y = area.top() + MARGIN if top_tray else area.bottom() - height - MARGIN + 1
    return QPoint(max(area.left(), x), max(area.top(), y))
