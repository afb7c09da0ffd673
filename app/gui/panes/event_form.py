"""The calendar pane's quick "new event" form.

It only gathers and checks what the user typed and turns it into the arguments of the
``calendar_create_event`` tool; the pane sends them through the action policy, exactly as if
the model had asked, so a new event from the form is confirmed, rate-limited and audited the
same way. Times are wall-clock times without an offset: the tool reads them in the user's
calendar zone (``google.time_zone``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from PySide6.QtCore import QDate, Qt, QTime, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QDateEdit,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QTimeEdit,
    QVBoxLayout,
    QWidget,
)

TOOL = "calendar_create_event"
ADDRESS = re.compile(r"[^@\s,;<>()\"']+@[^@\s,;<>()\"']+\.[^@\s,;<>()\"'.]+")


class FormError(ValueError):
    """What the user typed cannot make an event; the message says what to change."""


def split_guests(text: str) -> list[str]:
    """Guests as typed (commas, semicolons or spaces between them), checked one by one."""
    guests = [part for part in re.split(r"[,;\s]+", text) if part]
    for guest in guests:
        if not ADDRESS.fullmatch(guest):
            raise FormError(
                f"“{guest}” is not an email address: write guests as name@example.com, "
                "separated by commas."
            )
    return guests


class NewEventForm(QFrame):
    """Title, date, start time, duration and guests; Enter creates, Esc closes."""

    submitted = Signal(dict)
    """The checked arguments for ``calendar_create_event``."""
    cancelled = Signal()

    def __init__(
        self, parent: QWidget | None = None, *, now: Callable[[], datetime] | None = None
    ) -> None:
        super().__init__(parent)
        self._now = now or datetime.now
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.title_edit = QLineEdit()
        self.title_edit.setPlaceholderText("What is it?")
        self.title_edit.setAccessibleName("Event title")
        self.date_edit = QDateEdit()
        self.date_edit.setCalendarPopup(True)
        self.date_edit.setDisplayFormat("ddd d MMM yyyy")
        self.date_edit.setAccessibleName("Event date")
        self.time_edit = QTimeEdit()
        self.time_edit.setDisplayFormat("HH:mm")
        self.time_edit.setAccessibleName("Start time")
        self.duration_spin = QSpinBox()
        self.duration_spin.setRange(5, 24 * 60)
        self.duration_spin.setSingleStep(15)
        self.duration_spin.setSuffix(" min")
        self.duration_spin.setAccessibleName("Duration in minutes")
        self.guests_edit = QLineEdit()
        self.guests_edit.setPlaceholderText("ana@example.com, bo@example.com (optional)")
        self.guests_edit.setAccessibleName("Guests")
        self.message_label = QLabel()
        self.message_label.setWordWrap(True)
        self.message_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message_label.setAccessibleName("New event message")
        self.create_button = QPushButton("Create")
        self.create_button.setDefault(True)
        self.create_button.setAccessibleName("Create event")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setAccessibleName("Cancel new event")
        fields = QFormLayout()
        fields.addRow("Title", self.title_edit)
        fields.addRow("Date", self.date_edit)
        fields.addRow("Starts at", self.time_edit)
        fields.addRow("Duration", self.duration_spin)
        fields.addRow("Guests", self.guests_edit)
        buttons = QHBoxLayout()
        buttons.addWidget(self.message_label, 1)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.create_button)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("<b>New event</b>"))
        layout.addLayout(fields)
        layout.addLayout(buttons)
        self.create_button.clicked.connect(self.submit)
        self.cancel_button.clicked.connect(self.cancelled)
        self.title_edit.returnPressed.connect(self.submit)
        self.guests_edit.returnPressed.connect(self.submit)
        self.reset()

    def reset(self) -> None:
        """Empty fields, starting at the next full hour, for an hour."""
        start = (self._now() + timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
        self.title_edit.clear()
        self.guests_edit.clear()
        self.date_edit.setDate(QDate(start.year, start.month, start.day))
        self.time_edit.setTime(QTime(start.hour, 0))
        self.duration_spin.setValue(60)
        self.message_label.clear()
        self.set_busy(False)

    def arguments(self) -> dict[str, Any]:
        """The tool's arguments, or :class:`FormError` saying what to fix."""
        title = " ".join(self.title_edit.text().split())
        if not title:
            raise FormError("Give the event a title.")
        guests = split_guests(self.guests_edit.text())
        day = self.date_edit.date()
        at = self.time_edit.time()
        start = (
            f"{day.year():04d}-{day.month():02d}-{day.day():02d}T{at.hour():02d}:{at.minute():02d}"
        )
        args: dict[str, Any] = {
            "title": title,
            "start": start,
            "duration_minutes": self.duration_spin.value(),
        }
        if guests:
            args["attendees"] = guests
        return args

    def submit(self) -> None:
        if not self.create_button.isEnabled():
            return
        try:
            args = self.arguments()
        except FormError as exc:
            self.show_message(str(exc), ok=False)
            return
        self.submitted.emit(args)

    def set_busy(self, busy: bool) -> None:
        self.create_button.setEnabled(not busy)
        if busy:
            self.show_message("Creating… (approve it if Hark asks)", ok=True)

    def show_message(self, text: str, *, ok: bool) -> None:
        self.message_label.setStyleSheet("" if ok else "color: #b3261e;")
        self.message_label.setText(text)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Escape:
            self.cancelled.emit()
            return
        super().keyPressEvent(event)
