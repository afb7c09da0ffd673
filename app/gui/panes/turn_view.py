"""One turn of the conversation window, and the texts it shows (timings, tool outcomes).

Kept apart from :mod:`app.gui.panes.conversation` so each stays small; the helpers are plain
functions so the wording can be checked without a window.
"""

from __future__ import annotations

import json

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QGridLayout, QLabel, QVBoxLayout

from app.core.events import TurnResult, TurnTimings

MAX_ENTRIES = 50
"""Turns and notices kept on screen; older ones are dropped."""
PENDING = "→"
"""Marks a tool call still running (then ✓ or ✗); plain glyphs every desktop font has."""
ERROR_STYLE = "color: #b3261e;"
QUIET_STYLE = "color: #6b6b6b;"


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


def tool_call_text(name: str, arguments: dict[str, object]) -> str:
    args = ", ".join(f"{key}={value!r}" for key, value in arguments.items())
    return short(f"{name}({args})")


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
            return short(str(reason))
    return short(result) or "failed"


def plain_label(text: str = "", *, style: str = "") -> QLabel:
    label = QLabel(text)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    if style:
        label.setStyleSheet(style)
    return label


class TurnView(QFrame):
    """One turn: "You" and "Hark" lines, tool calls, an ending (failure / stop) and timings."""

    def __init__(self, turn_id: int | None, source: str = "voice") -> None:
        super().__init__()
        self.turn_id = turn_id
        self.finished = False
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setAccessibleName(f"Turn {turn_id}" if turn_id is not None else "Turn")
        self._grid = QGridLayout()
        self._grid.setColumnStretch(1, 1)
        you = "You" if source == "voice" else "You (typed)"
        self.you_label = plain_label()
        self.reply_label = plain_label()
        self._add_row(you, self.you_label)
        self._add_row("Hark", self.reply_label)
        self.tool_labels: list[tuple[str, QLabel]] = []
        self.ending_label = plain_label(style=ERROR_STYLE)
        self.ending_label.hide()
        self.timings_label = plain_label(style=QUIET_STYLE)
        self.timings_label.setAccessibleName("Turn timings")
        self.timings_label.hide()
        layout = QVBoxLayout(self)
        layout.addLayout(self._grid)
        layout.addWidget(self.ending_label)
        layout.addWidget(self.timings_label)

    def _add_row(self, caption: str, value: QLabel) -> None:
        row = self._grid.rowCount()
        title = QLabel(f"<b>{caption}</b>")
        title.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self._grid.addWidget(title, row, 0)
        self._grid.addWidget(value, row, 1)

    @property
    def transcript(self) -> str:
        return self.you_label.text()

    @property
    def reply(self) -> str:
        return self.reply_label.text()

    @property
    def timings(self) -> str:
        return self.timings_label.text()

    @property
    def ending(self) -> str:
        return self.ending_label.text()

    def tools(self) -> list[str]:
        return [label.text() for _, label in self.tool_labels]

    def set_transcript(self, text: str) -> None:
        self.you_label.setText(text or "(nothing heard)")

    def append_reply(self, text: str) -> None:
        self.reply_label.setText(self.reply_label.text() + text)

    def tool_started(self, name: str, arguments: dict[str, object]) -> None:
        label = plain_label(f"{PENDING} {tool_call_text(name, arguments)}")
        self.tool_labels.append((name, label))
        self._add_row("Action", label)

    def tool_finished(self, name: str, ok: bool, result: str) -> None:
        pending = [
            (n, lbl) for n, lbl in self.tool_labels if n == name and lbl.text()[0] == PENDING
        ]
        if pending:
            label = pending[0][1]
            call = label.text().removeprefix(f"{PENDING} ")
        else:
            label = plain_label()
            self.tool_labels.append((name, label))
            self._add_row("Action", label)
            call = name
        mark = "✓" if ok else "✗"
        label.setText(f"{mark} {call} — {tool_outcome_text(ok, result)}")
        if not ok:
            label.setStyleSheet(ERROR_STYLE)

    def end(self, text: str) -> None:
        self.ending_label.setText(text)
        self.ending_label.show()

    def finish(self, result: TurnResult) -> None:
        """The turn's last word: fill what the live events did not bring, show the timings."""
        self.finished = True
        if result.transcript and not self.you_label.text():
            self.set_transcript(result.transcript)
        if result.reply and not self.reply_label.text().strip():
            self.reply_label.setText(result.reply)
        if result.cancelled and self.ending_label.isHidden():
            self.end("Stopped.")
        elif result.error_message and self.ending_label.isHidden():
            self.end(f"Failed: {result.error_message}")
        text = timings_text(result.timings)
        self.timings_label.setText(text)
        self.timings_label.setVisible(bool(text))
