"""The editable preview of an action: one field per ``ActionProposal.preview`` key.

What the user approves is what runs, so the form gives back exactly the fields the user changed,
in the preview's own value types: a list (recipients, guests) is shown as comma-separated text
and comes back as a list; ``body`` and ``description`` are multi-line; numbers and yes/no stay
numbers and booleans; an event's ``start`` and ``end`` are date and time pickers showing
"Tue 3 Dec 2026, 14:00" (they give back ISO text, in the value's own zone). A field counts as
changed only when its text differs from what was shown, so displaying a value never invents an
edit.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from email.utils import parseaddr
from typing import Any

from PySide6.QtCore import QDate, QDateTime, QEvent, QObject, Qt, QTime, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QDateEdit,
    QDateTimeEdit,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QSpinBox,
    QWidget,
)

from app.core.wording import parse_moment

MULTILINE_KEYS = frozenset({"body", "description"})
"""Preview keys edited as multi-line text (Enter adds a line there)."""
ADDRESS_KEYS = frozenset({"to", "cc", "bcc", "attendees"})
"""List keys whose items must be email addresses."""
TIME_KEYS = frozenset({"start", "end"})
"""Keys edited with a date (and time) picker when their value is an ISO date or time."""
DATETIME_FORMAT = "ddd d MMM yyyy, HH:mm"
DATE_FORMAT = "ddd d MMM yyyy"
LABELS = {
    "to": "To",
    "cc": "Cc",
    "bcc": "Bcc",
    "subject": "Subject",
    "body": "Message",
    "title": "Title",
    "start": "Starts",
    "end": "Ends",
    "attendees": "Guests",
    "description": "Notes",
    "location": "Place",
}

FieldWidget = QLineEdit | QPlainTextEdit | QCheckBox | QSpinBox | QDoubleSpinBox | QDateTimeEdit


def label_for(key: str) -> str:
    """A person's word for a preview key (``attendees`` is "Guests")."""
    return LABELS.get(key, key.replace("_", " ").capitalize())


def shown_text(value: Any) -> str:
    """The text a field starts with: lists joined by commas, nothing as empty."""
    if isinstance(value, list | tuple):
        return ", ".join(_shown_item(v) for v in value)
    return "" if value is None else str(value)


def _shown_item(value: Any) -> str:
    text = "" if value is None else str(value)
    if "," not in text or text.startswith('"'):
        return text
    name, address = parseaddr(text)
    if name and "@" in address:  # Bob, Jr. <bob@x.org> -> "Bob, Jr." <bob@x.org>
        return f'"{name}" <{address}>'
    return f'"{text}"'


def split_list(text: str) -> list[str]:
    """Comma-separated text as a list, blanks dropped; commas inside double quotes stay
    (``"Bob, Jr." <bob@x.org>`` is one item), and a wholly quoted item loses its quotes."""
    items: list[str] = []
    current: list[str] = []
    quoted = False
    for char in text + ",":
        if char == '"':
            quoted = not quoted
        if char == "," and not quoted:
            item = "".join(current).strip()
            if len(item) >= 2 and item.startswith('"') and item.endswith('"'):
                item = item[1:-1].strip()
            if item:
                items.append(item)
            current = []
        else:
            current.append(char)
    return items


def is_ctrl_enter(event: QKeyEvent) -> bool:
    """Ctrl+Enter: "done" where plain Enter has another meaning (a new line)."""
    ctrl = event.modifiers() & Qt.KeyboardModifier.ControlModifier
    return bool(ctrl) and event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)


def _is_plain_list(value: Any) -> bool:
    return isinstance(value, list | tuple) and all(isinstance(v, str) for v in value)


class PreviewForm(QWidget):
    """The preview's fields, editable; tells which ones the user changed and whether they are
    valid (an address list with something that is not an address cannot be approved)."""

    edited = Signal()
    """Any field changed (the dialog re-checks validity)."""
    submitted = Signal()
    """Ctrl+Enter in a multi-line field, where Enter adds a line (the dialog approves)."""

    def __init__(self, preview: Mapping[str, Any], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._original = dict(preview)
        self._fields: dict[str, FieldWidget] = {}
        self._initial: dict[str, str] = {}
        self._fixed: set[str] = set()
        """Keys shown read-only (values the form cannot edit faithfully)."""
        layout = QFormLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        for key, value in self._original.items():
            widget = self._make(key, value)
            widget.setObjectName(f"preview_{key}")
            widget.setAccessibleName(label_for(key))
            self._fields[key] = widget
            self._initial[key] = self._text_of(widget)
            layout.addRow(QLabel(label_for(key) + ":"), widget)

    # -- reading ---------------------------------------------------------------------------

    def field(self, key: str) -> FieldWidget:
        """The widget that edits ``key`` (tests and the dialog's focus handling use it)."""
        return self._fields[key]

    def names(self) -> list[str]:
        """The preview keys, in order."""
        return list(self._fields)

    def edits(self) -> dict[str, Any]:
        """The changed fields only, each in the type of its original value."""
        changed: dict[str, Any] = {}
        for key, widget in self._fields.items():
            if key not in self._fixed and self._text_of(widget) != self._initial[key]:
                changed[key] = self._value_of(key, widget)
        return changed

    def values(self) -> dict[str, Any]:
        """The whole preview as it stands now (originals with the edits applied)."""
        return {**self._original, **self.edits()}

    def problems(self) -> list[str]:
        """What must be fixed before approving, in words; empty when all is well."""
        found: list[str] = []
        for key, widget in self._fields.items():
            if key not in ADDRESS_KEYS or not isinstance(widget, QLineEdit):
                continue
            if widget.text() == self._initial[key]:
                continue
            given = set(split_list(self._initial[key]))  # the policy judged those already
            for item in split_list(widget.text()):
                if item in given:
                    continue
                address = parseaddr(item)[1]
                if "@" not in address or address.startswith("@") or address.endswith("@"):
                    found.append(
                        f"{label_for(key)}: “{item}” is not an email address "
                        "(write it as name@example.org)"
                    )
        return found

    # -- building --------------------------------------------------------------------------

    def _make(self, key: str, value: Any) -> FieldWidget:
        moment = parse_moment(value) if key in TIME_KEYS and isinstance(value, str) else None
        if moment is not None:
            return self._time_picker(moment)
        if isinstance(value, bool):
            box = QCheckBox(self)
            box.setChecked(value)
            box.toggled.connect(self.edited)
            return box
        if isinstance(value, int):
            spin = QSpinBox(self)
            spin.setRange(-(2**31), 2**31 - 1)
            spin.setValue(value)
            spin.valueChanged.connect(self.edited)
            return spin
        if isinstance(value, float):
            dspin = QDoubleSpinBox(self)
            dspin.setRange(-1e12, 1e12)
            dspin.setDecimals(3)
            dspin.setValue(value)
            dspin.valueChanged.connect(self.edited)
            return dspin
        text = shown_text(value)
        multiline = key in MULTILINE_KEYS or (isinstance(value, str) and "\n" in value)
        if multiline and (value is None or isinstance(value, str)):
            area = QPlainTextEdit(self)
            area.setPlainText(text)
            area.setTabChangesFocus(True)
            area.setMinimumHeight(120)
            area.textChanged.connect(self.edited)
            area.installEventFilter(self)
            return area
        line = QLineEdit(text, self)
        line.setCursorPosition(0)
        if isinstance(value, list | tuple):
            line.setPlaceholderText("separate several with commas")
        editable = value is None or isinstance(value, str) or _is_plain_list(value)
        if not editable:  # a shape the form cannot edit faithfully: show it, never change it
            line.setReadOnly(True)
            self._fixed.add(key)
        line.textChanged.connect(self.edited)
        return line

    def _time_picker(self, moment: Any) -> QDateTimeEdit:
        day = QDate(moment.year, moment.month, moment.day)
        picker: QDateTimeEdit
        if isinstance(moment, datetime):
            at = QTime(moment.hour, moment.minute, moment.second)
            picker = QDateTimeEdit(QDateTime(day, at), self)
            picker.setDisplayFormat(DATETIME_FORMAT)
        else:
            picker = QDateEdit(day, self)
            picker.setDisplayFormat(DATE_FORMAT)
        picker.setCalendarPopup(True)
        picker.dateTimeChanged.connect(self.edited)
        return picker

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if (
            isinstance(watched, QPlainTextEdit)
            and isinstance(event, QKeyEvent)
            and event.type() == QEvent.Type.KeyPress
            and is_ctrl_enter(event)
        ):
            self.submitted.emit()
            return True
        return super().eventFilter(watched, event)

    @staticmethod
    def _text_of(widget: FieldWidget) -> str:
        if isinstance(widget, QCheckBox):
            return "1" if widget.isChecked() else "0"
        if isinstance(widget, QSpinBox | QDoubleSpinBox):
            return widget.text()
        if isinstance(widget, QDateTimeEdit):
            return widget.dateTime().toString(Qt.DateFormat.ISODate)
        if isinstance(widget, QPlainTextEdit):
            return widget.toPlainText()
        return widget.text()

    def _value_of(self, key: str, widget: FieldWidget) -> Any:
        original = self._original[key]
        if isinstance(widget, QCheckBox):
            return widget.isChecked()
        if isinstance(widget, QSpinBox | QDoubleSpinBox):
            return widget.value()
        if isinstance(widget, QDateTimeEdit):
            return _iso_text(widget, original)
        text = widget.toPlainText() if isinstance(widget, QPlainTextEdit) else widget.text()
        if isinstance(original, list | tuple):
            return split_list(text)
        if original is None and not text:
            return None
        return text


def _iso_text(picker: QDateTimeEdit, original: Any) -> str:
    """The picked date or time as ISO text shaped like ``original`` (its zone, its seconds)."""
    day = picker.date()
    if isinstance(picker, QDateEdit):
        return f"{day.year():04d}-{day.month():02d}-{day.day():02d}"
    at = picker.time()
    was = parse_moment(original)
    zone = was.tzinfo if isinstance(was, datetime) else None
    moment = datetime(day.year(), day.month(), day.day(), at.hour(), at.minute(), at.second())
    clock = re.split(r"[+Z-]", str(original).split("T", 1)[-1])[0]
    seconds = clock.count(":") >= 2
    return moment.replace(tzinfo=zone).isoformat(timespec="seconds" if seconds else "minutes")
