"""What a hotkey backend is, and pynput's: the global keyboard listener on X11, Windows and
macOS. The Wayland backend, through the desktop portal, is in :mod:`app.gui.portal`.

A backend reports the keys of a chord, pressed in any window, from a thread of its own;
:class:`app.gui.hotkey.Hotkey` turns them into Qt signals on the GUI thread.
"""

from __future__ import annotations

import importlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from app.gui.chord import Chord, key_name

log = logging.getLogger(__name__)

KeySink = Callable[[str, bool], None]
"""Where a backend reports keys: ``sink(name, down)``; callable from any thread."""


class HotkeyUnavailable(Exception):
    """A backend cannot run here; the message says why and what to do instead."""


class HotkeyBackend(Protocol):
    """Something that reports the keys of a chord from outside the app's windows."""

    name: str

    def start(self, chord: Chord, sink: KeySink, on_error: Callable[[str], None]) -> str:
        """Begin reporting keys to ``sink`` (any thread) and return a note for the status
        (or ``""``); raise :class:`HotkeyUnavailable` saying why it cannot."""
        ...

    def stop(self) -> None: ...


class PynputBackend:
    """pynput's global keyboard listener: X11, Windows and macOS (not Wayland)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._listener: Any = None

    def start(self, chord: Chord, sink: KeySink, on_error: Callable[[str], None]) -> str:
        try:
            keyboard: Any = importlib.import_module("pynput.keyboard")
        except Exception as exc:  # pynput raises ImportError, Xlib others
            raise HotkeyUnavailable(f"No global hotkey here: {_why(exc)}.") from exc

        def report(key: Any, down: bool) -> None:
            try:
                name = key_name(key, chord.keys)
                if name is not None:
                    sink(name, down)
            except Exception:  # an exception would stop pynput's listener for good
                log.exception("hotkey: a key event could not be handled")

        listener = keyboard.Listener(
            on_press=lambda key, injected=False: report(key, True),
            on_release=lambda key, injected=False: report(key, False),
        )
        listener.start()
        if not _wait_ready(listener, timeout_s=5.0):
            listener.stop()
            raise HotkeyUnavailable("No global hotkey here: the keyboard listener did not start.")
        if getattr(listener, "IS_TRUSTED", True) is False:
            listener.stop()
            raise HotkeyUnavailable(
                "macOS blocks the hotkey: allow Hark in System Settings → Privacy & Security → "
                "Accessibility and Input Monitoring, then restart it."
            )
        self._listener = listener
        return ""

    def stop(self) -> None:
        """Ask the listener to stop, without waiting for its thread: on X11 it ends only once
        the X server sends it another event (often the next key press), which held Quit for
        seconds. The thread is a daemon, and the keys of a stopped listener are ignored."""
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.stop()


def _why(exc: Exception) -> str:
    """pynput's import error in a few words (its own text is a paragraph)."""
    text = str(exc).split("\n")[0].removeprefix("this platform is not supported:").strip()
    if "X connection" in text or "display" in text.lower():
        return "Hark cannot connect to the X display"
    return f"the keyboard listener cannot load ({text or type(exc).__name__})"


def _wait_ready(listener: Any, timeout_s: float) -> bool:
    """pynput's ``wait()`` blocks forever when the listener dies before it is ready."""
    deadline = time.monotonic() + timeout_s
    condition: threading.Condition = listener._condition
    with condition:
        while not listener._ready:
            if not listener.is_alive() and listener.ident is not None:
                return False
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            condition.wait(timeout=min(left, 0.05))
    return True
