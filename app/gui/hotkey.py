"""The global push-to-talk hotkey: a key chord that starts and stops talking from any window.

Three layers, so each can be tested alone:

- :func:`parse_chord` reads a chord in pynput's notation (``<ctrl>+<alt>+space``) into
  normalized key names, with an error that names the bad part.
- :class:`ChordTracker` is a pure state machine: key-down/key-up of normalized names in,
  ``"started"`` / ``"stopped"`` out (hold and toggle modes, auto-repeat ignored).
- :class:`Hotkey` (a ``QObject``) runs a platform backend — pynput on X11, Windows and macOS,
  the desktop portal on Wayland (:mod:`app.gui.portal`) — and turns its key events, which
  arrive on the backend's own thread, into Qt signals on the GUI thread.

Rules of the chord: it fires on the key-down that completes it, in any order, unless another
modifier is held too (so ``<ctrl>+<alt>+space`` stays quiet on ``Ctrl+Alt+Shift+Space``, which
may be another program's shortcut); other, non-modifier keys are ignored. Left and right
modifiers both count for ``<ctrl>``; ``<ctrl_r>`` asks for the right one only. Characters are
matched as typed, so prefer letters, digits, ``space`` or F-keys over shifted symbols (and on
macOS, where Option changes the letter typed, avoid ``<alt>`` with a letter).
"""

from __future__ import annotations

import enum
import importlib
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from PySide6.QtCore import QObject, Signal

from app.settings.schema import TalkSettings

log = logging.getLogger(__name__)

HotkeyMode = Literal["hold", "toggle"]
Transition = Literal["started", "stopped"]
KeySink = Callable[[str, bool], None]
"""Where a backend reports keys: ``sink(name, down)``; callable from any thread."""

EXAMPLE = "<ctrl>+<alt>+space"
_SIDED = ("ctrl", "alt", "shift", "cmd")
MODIFIERS = frozenset([*_SIDED, "alt_gr"] + [f"{m}_r" for m in _SIDED])
_NAMED = frozenset(
    [*_SIDED, "alt_gr", "backspace", "caps_lock", "delete", "down", "end", "enter", "esc",
     "home", "left", "page_down", "page_up", "right", "space", "tab", "up", "insert", "menu",
     "num_lock", "pause", "print_screen", "scroll_lock", "media_play_pause",
     "media_volume_mute", "media_volume_down", "media_volume_up", "media_previous",
     "media_next"]
    + [f"{m}_r" for m in _SIDED]
    + [f"f{n}" for n in range(1, 21)]
)  # fmt: skip
_ALIASES = {
    "control": "ctrl", "super": "cmd", "win": "cmd", "meta": "cmd", "logo": "cmd",
    "command": "cmd", "option": "alt", "return": "enter", "escape": "esc", "del": "delete",
    "pgup": "page_up", "pgdown": "page_down", "altgr": "alt_gr",
    **{f"{m}_l": m for m in _SIDED},
}  # fmt: skip
_LABEL_ORDER = ("ctrl", "alt", "alt_gr", "shift", "cmd")
_WINDOWS = sys.platform == "win32"
_CHARS = {" ": "space", "\t": "tab", "\n": "enter", "\r": "enter"}


class ChordError(ValueError):
    """A chord that cannot be read; the message names the bad part and shows an example."""


@dataclass(frozen=True, slots=True)
class Chord:
    """A parsed chord: the normalized key names, and the text as the user wrote it."""

    keys: frozenset[str]
    text: str

    def label(self) -> str:
        """The chord for people: ``Ctrl+Alt+Space`` (modifiers first)."""
        rank = {m: i for i, m in enumerate(_LABEL_ORDER)}
        order = sorted(self.keys, key=lambda k: (rank.get(k.removesuffix("_r"), 9), k))
        return "+".join(_key_label(k) for k in order)


def _key_label(key: str) -> str:
    if len(key) == 1:
        return key.upper()
    if key.endswith("_r") and key[:-2] in _SIDED:
        return f"Right {key[:-2].title()}"
    if key.startswith("vk:"):
        return f"Key {key[3:]}"
    return key.replace("_", " ").title()


@dataclass(frozen=True, slots=True)
class HotkeyStatus:
    """What :meth:`Hotkey.start` achieved, for the tray and settings to show."""

    available: bool
    backend: str
    """``x11``, ``windows``, ``macos``, ``portal`` or ``none``."""
    message: str


def _split(text: str) -> list[str]:
    """pynput's split: ``+`` separates keys, but a ``+`` where a key starts is the key."""
    parts: list[str] = []
    start = 0
    for i, char in enumerate(text):
        if char == "+" and i != start:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


def _parse_part(part: str) -> str:
    if len(part) == 1:
        return _CHARS.get(part, part.lower())
    if not part.strip():
        raise ChordError(f"a key is missing between the '+' signs; for example {EXAMPLE}")
    bracketed = part.startswith("<") and part.endswith(">") and len(part) > 2
    name = (part[1:-1] if bracketed else part).strip().lower()
    name = _ALIASES.get(name, name)
    if name in _NAMED:
        return name
    if bracketed and name.isdigit():
        return f"vk:{int(name)}"
    raise ChordError(f"'{part}' is not a key Hark knows; for example {EXAMPLE}, <f9> or <cmd>+h")


def parse_chord(text: str) -> Chord:
    """Read a chord in pynput's notation (``<ctrl>+<alt>+space``; brackets optional for named
    keys) so a typo is caught when it is typed, not when the hotkey silently never fires."""
    stripped = text.strip()
    if not stripped:
        raise ChordError(f"the hotkey is empty; for example {EXAMPLE}")
    if stripped.endswith("+") and not stripped.endswith("++") and stripped != "+":
        raise ChordError(f"'{stripped}' ends with '+': add the last key, e.g. {EXAMPLE}")
    keys: list[str] = []
    for part in _split(stripped):
        name = _parse_part(part)
        if name in keys:
            raise ChordError(f"'{part}' appears twice in '{stripped}'; for example {EXAMPLE}")
        keys.append(name)
    return Chord(frozenset(keys), stripped)


class ChordTracker:
    """Key-downs and key-ups in, talk transitions out; no Qt, no threads, no clock.

    Hold: the completing key-down starts, releasing any chord key stops. Toggle: each
    completion flips. A key-down for a key already down is auto-repeat and changes nothing.
    """

    def __init__(self, chord: Chord, mode: HotkeyMode = "hold") -> None:
        self.chord = chord
        self.mode: HotkeyMode = mode
        self.talking = False
        self._down: set[str] = set()

    def feed(self, name: str, down: bool) -> Transition | None:
        """One key event; returns the transition it causes, if any."""
        return self.press(name) if down else self.release(name)

    def press(self, name: str) -> Transition | None:
        if name in self._down:
            return None  # auto-repeat
        self._down.add(name)
        keys = self.chord.keys
        if name not in keys or not keys <= self._down or (self._down & MODIFIERS) - keys:
            return None
        if self.mode == "toggle" and self.talking:
            self.talking = False
            return "stopped"
        if self.talking:
            return None
        self.talking = True
        return "started"

    def release(self, name: str) -> Transition | None:
        if name not in self._down:
            return None  # pressed before we listened, or never seen
        self._down.discard(name)
        if self.mode == "hold" and self.talking and name in self.chord.keys:
            self.talking = False
            return "stopped"
        return None

    def reset(self) -> Transition | None:
        """Forget every key (after a restart or a change); ends a talk in progress."""
        self._down.clear()
        if self.talking:
            self.talking = False
            return "stopped"
        return None


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


def key_name(key: Any, wanted: frozenset[str] = frozenset()) -> str | None:
    """A pynput key as a normalized name: the most specific form the chord asks for
    (``ctrl_r``, ``vk:65``), else the general one (``ctrl``, ``a``)."""
    if key is None:
        return None
    candidates: list[str] = []
    if isinstance(key, enum.Enum):
        name = str(key.name)
        base = name[:-2] if name.endswith(("_l", "_r")) and name[:-2] in _SIDED else name
        candidates += [base, name]
        key = key.value
    char = getattr(key, "char", None)
    vk = getattr(key, "vk", None)
    if not candidates and isinstance(char, str) and char:
        typed = _CHARS.get(char) or (char.lower() if char.isprintable() else "")
        if typed:
            candidates.append(typed)
    if _WINDOWS and isinstance(vk, int) and (0x30 <= vk <= 0x39 or 0x41 <= vk <= 0x5A):
        candidates.append(chr(vk).lower())  # Windows reports Ctrl+H as the character '\x08'
    if isinstance(vk, int):
        candidates.append(f"vk:{vk}")
    specific = [c for c in reversed(candidates) if c in wanted]
    return specific[0] if specific else (candidates[0] if candidates else None)


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
        from app.gui.portal import PortalBackend

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
