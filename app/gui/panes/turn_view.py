"""One turn of the conversation window, and the texts it shows (timings, actions, outcomes).

Kept apart from :mod:`app.gui.panes.conversation` so each stays small; the helpers are plain
functions so the wording can be checked without a window. A turn shows what really happened:
an action the user edited before approving is shown as it ran, in words ("Send an email to
…, subject …"), never as the model's proposal or as a function call. The request can be
edited and sent again (a misheard word): *Edit* turns it into a field, Enter sends the
corrected request as a new turn, Esc leaves it as it was.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QFrame, QGridLayout, QLabel, QLineEdit, QToolButton, QVBoxLayout

from app.core.events import TurnResult, TurnTimings
from app.core.wording import action_words
from app.gui.history import Action, TurnRecord
from app.gui.wording import plain_words

MAX_ENTRIES = 50
"""Turns and notices kept on screen; older ones are dropped."""
PENDING = "→"
"""Marks a tool call still running (then ✓ or ✗); plain glyphs every desktop font has."""
DONE, FAILED = "✓", "✗"
ERROR_STYLE = "color: #b3261e;"
QUIET_STYLE = "color: #6b6b6b;"
CAPTIONS = {"voice": "You", "text": "You (typed)", "corrected": "You (corrected)"}


def duration_text(ms: float) -> str:
    return f"{ms:.0f} ms" if round(ms) < 1000 else f"{ms / 1000:.2f} s"


def timings_text(timings: TurnTimings) -> str:
    """ "endpoint 210 ms · ASR 480 ms · first token 320 ms · first audio 1.12 s · total 2.40 s",
    leaving out the stages that did not run."""
    parts = [
        ("endpoint", timings.endpoint_ms),
        ("ASR", timings.asr_ms),
        ("first token", timings.llm_first_token_ms),
        ("first audio", timings.first_audio_ms),
        ("total", timings.total_ms),
    ]
    return " · ".join(f"{name} {duration_text(ms)}" for name, ms in parts if ms is not None)


def short(text: str, limit: int = 90) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def tool_call_text(name: str, arguments: Mapping[str, Any], summary: str = "") -> str:
    """The action in words: the policy's own description when there is one."""
    return short(plain_words(summary) if summary else action_words(name, arguments), 140)


def tool_outcome_text(ok: bool, result: str) -> str:
    """ "done", or why not: the ``error`` / ``not_done`` a tool result carries, else its text."""
    if ok:
        return "done"
    try:
        data = json.loads(result)
    except ValueError:
        data = None
    if isinstance(data, dict):
        reason = data.get("error") or data.get("not_done")
        if reason:
            return short(plain_words(str(reason)))
    return short(plain_words(result)) or "failed"


def when_text(at: float, now: float | None = None) -> str:
    """When a turn happened: "14:05" today, "Yesterday 14:05", else "Mon 30 Nov 14:05"."""
    moment = datetime.fromtimestamp(at)
    today = datetime.fromtimestamp(time.time() if now is None else now).date()
    if moment.date() == today:
        return f"{moment:%H:%M}"
    if moment.date() == today - timedelta(days=1):
        return f"Yesterday {moment:%H:%M}"
    return f"{moment:%a} {moment.day} {moment:%b} {moment:%H:%M}"


def plain_label(text: str = "", *, style: str = "") -> QLabel:
    label = QLabel(text)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    if style:
        label.setStyleSheet(style)
    return label


class RequestEdit(QLineEdit):
    """A line that says when Esc was pressed (to leave an edit as it was); Esc is its own
    while it has the focus, not the window's shortcut that closes it."""

    cancelled = Signal()

    def event(self, event: QEvent) -> bool:
        if (
            event.type() == QEvent.Type.ShortcutOverride
            and isinstance(event, QKeyEvent)
            and event.key() == Qt.Key.Key_Escape
        ):
            event.accept()
            return True
        return super().event(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Escape:
            self.cancelled.emit()
            return
        super().keyPressEvent(event)


class TurnView(QFrame):
    """One turn: "You" and "Hark" lines, actions, an ending (failure / stop) and timings."""

    resend_requested = Signal(str)
    """The user corrected the request and wants it sent again (the corrected text)."""

    def __init__(
        self, turn_id: int | None, source: str = "voice", *, at: float | None = None
    ) -> None:
        super().__init__()
        self.turn_id = turn_id
        self.source = source
        self.at = time.time() if at is None else at
        self.finished = False
        self._request = ""
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setAccessibleName(f"Turn {turn_id}" if turn_id is not None else "Turn")
        self._grid = QGridLayout()
        self._grid.setColumnStretch(1, 1)
        self.you_label = plain_label()
        self.you_title = QLabel(f"<b>{CAPTIONS.get(source, 'You')}</b>")
        self.edit_field = RequestEdit()
        self.edit_field.setAccessibleName("Corrected request")
        self.edit_field.setToolTip("Enter sends it again; Esc leaves it as it was")
        self.edit_field.hide()
        self.edit_field.returnPressed.connect(self.on_edit_field_return_pressed)
        self.edit_field.cancelled.connect(self.cancel_edit)
        self.edit_button = QToolButton()
        self.edit_button.setText("Edit")
        self.edit_button.setAccessibleName("Edit this request and send it again")
        self.edit_button.setToolTip("Correct what Hark heard and send it again")
        self.edit_button.setEnabled(False)
        self.edit_button.clicked.connect(self.start_edit)
        self.time_label = plain_label(when_text(self.at), style=QUIET_STYLE)
        self.time_label.setWordWrap(False)
        self.reply_label = plain_label()
        self.you_title.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self._grid.addWidget(self.you_title, 0, 0)
        self._grid.addWidget(self.you_label, 0, 1)
        self._grid.addWidget(self.edit_field, 0, 1)
        self._grid.addWidget(self.time_label, 0, 2, Qt.AlignmentFlag.AlignTop)
        self._grid.addWidget(self.edit_button, 0, 3, Qt.AlignmentFlag.AlignTop)
        self._add_row(QLabel("<b>Hark</b>"), self.reply_label)
        self.tool_labels: list[tuple[str, QLabel]] = []
        self._actions: list[tuple[str, bool | None]] = []
        self.ending_label = plain_label(style=ERROR_STYLE)
        self.ending_label.hide()
        self.timings_label = plain_label(style=QUIET_STYLE)
        self.timings_label.setAccessibleName("Turn timings")
        self.timings_label.hide()
        layout = QVBoxLayout(self)
        layout.addLayout(self._grid)
        layout.addWidget(self.ending_label)
        layout.addWidget(self.timings_label)

    def _add_row(self, title: QLabel, value: QLabel) -> None:
        row = self._grid.rowCount()
        title.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self._grid.addWidget(title, row, 0)
        self._grid.addWidget(value, row, 1, 1, 3)

    # --- what it shows ----------------------------------------------------------------------

    @property
    def transcript(self) -> str:
        return self.you_label.text()

    @property
    def request(self) -> str:
        """The request as heard or typed (empty when nothing was heard)."""
        return self._request

    @property
    def caption(self) -> str:
        return self.you_title.text().removeprefix("<b>").removesuffix("</b>")

    @property
    def reply(self) -> str:
        return self.reply_label.text()

    @property
    def timings(self) -> str:
        return self.timings_label.text()

    @property
    def ending(self) -> str:
        return self.ending_label.text()

    @property
    def editing(self) -> bool:
        return not self.edit_field.isHidden()

    def tools(self) -> list[str]:
        return [label.text() for _, label in self.tool_labels]

    # --- filling it in ----------------------------------------------------------------------

    def set_caption(self, source: str) -> None:
        self.you_title.setText(f"<b>{CAPTIONS.get(source, 'You')}</b>")

    def set_transcript(self, text: str) -> None:
        self._request = text
        self.you_label.setText(text or "(nothing heard)")
        self.edit_button.setEnabled(bool(text))

    def append_reply(self, text: str) -> None:
        self.reply_label.setText(self.reply_label.text() + text)

    def tool_started(self, name: str, arguments: Mapping[str, Any]) -> None:
        self._add_action(name, f"{PENDING} {tool_call_text(name, arguments)}", None)

    def tool_finished(
        self,
        name: str,
        ok: bool,
        result: str,
        arguments: Mapping[str, Any] | None = None,
        summary: str = "",
    ) -> None:
        """An action ended: shown as it ran (``arguments``, ``summary``), with its outcome."""
        pending = [i for i, (n, ok_) in enumerate(self._actions) if n == name and ok_ is None]
        if pending:
            index = pending[0]
            call = self.tool_labels[index][1].text().removeprefix(f"{PENDING} ")
        else:
            index = self._add_action(name, "", None)
            call = tool_call_text(name, {})
        if summary or arguments is not None:
            call = tool_call_text(name, arguments or {}, summary)
        label = self.tool_labels[index][1]
        label.setText(f"{DONE if ok else FAILED} {call} — {tool_outcome_text(ok, result)}")
        self._actions[index] = (name, ok)
        if not ok:
            label.setStyleSheet(ERROR_STYLE)

    def _add_action(self, name: str, text: str, ok: bool | None) -> int:
        label = plain_label(text, style="" if ok is not False else ERROR_STYLE)
        self.tool_labels.append((name, label))
        self._actions.append((name, ok))
        self._add_row(QLabel("<b>Action</b>"), label)
        return len(self._actions) - 1

    def end(self, text: str) -> None:
        self.ending_label.setText(plain_words(text))
        self.ending_label.show()

    def finish(self, result: TurnResult) -> None:
        """The turn's last word: fill what the live events did not bring, show the timings."""
        self.finished = True
        if result.transcript and not self._request:
            self.set_transcript(result.transcript)
        if result.reply and not self.reply_label.text().strip():
            self.reply_label.setText(result.reply)
        if result.cancelled and self.ending_label.isHidden():
            self.end("Stopped.")
        elif result.error_message and self.ending_label.isHidden():
            self.end(f"Failed: {result.error_message}")
        self._show_timings(timings_text(result.timings))

    def _show_timings(self, text: str) -> None:
        self.timings_label.setText(text)
        self.timings_label.setVisible(bool(text))

    # --- correcting the request -------------------------------------------------------------

    def start_edit(self) -> None:
        """Show the request in a field to correct it (Enter sends it again, Esc cancels)."""
        if not self._request:
            return
        self.edit_field.setText(self._request)
        self.you_label.hide()
        self.edit_field.show()
        self.edit_field.setFocus(Qt.FocusReason.OtherFocusReason)
        self.edit_field.selectAll()

    def cancel_edit(self) -> None:
        self.edit_field.hide()
        self.you_label.show()

    def on_edit_field_return_pressed(self) -> None:
        text = " ".join(self.edit_field.text().split())
        self.cancel_edit()
        if text:
            self.resend_requested.emit(text)

    # --- kept in the history ----------------------------------------------------------------

    def record(self) -> TurnRecord:
        """What this turn showed, for the history."""
        actions = tuple(
            Action(label.text().lstrip(f"{PENDING}{DONE}{FAILED} "), ok)
            for (_, label), (_, ok) in zip(self.tool_labels, self._actions, strict=True)
        )
        ending = self.ending if not self.ending_label.isHidden() else ""
        return TurnRecord(
            self.source, self._request, self.reply, actions, ending, self.timings, self.at
        )

    @classmethod
    def from_record(cls, record: TurnRecord) -> TurnView:
        """A finished turn as the history kept it."""
        view = cls(None, record.source, at=record.at)
        view.set_transcript(record.request)
        view.reply_label.setText(record.reply)
        for action in record.actions:
            mark = PENDING if action.ok is None else DONE if action.ok else FAILED
            view._add_action("", f"{mark} {action.text}", action.ok)
        if record.ending:
            view.end(record.ending)
        view._show_timings(record.timings)
        view.finished = True
        return view
