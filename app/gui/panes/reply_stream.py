"""The reply of one assistant turn as the model writes it, for a pane that asked for it.

A pane that starts a turn (the inbox's Summarize) knows only the request it sent; the engine's
events say which turn that became (``TurnStarted`` carries the request as shown) and bring the
reply piece by piece (``ReplyTextReceived``). Only one turn runs at a time, so the pieces that
follow the turn's start and precede its end are its reply.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from app.core.events import ReplyTextReceived, TurnFinished, TurnStarted
from app.gui.bridge import Bridge


class ReplyStream(QObject):
    """Follows the turn started with a given request; ``grew`` carries its reply so far."""

    grew = Signal(str)

    def __init__(self, bridge: Bridge, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._request: str | None = None
        self._turn: int | None = None
        self._text = ""
        bridge.event_received.connect(self.on_bridge_event_received)

    def follow(self, request: str) -> None:
        """Watch for the turn whose request (as shown) is ``request``."""
        self._request, self._turn, self._text = request, None, ""

    def stop(self) -> None:
        self._request = None
        self._turn = None

    def on_bridge_event_received(self, event: object) -> None:
        if self._request is None:
            return
        match event:
            case TurnStarted(turn_id=turn_id, text=text) if self._turn is None:
                if text == self._request:
                    self._turn = turn_id
            case ReplyTextReceived(text=piece) if self._turn is not None:
                self._text += piece
                self.grew.emit(self._text)
            case TurnFinished(result=result) if result.turn_id == self._turn:
                self.stop()
            case _:
                pass
