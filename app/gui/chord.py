"""Hotkey chords and key names, with no Qt and no threads: what the user types, and what
the keys pressed mean.

- :func:`parse_chord` reads a chord in pynput's notation (``<ctrl>+<alt>+space``) into
  normalized key names, with an error that names the bad part.
- :class:`ChordTracker` is a pure state machine: key-down/key-up of normalized names in,
  ``"started"`` / ``"stopped"`` out (hold and toggle modes, auto-repeat ignored).
- :func:`key_name` turns a key as pynput reports it into such a normalized name.

The rules of a chord are in :mod:`app.gui.hotkey`, which runs them.
"""

from __future__ import annotations

import enum
import sys
from dataclasses import dataclass
from typing import Any, Literal

HotkeyMode = Literal["hold", "toggle"]
Transition = Literal["started", "stopped"]

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
