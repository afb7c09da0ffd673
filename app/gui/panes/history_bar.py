"""The conversation window's top bar: search the history, and Clear history (asked first).

Searching waits a moment after the last key (``SEARCH_DELAY_MS``) so each key press does not
run a query; Esc empties the search. *Clear history…* asks in the bar itself — Delete or
Cancel — since it deletes the whole history for good.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QHBoxLayout, QLabel, QLineEdit, QPushButton, QVBoxLayout, QWidget

SEARCH_DELAY_MS = 200
ASK_TEXT = "Delete the whole conversation history, on screen and on disk? This cannot be undone."


class SearchField(QLineEdit):
    """A search line that Esc empties (before Esc closes the window)."""

    def event(self, event: QEvent) -> bool:
        if (
            event.type() == QEvent.Type.ShortcutOverride
            and isinstance(event, QKeyEvent)
            and event.key() == Qt.Key.Key_Escape
            and self.text()
        ):
            event.accept()
            return True
        return super().event(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Escape and self.text():
            self.clear()
            return
        super().keyPressEvent(event)


class HistoryBar(QWidget):
    """Search field and *Clear history…* with its inline question."""

    search_changed = Signal(str)
    """The search words (stripped; empty: back to the conversation), once typing paused."""
    clear_confirmed = Signal()
    """The user asked to delete the history and confirmed it."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.search_field = SearchField()
        self.search_field.setPlaceholderText("Search the conversation")
        self.search_field.setAccessibleName("Search the conversation")
        self.search_field.setClearButtonEnabled(True)
        self.search_field.textChanged.connect(self.on_search_field_text_changed)
        self.search_field.returnPressed.connect(self.search_now)
        self.clear_button = QPushButton("Clear history…")
        self.clear_button.setAccessibleName("Clear history")
        self.clear_button.setToolTip("Delete every turn kept, on screen and on disk")
        self.clear_button.clicked.connect(self.ask_to_clear)
        self.ask_label = QLabel(ASK_TEXT)
        self.ask_label.setWordWrap(True)
        self.delete_button = QPushButton("Delete history")
        self.delete_button.setAccessibleName("Delete history")
        self.delete_button.clicked.connect(self.on_delete_button_clicked)
        self.keep_button = QPushButton("Cancel")
        self.keep_button.setAccessibleName("Keep history")
        self.keep_button.clicked.connect(self.on_keep_button_clicked)
        self.ask_row = QWidget()
        ask = QHBoxLayout(self.ask_row)
        ask.setContentsMargins(0, 0, 0, 0)
        ask.addWidget(self.ask_label, 1)
        ask.addWidget(self.keep_button)
        ask.addWidget(self.delete_button)
        self.ask_row.hide()
        row = QHBoxLayout()
        row.addWidget(self.search_field, 1)
        row.addWidget(self.clear_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.ask_row)
        self._timer = QTimer(self, singleShot=True, interval=SEARCH_DELAY_MS)
        self._timer.timeout.connect(self.search_now)

    @property
    def words(self) -> str:
        return self.search_field.text().strip()

    def search_now(self) -> None:
        self._timer.stop()
        self.search_changed.emit(self.words)

    def on_search_field_text_changed(self, _text: str) -> None:
        if not self.words:
            self.search_now()  # emptied: back to the conversation at once
        else:
            self._timer.start()

    def ask_to_clear(self) -> None:
        self.ask_row.show()
        self.clear_button.setEnabled(False)
        self.keep_button.setFocus()  # Enter after the click must not delete

    def on_keep_button_clicked(self) -> None:
        self.ask_row.hide()
        self.clear_button.setEnabled(True)

    def on_delete_button_clicked(self) -> None:
        self.on_keep_button_clicked()
        self.clear_confirmed.emit()
