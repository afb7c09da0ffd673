"""The states every pane shows instead of freezing: loading, empty, not connected, error.

A pane's content is only worth showing once its data is there. Until then (and whenever the
data cannot come) the pane shows a :class:`StatusView`: one short line saying what is going on
and, where the user can do something about it, the button that does it ("Connect Google",
"Try again"). :class:`GooglePane` is the shared skeleton of the calendar and inbox panes: it
loads through :meth:`~app.gui.bridge.Bridge.run` (never on the GUI thread), picks the state
from the answer, and runs the Google sign-in when asked.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Sequence
from enum import StrEnum
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from app.gui.bridge import Bridge, while_alive
from app.gui.services import NOT_CONNECTED, Services
from app.gui.wording import plain_words
from app.shared.errors import HarkError

log = logging.getLogger(__name__)

NOT_CONNECTED_TEXT = "Google is not connected. Connect your account to see it here."
SIGNING_IN_TEXT = "Finish signing in to Google in your browser…"


class PaneState(StrEnum):
    """What a pane is showing."""

    LOADING = "loading"
    EMPTY = "empty"
    NOT_CONNECTED = "not-connected"
    ERROR = "error"
    READY = "ready"


def error_text(error: BaseException) -> str:
    """What to tell the user about a failure: a Hark error's own message (it already says what
    to do), in the window's words; anything else is a bug or a surprise, so a short line
    points at the log (where the error itself is)."""
    if isinstance(error, HarkError):
        return plain_words(error.message)
    return "Something went wrong. Try again; the log has the details."


def is_not_connected(error: BaseException) -> bool:
    """The failure means there is no usable Google sign-in (show "Connect Google")."""
    return isinstance(error, HarkError) and error.code == NOT_CONNECTED


class StatusView(QWidget):
    """One centred message with the button that helps, if any."""

    connect_requested = Signal()
    retry_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._state = PaneState.LOADING
        self.message_label = QLabel()
        self.message_label.setWordWrap(True)
        self.message_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message_label.setAccessibleName("Status")
        self.connect_button = QPushButton("Connect Google")
        self.connect_button.setAccessibleName("Connect Google")
        self.connect_button.clicked.connect(self.connect_requested)
        self.retry_button = QPushButton("Try again")
        self.retry_button.setAccessibleName("Try again")
        self.retry_button.clicked.connect(self.retry_requested)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.connect_button)
        buttons.addWidget(self.retry_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addStretch(1)
        layout.addWidget(self.message_label)
        layout.addLayout(buttons)
        layout.addStretch(2)
        self.show_loading()

    @property
    def state(self) -> PaneState:
        return self._state

    @property
    def message(self) -> str:
        return self.message_label.text()

    def _show(self, state: PaneState, text: str, *, connect: bool, retry: bool) -> None:
        self._state = state
        self.message_label.setText(text)
        self.connect_button.setVisible(connect)
        self.retry_button.setVisible(retry)

    def show_loading(self, text: str = "Loading…") -> None:
        self._show(PaneState.LOADING, text, connect=False, retry=False)

    def show_empty(self, text: str) -> None:
        self._show(PaneState.EMPTY, text, connect=False, retry=False)

    def show_not_connected(self, text: str = NOT_CONNECTED_TEXT) -> None:
        self._show(PaneState.NOT_CONNECTED, text, connect=True, retry=False)

    def show_error(self, text: str) -> None:
        self._show(PaneState.ERROR, text, connect=False, retry=True)


class GooglePane(QWidget):
    """A pane whose content comes from Google: the state page, the content page, and the load
    and sign-in flows they share. Subclasses say how to fetch and how to show the result."""

    loaded = Signal(int)
    """The content was shown: how many items it holds (0 when the empty state is shown)."""
    failed = Signal(str)
    """Loading failed (or there is no sign-in): the message the pane shows."""
    connect_finished = Signal(bool)
    """The Google sign-in started from this pane ended (True: connected)."""

    def __init__(self, services: Services, bridge: Bridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.services = services
        self.bridge = bridge
        self._generation = 0
        self.status = StatusView()
        self.status.connect_requested.connect(self.on_status_connect_requested)
        self.status.retry_requested.connect(self.on_status_retry_requested)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.status)

    # --- for subclasses ---------------------------------------------------------------------

    def set_content(self, content: QWidget) -> None:
        """The page shown once data is there (call once, from the subclass's constructor)."""
        self.stack.addWidget(content)

    def empty_message(self) -> str:
        """What the empty state says (it should say what "empty" means here)."""
        return "Nothing here."

    def loading_message(self) -> str:
        return "Loading…"

    def fetch(self) -> Awaitable[Sequence[Any]]:
        """The coroutine that loads the items: made on the GUI thread (so it captures the
        pane's choices as they are now), awaited on the engine loop."""
        raise NotImplementedError

    def populate(self, items: Sequence[Any]) -> None:
        """Show ``items`` (never empty) on the content page."""
        raise NotImplementedError

    # --- state ------------------------------------------------------------------------------

    @property
    def state(self) -> PaneState:
        if self.stack.currentIndex() == 1:
            return PaneState.READY
        return self.status.state

    def reload(self) -> None:
        """Load again; an answer to an older load that arrives later is dropped."""
        self._generation += 1
        generation = self._generation
        if not self.services.google_connected():
            self._not_connected(NOT_CONNECTED_TEXT)
            return
        self.status.show_loading(self.loading_message())
        self.stack.setCurrentIndex(0)

        def done(items: Sequence[Any]) -> None:
            if generation == self._generation:
                self._show_items(items)

        def broken(error: BaseException) -> None:
            if generation == self._generation:
                self._show_error(error)

        self.bridge.run(self.fetch(), while_alive(self, done), while_alive(self, broken))

    def _show_items(self, items: Sequence[Any]) -> None:
        if not items:
            self.status.show_empty(self.empty_message())
            self.stack.setCurrentIndex(0)
        else:
            self.populate(items)
            self.stack.setCurrentIndex(1)
        self.loaded.emit(len(items))

    def _show_error(self, error: BaseException) -> None:
        if is_not_connected(error):
            self._not_connected(error_text(error))
            return
        if not isinstance(error, HarkError):
            log.warning("loading %s failed: %r", type(self).__name__, error)
        text = error_text(error)
        self.status.show_error(text)
        self.stack.setCurrentIndex(0)
        self.failed.emit(text)

    def _not_connected(self, text: str) -> None:
        self.status.show_not_connected(text)
        self.stack.setCurrentIndex(0)
        self.failed.emit(text)

    # --- sign-in ----------------------------------------------------------------------------

    def connect_google(self) -> None:
        """Run the Google sign-in (the browser opens); reload when it worked."""
        self._generation += 1
        self.status.show_loading(SIGNING_IN_TEXT)
        self.stack.setCurrentIndex(0)
        self.bridge.run(
            self.services.connect_google,
            while_alive(self, self._on_connected),
            while_alive(self, self._on_connect_failed),
        )

    def _on_connected(self, status: Any) -> None:
        connected = bool(getattr(status, "connected", False))
        self.connect_finished.emit(connected)
        if connected:
            self.reload()
        else:
            self._not_connected("Google did not connect. Try again.")

    def _on_connect_failed(self, error: BaseException) -> None:
        self.connect_finished.emit(False)
        text = error_text(error)
        self.status.show_not_connected(f"Google did not connect: {text}")
        self.stack.setCurrentIndex(0)
        self.failed.emit(text)

    def on_status_connect_requested(self) -> None:
        self.connect_google()

    def on_status_retry_requested(self) -> None:
        self.reload()
