"""The inbox pane: unread mail, a preview of the chosen message, and two assistant buttons.

The list comes from :meth:`Services.unread_mail` and the preview from
:meth:`Services.read_mail`, both on the engine loop. "Summarize" and "Draft reply" are ordinary
assistant turns (:meth:`Services.ask`) about the message in the preview, offered only the
tools they need (Summarize none, Draft reply ``mail_draft``; see
:mod:`app.gui.panes.mail_prompts`); anything they change (saving a draft) goes through the
action policy. The answer streams in under the preview as the model writes it.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import date, datetime
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.gui.bridge import Bridge, while_alive
from app.gui.panes.mail_prompts import (
    DRAFT_TOOLS,
    SUMMARIZE_TOOLS,
    draft_prompt,
    shown_request,
    summarize_prompt,
)
from app.gui.panes.reply_stream import ReplyStream
from app.gui.panes.status import GooglePane, error_text
from app.gui.services import Services

log = logging.getLogger(__name__)

ID_ROLE = Qt.ItemDataRole.UserRole
PICK_TEXT = "Pick a message to read it here."
COLUMNS = ["From", "Subject", "Preview", "Received"]
MAX_WIDTHS = {0: 220, 1: 320}
"""The widest the From and Subject columns start (the rest goes to the preview column)."""


def received_text(when: datetime | None, today: date) -> str:
    """ "14:05" for today's mail, "Mon 23 Nov" for older."""
    if when is None:
        return ""
    if when.date() == today:
        return f"{when:%H:%M}"
    return f"{when:%a} {when.day} {when:%b}"


class InboxPane(GooglePane):
    """Unread mail with a preview and Summarize / Draft reply buttons."""

    preview_loaded = Signal(str)
    """The preview shows the message with this id."""
    preview_failed = Signal(str)
    reply_received = Signal(str)
    """An assistant turn (Summarize / Draft reply) finished: the text shown."""
    reply_failed = Signal(str)

    def __init__(
        self,
        services: Services,
        bridge: Bridge,
        parent: QWidget | None = None,
        *,
        today: Callable[[], date] = date.today,
        limit: int = 25,
        autoload: bool = True,
    ) -> None:
        super().__init__(services, bridge, parent)
        self._today = today
        self._limit = limit
        self._preview_id: str | None = None
        self._message: Any = None  # the message in the preview, once loaded
        self._asking = False
        self._title = ""
        self.stream = ReplyStream(bridge, self)
        self.stream.grew.connect(self.on_stream_grew)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.setAccessibleName("Refresh inbox")
        self.refresh_button.clicked.connect(self.reload)
        self.summarize_button = QPushButton("Summarize")
        self.summarize_button.setAccessibleName("Summarize message")
        self.summarize_button.clicked.connect(self.summarize)
        self.draft_button = QPushButton("Draft reply")
        self.draft_button.setAccessibleName("Draft a reply")
        self.draft_button.clicked.connect(self.draft_reply)
        bar = QHBoxLayout()
        bar.addWidget(self.refresh_button)
        bar.addStretch(1)
        bar.addWidget(self.summarize_button)
        bar.addWidget(self.draft_button)

        self.list = QTreeWidget()
        self.list.setHeaderLabels(COLUMNS)
        header = self.list.header()
        header.setStretchLastSection(False)
        for column, mode in enumerate(
            (
                QHeaderView.ResizeMode.Interactive,
                QHeaderView.ResizeMode.Interactive,
                QHeaderView.ResizeMode.Stretch,
                QHeaderView.ResizeMode.ResizeToContents,
            )
        ):
            header.setSectionResizeMode(column, mode)
        self.list.setRootIsDecorated(False)
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.list.setAccessibleName("Unread messages")
        self.list.itemSelectionChanged.connect(self.on_list_item_selection_changed)
        self.header_label = QLabel(PICK_TEXT)
        self.header_label.setWordWrap(True)
        self.header_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.header_label.setAccessibleName("Message details")
        self.body_view = QPlainTextEdit()
        self.body_view.setReadOnly(True)
        self.body_view.setAccessibleName("Message text")
        self.reply_title = QLabel()
        self.reply_view = QPlainTextEdit()
        self.reply_view.setReadOnly(True)
        self.reply_view.setAccessibleName("Hark's answer")
        self.reply_view.setMaximumHeight(160)
        preview = QWidget()
        preview_layout = QVBoxLayout(preview)
        preview_layout.setContentsMargins(0, 0, 0, 0)
        preview_layout.addWidget(self.header_label)
        preview_layout.addWidget(self.body_view, 1)
        preview_layout.addWidget(self.reply_title)
        preview_layout.addWidget(self.reply_view)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.list)
        splitter.addWidget(preview)
        splitter.setStretchFactor(1, 2)
        self.set_content(splitter)

        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(self.stack, 1)
        self._show_reply("", "")
        self._update_buttons()
        if autoload:
            self.reload()

    # --- the list ---------------------------------------------------------------------------

    def empty_message(self) -> str:
        return "No unread mail. Nice."

    def loading_message(self) -> str:
        return "Loading your unread mail…"

    def fetch(self) -> Awaitable[Sequence[Any]]:
        return self.services.unread_mail(self._limit)

    def populate(self, items: Sequence[Any]) -> None:
        self.list.clear()
        today = self._today()
        dim = self.list.palette().color(QPalette.ColorRole.PlaceholderText)
        for mail in items:
            row = QTreeWidgetItem(
                [
                    mail.sender,
                    mail.subject or "(no subject)",
                    mail.snippet,
                    received_text(mail.date, today),
                ]
            )
            row.setData(0, ID_ROLE, mail.id)
            row.setForeground(2, dim)
            for column in range(3):
                row.setToolTip(column, row.text(column))
            self.list.addTopLevelItem(row)
        for column, widest in MAX_WIDTHS.items():
            self.list.resizeColumnToContents(column)
            self.list.setColumnWidth(column, min(self.list.columnWidth(column), widest))
        self._preview_id = None
        self._message = None
        self.header_label.setText(PICK_TEXT)
        self.body_view.clear()
        self._update_buttons()

    def rows(self) -> list[tuple[str, str, str, str]]:
        """The (from, subject, snippet, received) texts of the listed messages."""
        out = []
        for i in range(self.list.topLevelItemCount()):
            item = self.list.topLevelItem(i)
            if item is not None:
                out.append((item.text(0), item.text(1), item.text(2), item.text(3)))
        return out

    def select(self, row: int) -> None:
        """Select a message (as a click would), which loads its preview."""
        item = self.list.topLevelItem(row)
        if item is not None:
            self.list.setCurrentItem(item)

    def selected_id(self) -> str | None:
        items = self.list.selectedItems()
        return str(items[0].data(0, ID_ROLE)) if items else None

    # --- the preview ------------------------------------------------------------------------

    def on_list_item_selection_changed(self) -> None:
        message_id = self.selected_id()
        self._update_buttons()
        if message_id is None or message_id == self._preview_id:
            return
        self._preview_id = message_id
        self._message = None
        self._update_buttons()
        self.header_label.setText("Loading the message…")
        self.body_view.clear()

        def shown(message: Any) -> None:
            if message_id == self._preview_id:
                self._show_message(message)

        def broken(error: BaseException) -> None:
            if message_id == self._preview_id:
                text = error_text(error)
                self.header_label.setText(html.escape(f"Could not open it: {text}"))
                self.preview_failed.emit(text)

        self.bridge.run(
            self.services.read_mail(message_id), while_alive(self, shown), while_alive(self, broken)
        )

    def _show_message(self, message: Any) -> None:
        lines = [
            f"<b>{html.escape(message.subject or '(no subject)')}</b>",
            f"From: {html.escape(message.sender)}",
        ]
        if message.to:
            lines.append(f"To: {html.escape(', '.join(message.to))}")
        if message.cc:
            lines.append(f"Cc: {html.escape(', '.join(message.cc))}")
        if message.date is not None:
            lines.append(f"Date: {message.date:%a %d %b %Y %H:%M}")
        if message.attachments:
            lines.append(f"Attachments: {html.escape(', '.join(message.attachments))}")
        self.header_label.setText("<br>".join(lines))
        self.body_view.setPlainText(message.body or message.snippet)
        self._message = message
        self._update_buttons()
        self.preview_loaded.emit(message.id)

    def preview_text(self) -> str:
        return self.body_view.toPlainText()

    # --- assistant turns --------------------------------------------------------------------

    def summarize(self) -> None:
        """Ask Hark to summarize the message in the preview (no tools offered); the answer
        streams in under the preview."""
        self._ask("Summary", "Summarize", summarize_prompt, SUMMARIZE_TOOLS)

    def draft_reply(self) -> None:
        """Ask Hark to draft a reply to the message in the preview (it may only save a draft)."""
        self._ask("Draft reply", "Draft a reply to", draft_prompt, DRAFT_TOOLS)

    def _ask(
        self,
        what: str,
        verb: str,
        prompt: Callable[[Any], str],
        tools: tuple[str, ...],
    ) -> None:
        message = self._message
        if message is None or self._asking or message.id != self.selected_id():
            return
        subject = message.subject or "(no subject)"
        title = f"{what} of “{subject}”" if what == "Summary" else f"{what} to “{subject}”"
        shown = shown_request(verb, message)
        self._asking = True
        self._update_buttons()
        self._show_reply(title, "Thinking…")
        self._title = title
        self.stream.follow(shown)

        def answered(result: Any) -> None:
            self._asking = False
            self.stream.stop()
            self._update_buttons()
            if result.error_message:
                self._failed(title, result.error_message)
            elif result.cancelled:
                self._failed(title, "Stopped before it finished. Try again.")
            else:
                text = result.reply or "(Hark had nothing to say.)"
                self._show_reply(title, text)
                self.reply_received.emit(text)

        def broken(error: BaseException) -> None:
            self._asking = False
            self.stream.stop()
            self._update_buttons()
            self._failed(title, error_text(error))

        self.bridge.run(
            self.services.ask(prompt(message), shown=shown, tools=tools),
            while_alive(self, answered),
            while_alive(self, broken),
        )

    def on_stream_grew(self, text: str) -> None:
        """The answer so far, as the model writes it."""
        if self._asking:
            self._show_reply(self._title, text)

    def _failed(self, title: str, text: str) -> None:
        self._show_reply(title, f"Could not do it: {text}")
        self.reply_failed.emit(text)

    def _show_reply(self, title: str, text: str) -> None:
        self.reply_title.setText(f"<b>{html.escape(title)}</b>" if title else "")
        self.reply_view.setPlainText(text)
        self.reply_title.setVisible(bool(title))
        self.reply_view.setVisible(bool(title))

    def reply_text(self) -> str:
        return self.reply_view.toPlainText()

    def _update_buttons(self) -> None:
        ready = self._message is not None and not self._asking
        ready = ready and self._message.id == self.selected_id()
        self.summarize_button.setEnabled(ready)
        self.draft_button.setEnabled(ready)
