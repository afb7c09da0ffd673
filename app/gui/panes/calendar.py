"""The calendar pane: today's events or the next seven days', and a quick "new event" form.

Events are shown in the zone Google gave them in (``CalendarEvent.start``/``end`` are aware
datetimes, or dates for all-day events with an exclusive end), grouped by day. Reading goes
straight to :meth:`Services.upcoming_events`; creating goes through the action policy
(:meth:`Services.act`), so the pane's form is confirmed and audited like the model's tool call.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QHBoxLayout,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.gui.bridge import Bridge, while_alive
from app.gui.panes.event_form import TOOL, NewEventForm
from app.gui.panes.status import GooglePane, error_text
from app.gui.services import ActionOutcome, Services
from app.gui.wording import plain_words

log = logging.getLogger(__name__)

DAY = timedelta(days=1)
EVENT_ROLE = Qt.ItemDataRole.UserRole
NOT_CONNECTED_CREATE = (
    "Google isn't connected. Connect your account with Connect Google (here, or in "
    "Settings ▸ Google), then try again."
)
CANNOT_WRITE = (
    "Hark may not change your calendar. Allow it in Settings ▸ Google (Calendar: read and "
    "write), then try again."
)


def not_created_reason(outcome: ActionOutcome) -> str:
    """Why an event was not created, in the user's words."""
    if outcome.message.startswith("no tool named"):  # the calendar tools are not there
        return CANNOT_WRITE
    return plain_words(outcome.message) or "it was not allowed"


def day_of(event: Any) -> date:
    """The day an event starts on, in its own zone."""
    start = event.start
    return start.date() if isinstance(start, datetime) else start


def short_day(day: date) -> str:
    return f"{day:%a} {day.day} {day:%b}"


def day_label(day: date, today: date) -> str:
    """A day heading: "Today · Mon 23 Nov", "Tomorrow · …", else the date."""
    if day == today:
        return f"Today · {short_day(day)}"
    if day == today + DAY:
        return f"Tomorrow · {short_day(day)}"
    return short_day(day)


def when_text(event: Any) -> str:
    """The time column: "09:00 – 10:00", "22:00 – Tue 01:00", "All day", or for a multi-day
    all-day event "All day, until Wed 25 Nov" (Google's end date is exclusive)."""
    start, end = event.start, event.end
    if event.all_day or not isinstance(start, datetime):
        last = end - DAY if not isinstance(end, datetime) else end.date()
        first = day_of(event)
        return "All day" if last <= first else f"All day, until {short_day(last)}"
    if isinstance(end, datetime) and end.date() != start.date():
        return f"{start:%H:%M} – {end:%a} {end:%H:%M}"
    return f"{start:%H:%M} – {end:%H:%M}" if isinstance(end, datetime) else f"{start:%H:%M}"


class CalendarPane(GooglePane):
    """Upcoming events with a Today / Next 7 days switch, refresh, open in browser, new event."""

    action_finished = Signal(object)
    """A new event from the form was handled: the :class:`ActionOutcome` (done or not)."""
    link_opened = Signal(str)

    def __init__(
        self,
        services: Services,
        bridge: Bridge,
        parent: QWidget | None = None,
        *,
        open_url: Callable[[QUrl], object] = QDesktopServices.openUrl,
        today: Callable[[], date] = date.today,
        autoload: bool = True,
    ) -> None:
        super().__init__(services, bridge, parent)
        self._open_url = open_url
        self._today = today
        self._days = 1
        self.today_button = QPushButton("Today")
        self.week_button = QPushButton("Next 7 days")
        self.range_group = QButtonGroup(self)
        for days, button in ((1, self.today_button), (7, self.week_button)):
            button.setCheckable(True)
            button.setAccessibleName(f"Show {button.text().lower()}")
            self.range_group.addButton(button, days)
        self.today_button.setChecked(True)
        self.range_group.idClicked.connect(self.on_range_group_id_clicked)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.setAccessibleName("Refresh calendar")
        self.refresh_button.clicked.connect(self.reload)
        self.open_button = QPushButton("Open in browser")
        self.open_button.setAccessibleName("Open event in browser")
        self.open_button.setEnabled(False)
        self.open_button.clicked.connect(self.open_selected)
        self.new_button = QPushButton("New event")
        self.new_button.setAccessibleName("New event")
        self.new_button.clicked.connect(self.show_form)
        bar = QHBoxLayout()
        bar.addWidget(self.today_button)
        bar.addWidget(self.week_button)
        bar.addStretch(1)
        bar.addWidget(self.refresh_button)
        bar.addWidget(self.open_button)
        bar.addWidget(self.new_button)

        self.tree = QTreeWidget()
        self.tree.setColumnCount(2)
        self.tree.setHeaderLabels(["When", "Event"])
        self.tree.setRootIsDecorated(False)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.tree.setAccessibleName("Events")
        self.tree.itemSelectionChanged.connect(self.on_tree_item_selection_changed)
        self.tree.itemActivated.connect(self.on_tree_item_activated)
        self.set_content(self.tree)

        self.form = NewEventForm()
        self.form.hide()
        self.form.submitted.connect(self.on_form_submitted)
        self.form.cancelled.connect(self.hide_form)

        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(self.stack, 1)
        layout.addWidget(self.form)
        if autoload:
            self.reload()

    # --- loading ----------------------------------------------------------------------------

    @property
    def days(self) -> int:
        return self._days

    def set_days(self, days: int) -> None:
        """Show today (1) or the next seven days (7), and load them."""
        self._days = days
        button = self.range_group.button(days)
        if button is not None:
            button.setChecked(True)
        self.reload()

    def empty_message(self) -> str:
        if self._days == 1:
            return "Nothing on your calendar today."
        return f"Nothing on your calendar in the next {self._days} days."

    def loading_message(self) -> str:
        return "Loading your calendar…"

    def fetch(self) -> Awaitable[Sequence[Any]]:
        return self.services.upcoming_events(self._days)

    def populate(self, items: Sequence[Any]) -> None:
        self.tree.clear()
        today = self._today()
        bold = QFont()
        bold.setBold(True)
        heading: QTreeWidgetItem | None = None
        current: date | None = None
        for event in sorted(items, key=lambda e: (max(day_of(e), today), not e.all_day)):
            day = max(day_of(event), today)  # an event still going since yesterday: today
            if heading is None or day != current:
                current = day
                heading = QTreeWidgetItem([day_label(day, today), ""])
                heading.setFlags(Qt.ItemFlag.ItemIsEnabled)
                heading.setFont(0, bold)
                heading.setFirstColumnSpanned(True)
                self.tree.addTopLevelItem(heading)
            title = event.title or "(no title)"
            text = f"{title} · {event.location}" if event.location else title
            item = QTreeWidgetItem([when_text(event), text])
            item.setData(0, EVENT_ROLE, event)
            tip = [title, when_text(event)]
            if event.attendees:
                tip.append("Guests: " + ", ".join(event.attendees))
            item.setToolTip(1, "\n".join(tip))
            self.tree.addTopLevelItem(item)
        self.tree.resizeColumnToContents(0)
        self.open_button.setEnabled(False)

    def _rows(self) -> list[QTreeWidgetItem]:
        items = (self.tree.topLevelItem(i) for i in range(self.tree.topLevelItemCount()))
        return [item for item in items if item is not None]

    def event_rows(self) -> list[tuple[str, str]]:
        """The (when, event) texts of the listed events, in order (headings left out)."""
        return [
            (item.text(0), item.text(1))
            for item in self._rows()
            if item.data(0, EVENT_ROLE) is not None
        ]

    def headings(self) -> list[str]:
        """The day headings, in order."""
        return [item.text(0) for item in self._rows() if item.data(0, EVENT_ROLE) is None]

    # --- opening ----------------------------------------------------------------------------

    def selected_event(self) -> Any | None:
        items = self.tree.selectedItems()
        return items[0].data(0, EVENT_ROLE) if items else None

    def open_selected(self) -> None:
        """Open the selected event in Google Calendar, in the browser."""
        event = self.selected_event()
        if event is None or not event.html_link:
            return
        self._open_url(QUrl(event.html_link))
        self.link_opened.emit(event.html_link)

    def on_tree_item_selection_changed(self) -> None:
        event = self.selected_event()
        self.open_button.setEnabled(bool(event is not None and event.html_link))

    def on_tree_item_activated(self, item: QTreeWidgetItem, _column: int) -> None:
        if item.data(0, EVENT_ROLE) is not None:
            self.open_selected()

    def on_range_group_id_clicked(self, days: int) -> None:
        if days != self._days:
            self.set_days(days)

    # --- new event --------------------------------------------------------------------------

    def show_form(self) -> None:
        if self.form.isHidden():
            self.form.reset()
            self.form.show()
        self.form.title_edit.setFocus()

    def hide_form(self) -> None:
        self.form.hide()

    def create_event(self, arguments: dict[str, Any]) -> None:
        """Send a new event through the policy; the outcome shows in the form."""
        if not self.services.google_connected():
            self.form.show_message(f"Not created: {NOT_CONNECTED_CREATE}", ok=False)
            self.action_finished.emit(ActionOutcome(False, NOT_CONNECTED_CREATE, {}))
            return
        self.form.set_busy(True)
        self.bridge.run(
            self.services.act(TOOL, arguments),
            while_alive(self, self._on_created),
            while_alive(self, self._on_create_failed),
        )

    def on_form_submitted(self, arguments: dict[str, Any]) -> None:
        self.create_event(arguments)

    def _on_created(self, outcome: ActionOutcome) -> None:
        self.form.set_busy(False)
        if outcome.ok:
            title = self.form.title_edit.text().strip()
            self.form.reset()
            self.form.show_message(f"Created “{title}”." if title else "Created.", ok=True)
            self.reload()
        else:
            self.form.show_message(f"Not created: {not_created_reason(outcome)}", ok=False)
        self.action_finished.emit(outcome)

    def _on_create_failed(self, error: BaseException) -> None:
        self.form.set_busy(False)
        text = error_text(error)
        self.form.show_message(f"Not created: {text}", ok=False)
        self.action_finished.emit(ActionOutcome(False, text, {}))
