"""The global push-to-talk hotkey: a key chord that starts and stops talking from any window.

Three layers, so each can be tested alone:

- :mod:`app.gui.chord` reads a chord in pynput's notation (``<ctrl>+<alt>+space``) into
  normalized key names and tracks it with a pure state machine (:class:`ChordTracker`).
- A platform backend reports the chord's keys from outside the app's windows: pynput on X11,
  Windows and macOS (:mod:`app.gui.hotkey_backends`), the desktop portal on Wayland
  (:mod:`app.gui.portal`); :func:`detect_backend` picks the one this desktop allows.
- :class:`Hotkey` (a ``QObject``) runs the backend and turns its key events, which arrive on
  the backend's own thread, into Qt signals on the GUI thread.

Rules of the chord: it fires on the key-down that completes it, in any order, unless another
modifier is held too (so ``<ctrl>+<alt>+space`` stays quiet on ``Ctrl+Alt+Shift+Space``, which
may be another program's shortcut); other, non-modifier keys are ignored. Left and right
modifiers both count for ``<ctrl>``; ``<ctrl_r>`` asks for the right one only. Characters are
matched as typed, so prefer letters, digits, ``space`` or F-keys over shifted symbols (and on
macOS, where Option changes the letter typed, avoid ``<alt>`` with a letter).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from PySide6.QtCore import QObject, Signal

from app.gui.chord import EXAMPLE, ChordError, ChordTracker, HotkeyMode, Transition, parse_chord
from app.gui.hotkey_backends import HotkeyBackend, HotkeyUnavailable, PynputBackend
from app.gui.portal import PortalBackend
from app.settings.schema import TalkSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class HotkeyStatus:
    """What :meth:`Hotkey.start` achieved, for the tray and settings to show."""

    available: bool
    backend: str
    """``x11``, ``windows``, ``macos``, ``portal`` or ``none``."""
    message: str


def detect_backend(
    platform: str = sys.platform, env: Mapping[str, str] | None = None
) -> HotkeyBackend:
    """The backend this desktop allows, or :class:`HotkeyUnavailable` saying why none."""
    env = os.environ if env is None else env
    if platform == "win32":
        return PynputBackend("windows")
    if platform == "darwin":
        return PynputBackend("macos")
    if env.get("XDG_SESSION_TYPE", "").lower() == "wayland" or env.get("WAYLAND_DISPLAY"):
        return PortalBackend(env)
    if not env.get("DISPLAY"):
        raise HotkeyUnavailable(
            "No global hotkey here: there is no X display (DISPLAY is not set). "
            "Use the Talk button in the tray menu instead."
        )
    return PynputBackend("x11")


BackendFactory = Callable[[], HotkeyBackend]


class Hotkey(QObject):
    """The push-to-talk hotkey for the tray app: ``talk_started`` / ``talk_stopped`` on the GUI
    thread, ``failed(message)`` when a running backend breaks.

    Construct with the chord and mode from :class:`~app.settings.schema.TalkSettings`
    (a bad chord is
    reported by :meth:`start`, not raised, so the app still starts); ``backend_factory`` picks
    the platform backend (default :func:`detect_backend`) and lets tests feed keys. Call
    :meth:`stop` before dropping it: a running listener holds on to it.
    """

    talk_started = Signal()
    talk_stopped = Signal()
    failed = Signal(str)
    _key_changed = Signal(int, str, bool)
    _backend_failed = Signal(int, str)

    def __init__(
        self,
        chord: str | None = EXAMPLE,
        mode: HotkeyMode = "hold",
        *,
        backend_factory: BackendFactory | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._factory: BackendFactory = backend_factory or detect_backend
        self._text = (chord or "").strip()
        self._mode: HotkeyMode = mode
        self._backend: HotkeyBackend | None = None
        self._generation = 0
        self._tracker: ChordTracker | None = None
        self._status = HotkeyStatus(False, "none", "The hotkey is not started.")
        self._key_changed.connect(self.on_backend_key_changed)
        self._backend_failed.connect(self.on_backend_failed)

    @classmethod
    def from_settings(
        cls,
        talk: TalkSettings,
        *,
        backend_factory: BackendFactory | None = None,
        parent: QObject | None = None,
    ) -> Hotkey:
        """The hotkey as ``[talk]`` in the settings file asks (``hotkey``, ``hotkey_mode``)."""
        return cls(talk.hotkey, talk.hotkey_mode, backend_factory=backend_factory, parent=parent)

    @property
    def status(self) -> HotkeyStatus:
        return self._status

    @property
    def talking(self) -> bool:
        return self._tracker is not None and self._tracker.talking

    def start(self) -> HotkeyStatus:
        """Listen for the chord (restarting if already listening); says whether it can."""
        self._halt()
        if not self._text:
            return self._set_status(False, "none", "The hotkey is off: set one in Settings.")
        try:
            chord = parse_chord(self._text)
        except ChordError as exc:
            return self._set_status(False, "none", f"The hotkey is not valid: {exc}.")
        self._tracker = ChordTracker(chord, self._mode)
        generation = self._generation
        try:
            backend = self._factory()
            note = backend.start(
                chord,
                lambda name, down: self._key_changed.emit(generation, name, down),
                lambda message: self._backend_failed.emit(generation, message),
            )
        except HotkeyUnavailable as exc:
            self._tracker = None
            log.info("hotkey unavailable: %s", exc)
            return self._set_status(False, "none", str(exc))
        except Exception as exc:  # a broken backend must not stop the app from starting
            self._tracker = None
            log.exception("hotkey backend failed to start")
            return self._set_status(False, "none", f"No global hotkey here: {exc}")
        self._backend = backend
        if self._mode == "hold":
            how = f"Hold {chord.label()} to talk."
        else:
            how = f"Press {chord.label()} to talk, and again to stop."
        log.info("hotkey listening: backend=%s mode=%s", backend.name, self._mode)
        return self._set_status(True, backend.name, f"{how} {note}".strip())

    def stop(self) -> None:
        """Stop listening; a talk in progress ends with ``talk_stopped``."""
        self._halt()
        self._set_status(False, "none", "The hotkey is stopped.")

    def set_chord(self, text: str | None) -> None:
        """Use another chord (restarting if running). A bad one raises :class:`ChordError` and
        keeps the current chord; empty or ``None`` turns the hotkey off."""
        text = (text or "").strip()
        if text:
            parse_chord(text)
        self._text = text
        if self._backend is not None:
            self.start()

    def set_mode(self, mode: HotkeyMode) -> None:
        """Switch between ``hold`` and ``toggle``; a talk in progress ends first."""
        if mode not in ("hold", "toggle"):
            raise ValueError(f"the hotkey mode must be 'hold' or 'toggle', not {mode!r}")
        self._mode = mode
        if self._tracker is not None:
            self._announce(self._tracker.reset())
            self._tracker.mode = mode

    def feed(self, name: str, down: bool) -> None:
        """Report a key as a backend would; safe from any thread (tests, the portal)."""
        self._key_changed.emit(self._generation, name, down)

    def on_backend_key_changed(self, generation: int, name: str, down: bool) -> None:
        if generation != self._generation or self._tracker is None:
            return  # from a backend that has been stopped since
        self._announce(self._tracker.feed(name, down))

    def on_backend_failed(self, generation: int, message: str) -> None:
        if generation != self._generation:
            return
        log.warning("hotkey backend failed: %s", message)
        self._halt()
        self._set_status(False, "none", message)
        self.failed.emit(message)

    def _halt(self) -> None:
        self._generation += 1
        backend, self._backend = self._backend, None
        if backend is not None:
            try:
                backend.stop()
            except Exception:
                log.exception("hotkey: the backend did not stop cleanly")
        if self._tracker is not None:
            self._announce(self._tracker.reset())
            self._tracker = None

    def _announce(self, transition: Transition | None) -> None:
        if transition == "started":
            self.talk_started.emit()
        elif transition == "stopped":
            self.talk_stopped.emit()

    def _set_status(self, available: bool, backend: str, message: str) -> HotkeyStatus:
        self._status = HotkeyStatus(available, backend, message)
        return self._status
