"""Small widgets the dialogs, the wizards and the shared LLM chooser all use: a status line
that shows busy / ok / error, so every window reports its state the same way (it never
freezes: it says "Checking…", then what it found)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QWidget

Tone = Literal["info", "busy", "ok", "error"]

_COLOURS: Mapping[Tone, str] = {
    "info": "",
    "busy": "color: palette(mid);",
    "ok": "color: #1b7f3b;",
    "error": "color: #b3261e;",
}
_PREFIX: Mapping[Tone, str] = {"info": "", "busy": "… ", "ok": "✓ ", "error": "✗ "}


class StatusLine(QLabel):
    """One line under a page's controls saying what is going on, or what went wrong and what
    to do about it. ``tone`` is kept so tests (and screen readers) can tell the states apart."""

    def __init__(self, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWordWrap(True)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.setAccessibleName(name)
        self.tone: Tone = "info"
        self.hide()

    def show_text(self, tone: Tone, text: str) -> None:
        """Show ``text`` in the colour of ``tone`` (an empty text hides the line)."""
        self.tone = tone
        self.setStyleSheet(_COLOURS[tone])
        self.setText(_PREFIX[tone] + text if text else "")
        self.setVisible(bool(text))

    def clear_text(self) -> None:
        self.show_text("info", "")
