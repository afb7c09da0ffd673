"""The conversation window: type to Hark, and see what was heard, answered and done.

It is fed by engine events (:attr:`Bridge.event_received`), so it shows voice turns, typed
turns and the inbox's assistant turns alike, as they happen: the request (a typed one at
once), the reply as the model writes it, each action as it really ran with its outcome, a
failure or a stop, and the turn's latency breakdown once it ends. Notices (the hosted voice
failed, a backend went away) appear between turns. Only the latest entries stay on screen
(:data:`MAX_ENTRIES`).

The request field at the bottom works without a microphone: Enter sends (through
:meth:`Services.ask`), Up recalls earlier requests. *Edit* on a turn corrects a misheard
request and sends it again. With a :class:`~app.gui.history.ConversationHistory` the finished
turns are kept across restarts (what the window showed, nothing more), the search field
looks through all of them, and *Clear history…* deletes them for good.
"""

from __future__ import annotations

import logging
from collections import Counter

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from app.core.events import (
    BackendStatusChanged,
    NoticeRaised,
    ReplyTextReceived,
    ToolCallFinished,
    ToolCallStarted,
    TranscriptReady,
    TurnCancelled,
    TurnFailed,
    TurnFinished,
    TurnStarted,
)
from app.gui.bridge import Bridge
from app.gui.history import ConversationHistory, HistoryError, TurnRecord
from app.gui.panes.history_bar import HistoryBar
from app.gui.panes.request_field import RequestField
from app.gui.panes.status import error_text
from app.gui.panes.turn_list import TurnList
from app.gui.panes.turn_view import MAX_ENTRIES, QUIET_STYLE, TurnView, plain_label
from app.gui.services import Services
from app.gui.wording import plain_words

log = logging.getLogger(__name__)

EMPTY_TEXT = "Nothing said yet. Talk to Hark, or type a request below."
SEARCH_LIMIT = 200


class ConversationPane(QWidget):
    """The running conversation with its request field, search and history."""

    turn_started = Signal(int)
    turn_finished = Signal(int)
    """A turn ended and its view shows everything (the timings included)."""
    notice_shown = Signal(str)
    request_sent = Signal(str)
    """A request went to the engine (typed, recalled or corrected)."""
    searched = Signal(int)
    """A search finished: how many turns match (the results are on screen)."""
    history_cleared = Signal()

    def __init__(
        self,
        bridge: Bridge,
        parent: QWidget | None = None,
        *,
        services: Services | None = None,
        history: ConversationHistory | None = None,
        max_entries: int = MAX_ENTRIES,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Hark — Conversation")
        self.bridge = bridge
        self.services = services
        self.history = history
        self._current: TurnView | None = None
        self._down: set[str] = set()
        self._corrections: Counter[str] = Counter()
        self.bar = HistoryBar()
        self.bar.search_changed.connect(self.on_bar_search_changed)
        self.bar.clear_confirmed.connect(self.clear_history)
        self.live = TurnList(EMPTY_TEXT, max_entries=max_entries)
        self.live.setAccessibleName("Conversation")
        self.empty_label = self.live.empty_label
        self.scroll_area = self.live
        self.results = TurnList("")
        self.results.setAccessibleName("Search results")
        self.results_label = plain_label(style=QUIET_STYLE)
        results_page = QWidget()
        results_layout = QVBoxLayout(results_page)
        results_layout.setContentsMargins(0, 0, 0, 0)
        results_layout.addWidget(self.results_label)
        results_layout.addWidget(self.results, 1)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.live)
        self.stack.addWidget(results_page)
        self.request_field = RequestField()
        self.request_field.returnPressed.connect(self.on_request_field_return_pressed)
        self.send_button = QPushButton("Send")
        self.send_button.setAccessibleName("Send the request")
        self.send_button.clicked.connect(self.on_request_field_return_pressed)
        self.clear_button = self.bar.clear_button
        bottom = QHBoxLayout()
        bottom.addWidget(self.request_field, 1)
        bottom.addWidget(self.send_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.bar)
        layout.addWidget(self.stack, 1)
        layout.addLayout(bottom)
        self.resize(560, 640)
        self._restore()
        bridge.event_received.connect(self.on_bridge_event_received)

    # --- what is shown ----------------------------------------------------------------------

    def turns(self) -> list[TurnView]:
        """The turns of the live conversation (restored ones included), oldest first."""
        return self.live.turns()

    def notices(self) -> list[str]:
        return self.live.notices()

    def result_turns(self) -> list[TurnView]:
        """The turns the search found, oldest first."""
        return self.results.turns()

    @property
    def searching(self) -> bool:
        return self.stack.currentIndex() == 1

    def clear(self) -> None:
        """Empty the window (the history on disk stays; see :meth:`clear_history`)."""
        self.live.clear()
        self._current = None

    def _add(self, entry: QWidget) -> None:
        dropped = self.live.add(entry)
        if self._current is not None and self._current in dropped:
            self._current = None

    def _new_turn(self, turn_id: int | None, source: str = "voice") -> TurnView:
        view = TurnView(turn_id, source)
        view.resend_requested.connect(self.resend)
        self._add(view)
        return view

    def _turn(self, turn_id: int | None = None) -> TurnView:
        """The view for ``turn_id`` (or the turn in progress); a new one if there is none, as
        when the window opened in the middle of a turn."""
        if turn_id is not None:
            for view in reversed(self.turns()):
                if view.turn_id == turn_id:
                    return view
        if self._current is not None and (turn_id is None or self._current.turn_id is None):
            return self._current
        self._current = self._new_turn(turn_id)
        return self._current

    def _notice(self, text: str) -> None:
        text = plain_words(text)
        self._add(plain_label(f"Note: {text}", style=QUIET_STYLE))
        self.notice_shown.emit(text)

    # --- typing to Hark ---------------------------------------------------------------------

    def focus_request(self) -> None:
        """Put the cursor in the request field (the tray's "Type a request…")."""
        if self.searching:
            self.bar.search_field.clear()
        self.request_field.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.request_field.selectAll()

    def send(self, text: str | None = None) -> None:
        """Send ``text`` (default: what is in the request field) as a typed turn."""
        typed = text is None
        request = " ".join((self.request_field.text() if text is None else text).split())
        if not request:
            return
        if self.services is None:
            self._notice("Typing to Hark works once Hark has started.")
            return
        self.request_field.remember(request)
        if typed:
            self.request_field.clear()
        if self.searching:
            self.bar.search_field.clear()

        def failed(error: BaseException) -> None:
            self._corrections.pop(request, None)
            self._notice(f"Your request was not sent: {error_text(error)}")
            if not self.request_field.text():
                self.request_field.setText(request)  # nothing typed is lost

        services = self.services
        self.bridge.run(lambda: services.ask(request), None, failed)
        self.request_sent.emit(request)

    def on_request_field_return_pressed(self) -> None:
        self.send()

    def resend(self, text: str) -> None:
        """A corrected request from a turn's *Edit*: sent again as a new turn."""
        self._corrections[text] += 1
        self.send(text)

    # --- events -----------------------------------------------------------------------------

    def on_bridge_event_received(self, event: object) -> None:
        match event:
            case TurnStarted(turn_id=turn_id, source=source, text=text):
                self._current = self._new_turn(turn_id, source)
                if text:
                    self._current.set_transcript(text)
                    if self._corrections[text]:
                        self._corrections[text] -= 1
                        self._current.set_caption("corrected")
                self.turn_started.emit(turn_id)
            case TranscriptReady(text=text):
                self._turn().set_transcript(text)
                if text:
                    self.request_field.remember(text)
            case ReplyTextReceived(text=text):
                self._turn().append_reply(text)
            case ToolCallStarted(name=name, arguments=arguments):
                self._turn().tool_started(name, arguments)
            case ToolCallFinished(
                name=name, ok=ok, result=result, arguments=arguments, summary=summary
            ):
                self._turn().tool_finished(name, ok, result, arguments, summary)
            case TurnFailed(turn_id=turn_id, stage=stage, message=message):
                self._turn(turn_id).end(f"Failed ({stage}): {message}")
            case TurnCancelled(turn_id=turn_id, reason=reason):
                self._turn(turn_id).end(f"Stopped: {reason}.")
            case TurnFinished(result=result):
                view = self._turn(result.turn_id)
                view.finish(result)
                if view is self._current:
                    self._current = None
                self._keep(view.record())
                self.turn_finished.emit(result.turn_id)
            case NoticeRaised(message=message):
                self._notice(message)
            case BackendStatusChanged(backend=backend, ok=ok, message=message):
                if not ok:
                    self._down.add(backend)
                    self._notice(f"{backend}: {message}")
                elif backend in self._down:
                    self._down.discard(backend)
                    self._notice(f"{backend} works again.")
            case _:
                pass

    # --- the history ------------------------------------------------------------------------

    def _restore(self) -> None:
        if self.history is None:
            return
        try:
            earlier = self.history.recent(self.live.max_entries)
            self.request_field.set_recall(self.history.requests())
        except HistoryError as exc:
            self._history_failed(exc)
            return
        for record in earlier:
            view = TurnView.from_record(record)
            view.resend_requested.connect(self.resend)
            self.live.add(view)

    def _keep(self, record: TurnRecord) -> None:
        if self.history is None or not (record.request or record.reply):
            return
        try:
            self.history.add(record)
        except HistoryError as exc:
            self._history_failed(exc)

    def _history_failed(self, error: HistoryError) -> None:
        log.warning("%s", error)
        self.history = None  # one note, then this session's turns stay on screen only
        self._notice(f"{error}. This session's conversation is not kept.")

    def on_bar_search_changed(self, words: str) -> None:
        self.search(words)

    def search(self, words: str) -> list[TurnView]:
        """Show the turns holding ``words`` (all the history; without one, those on screen);
        empty words show the conversation again."""
        words = words.strip()
        self.results.clear()
        if not words:
            self.stack.setCurrentIndex(0)
            return []
        if self.history is not None:
            records = self.history.search(words, SEARCH_LIMIT)
        else:
            needle = words.casefold()
            records = [
                r
                for r in (view.record() for view in self.turns())
                if needle in " ".join([r.request, r.reply, *(a.text for a in r.actions)]).casefold()
            ]
        for record in records:
            view = TurnView.from_record(record)
            view.resend_requested.connect(self.resend)
            self.results.add(view)
        found = len(records)
        self.results_label.setText(
            f"Nothing in the conversation matches “{words}”."
            if not found
            else f"{found} turn{'s' if found != 1 else ''} match “{words}”."
        )
        self.stack.setCurrentIndex(1)
        self.searched.emit(found)
        return self.results.turns()

    def clear_history(self) -> None:
        """Delete every turn: on screen, in the search results and on disk."""
        if self.history is not None:
            try:
                self.history.clear()
            except HistoryError as exc:
                self._notice(str(exc))
                return
        self.clear()
        self.bar.search_field.clear()
        self.results.clear()
        self.request_field.set_recall([])
        self.history_cleared.emit()


ConversationWindow = ConversationPane
"""The name the window had before it took requests; kept for existing callers."""
