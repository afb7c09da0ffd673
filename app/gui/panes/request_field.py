"""The field to type a request to Hark: Enter sends it, Up and Down recall earlier ones.

Recall works as in a terminal: Up steps back through earlier requests (typed or spoken, this
session's and, with the history on, earlier sessions'), Down steps forward again, and past the
newest it gives back what was being typed before Up was pressed.
"""

from __future__ import annotations

from collections.abc import Iterable

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QLineEdit, QWidget

MAX_RECALL = 100
PLACEHOLDER = "Type a request and press Enter (Up recalls the last one)"


class RequestField(QLineEdit):
    """A line for requests with recall of earlier ones (``remember`` adds one)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setPlaceholderText(PLACEHOLDER)
        self.setAccessibleName("Request to Hark")
        self.setClearButtonEnabled(True)
        self._earlier: list[str] = []
        self._at: int | None = None  # index into _earlier while recalling
        self._draft = ""

    def recall_list(self) -> list[str]:
        """Earlier requests, oldest first."""
        return list(self._earlier)

    def set_recall(self, requests: Iterable[str]) -> None:
        self._earlier = [r for r in requests if r][-MAX_RECALL:]
        self._at = None

    def remember(self, text: str) -> None:
        """``text`` becomes the newest request to recall (moved there if it was already)."""
        text = text.strip()
        if not text:
            return
        if text in self._earlier:
            self._earlier.remove(text)
        self._earlier = [*self._earlier, text][-MAX_RECALL:]
        self._at = None

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Up and self._earlier:
            if self._at is None:
                self._draft = self.text()
                self._at = len(self._earlier)
            self._at = max(0, self._at - 1)
            self.setText(self._earlier[self._at])
            return
        if event.key() == Qt.Key.Key_Down and self._at is not None:
            self._at += 1
            if self._at >= len(self._earlier):
                self._at = None
                self.setText(self._draft)
            else:
                self.setText(self._earlier[self._at])
            return
        super().keyPressEvent(event)
        if event.text():  # typing leaves recall: the next Up starts from the newest again
            self._at = None
