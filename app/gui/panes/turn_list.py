"""A scrolling column of turns and notices that follows the newest entry.

The conversation window has two: the live conversation and the search results. It keeps
only the latest ``max_entries`` entries (older ones are dropped) and stays scrolled to the
bottom unless the user scrolled up to read something.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QScrollArea, QVBoxLayout, QWidget

from app.gui.panes.turn_view import MAX_ENTRIES, TurnView, plain_label


class TurnList(QScrollArea):
    """Entries (turn views, notice labels) from the oldest down to the newest."""

    def __init__(
        self, empty_text: str, parent: QWidget | None = None, *, max_entries: int = MAX_ENTRIES
    ) -> None:
        super().__init__(parent)
        self.max_entries = max_entries
        self._entries: list[QWidget] = []
        self._stick = True
        self.empty_label = plain_label(empty_text)
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._column = QVBoxLayout()
        self._column.addWidget(self.empty_label)
        self._column.addStretch(1)
        inner = QWidget()
        inner.setLayout(self._column)
        self.setWidgetResizable(True)
        self.setWidget(inner)
        bar = self.verticalScrollBar()
        bar.rangeChanged.connect(self.on_scrollbar_range_changed)
        bar.valueChanged.connect(self.on_scrollbar_value_changed)

    def entries(self) -> list[QWidget]:
        return list(self._entries)

    def turns(self) -> list[TurnView]:
        return [entry for entry in self._entries if isinstance(entry, TurnView)]

    def notices(self) -> list[str]:
        return [e.text() for e in self._entries if isinstance(e, QLabel)]

    def add(self, entry: QWidget) -> list[QWidget]:
        """Append ``entry``; returns the entries dropped to stay within ``max_entries``."""
        self._column.insertWidget(self._column.count() - 1, entry)
        self._entries.append(entry)
        self.empty_label.hide()
        dropped: list[QWidget] = []
        while len(self._entries) > self.max_entries:
            old = self._entries.pop(0)
            dropped.append(old)
            old.deleteLater()
        return dropped

    def clear(self) -> None:
        for entry in self._entries:
            entry.deleteLater()
        self._entries.clear()
        self.empty_label.show()

    def set_empty_text(self, text: str) -> None:
        self.empty_label.setText(text)

    def on_scrollbar_value_changed(self, value: int) -> None:
        self._stick = value >= self.verticalScrollBar().maximum() - 8

    def on_scrollbar_range_changed(self, _minimum: int, maximum: int) -> None:
        if self._stick:
            self.verticalScrollBar().setValue(maximum)
