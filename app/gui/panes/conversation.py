"""The conversation window: what was heard, what Hark answered and did, and how long it took.

It is fed only by engine events (:attr:`Bridge.event_received`), so it shows voice turns,
typed turns and the inbox's assistant turns alike, as they happen: the transcript, the reply as
the model writes it, each tool call with its outcome, a failure or a stop, and the turn's
latency breakdown (endpoint, ASR, first token, first audio, total) once it ends. Notices (the
hosted voice failed, a backend went away) appear between turns. Only the latest entries are
kept (:data:`MAX_ENTRIES`), so a long session does not grow without end.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from app.core.events import (
    BackendStatusChanged,
    NoticeRaised,
    ReplyTextReceived,
    ToolCallFinished,
    ToolCallStarted,
    TranscriptReady,
    TurnCancelled,
    TurnFailed,
    TurnFinished,
    TurnStarted,
)
from app.gui.bridge import Bridge
from app.gui.panes.turn_view import MAX_ENTRIES, QUIET_STYLE, TurnView, plain_label

log = logging.getLogger(__name__)


class ConversationWindow(QWidget):
    """The running conversation, fed by the engine's events."""

    turn_started = Signal(int)
    turn_finished = Signal(int)
    """A turn ended and its view shows everything (the timings included)."""
    notice_shown = Signal(str)

    def __init__(
        self, bridge: Bridge, parent: QWidget | None = None, *, max_entries: int = MAX_ENTRIES
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Hark — Conversation")
        self._max = max_entries
        self._entries: list[QWidget] = []
        self._current: TurnView | None = None
        self._down: set[str] = set()
        self._stick = True
        self.empty_label = plain_label(
            "Nothing said yet. Talk to Hark and the conversation shows here."
        )
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._column = QVBoxLayout()
        self._column.addWidget(self.empty_label)
        self._column.addStretch(1)
        inner = QWidget()
        inner.setLayout(self._column)
        self.scroll_area = QScrollArea()
        self.scroll_area.setWidgetResizable(True)
        self.scroll_area.setWidget(inner)
        self.scroll_area.setAccessibleName("Conversation")
        bar = self.scroll_area.verticalScrollBar()
        bar.rangeChanged.connect(self.on_scrollbar_range_changed)
        bar.valueChanged.connect(self.on_scrollbar_value_changed)
        self.clear_button = QPushButton("Clear")
        self.clear_button.setAccessibleName("Clear conversation")
        self.clear_button.clicked.connect(self.clear)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.clear_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.scroll_area, 1)
        layout.addLayout(buttons)
        self.resize(560, 640)
        bridge.event_received.connect(self.on_bridge_event_received)

    # --- what is shown ----------------------------------------------------------------------

    def turns(self) -> list[TurnView]:
        return [entry for entry in self._entries if isinstance(entry, TurnView)]

    def notices(self) -> list[str]:
        return [e.text() for e in self._entries if isinstance(e, QLabel)]

    def clear(self) -> None:
        for entry in self._entries:
            entry.deleteLater()
        self._entries.clear()
        self._current = None
        self.empty_label.show()

    def _add(self, entry: QWidget) -> None:
        self._column.insertWidget(self._column.count() - 1, entry)
        self._entries.append(entry)
        self.empty_label.hide()
        while len(self._entries) > self._max:
            old = self._entries.pop(0)
            if old is self._current:
                self._current = None
            old.deleteLater()

    def _turn(self, turn_id: int | None = None) -> TurnView:
        """The view for ``turn_id`` (or the turn in progress); a new one if there is none, as
        when the window opened in the middle of a turn."""
        if turn_id is not None:
            for view in reversed(self.turns()):
                if view.turn_id == turn_id:
                    return view
        if self._current is not None and (turn_id is None or self._current.turn_id is None):
            return self._current
        view = TurnView(turn_id)
        self._current = view
        self._add(view)
        return view

    def _notice(self, text: str) -> None:
        self._add(plain_label(f"Note: {text}", style=QUIET_STYLE))
        self.notice_shown.emit(text)

    # --- events -----------------------------------------------------------------------------

    def on_bridge_event_received(self, event: object) -> None:
        match event:
            case TurnStarted(turn_id=turn_id, source=source):
                self._current = TurnView(turn_id, source)
                self._add(self._current)
                self.turn_started.emit(turn_id)
            case TranscriptReady(text=text):
                self._turn().set_transcript(text)
            case ReplyTextReceived(text=text):
                self._turn().append_reply(text)
            case ToolCallStarted(name=name, arguments=arguments):
                self._turn().tool_started(name, arguments)
            case ToolCallFinished(name=name, ok=ok, result=result):
                self._turn().tool_finished(name, ok, result)
            case TurnFailed(turn_id=turn_id, stage=stage, message=message):
                self._turn(turn_id).end(f"Failed ({stage}): {message}")
            case TurnCancelled(turn_id=turn_id, reason=reason):
                self._turn(turn_id).end(f"Stopped: {reason}.")
            case TurnFinished(result=result):
                view = self._turn(result.turn_id)
                view.finish(result)
                if view is self._current:
                    self._current = None
                self.turn_finished.emit(result.turn_id)
            case NoticeRaised(message=message):
                self._notice(message)
            case BackendStatusChanged(backend=backend, ok=ok, message=message):
                if not ok:
                    self._down.add(backend)
                    self._notice(f"{backend}: {message}")
                elif backend in self._down:
                    self._down.discard(backend)
                    self._notice(f"{backend} works again.")
            case _:
                pass

    # --- following the newest entry ---------------------------------------------------------

    def on_scrollbar_value_changed(self, value: int) -> None:
        self._stick = value >= self.scroll_area.verticalScrollBar().maximum() - 8

    def on_scrollbar_range_changed(self, _minimum: int, maximum: int) -> None:
        if self._stick:
            self.scroll_area.verticalScrollBar().setValue(maximum)
