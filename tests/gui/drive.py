"""Driving the desktop app's widgets as the user and the engine do: typing into a field or the
request line, and publishing engine events from the engine thread."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import Qt

from app.core.events import Event
from app.gui.bridge import Bridge, EngineThread
from app.gui.panes.conversation import ConversationPane


def replace_text(qtbot: Any, field: Any, text: str) -> None:
    """Type ``text`` over what ``field`` holds, as a user selecting it all would."""
    field.setFocus()
    field.selectAll()
    qtbot.keyClicks(field, text)


def publish(engine_thread: EngineThread, bridge: Bridge, events: Sequence[Event]) -> None:
    """Emit ``events`` in order from the engine thread, as the pipeline does."""

    def emit_all() -> None:
        for event in events:
            bridge.publish(event)

    engine_thread.call_soon(emit_all)


def type_request(qtbot: Any, pane: ConversationPane, text: str) -> None:
    """Type a request into the conversation's request line and press Enter."""
    pane.request_field.setFocus()
    qtbot.keyClicks(pane.request_field, text)
    qtbot.keyClick(pane.request_field, Qt.Key.Key_Return)
