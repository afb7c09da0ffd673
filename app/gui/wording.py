"""The engine's messages in the words of the desktop app's user.

Errors and notices are written once for the terminal and the window alike, so they carry
Markdown backticks, setting names (``google.mail``, ``policy.tools.mail_send = deny``),
environment variables and, now and then, an exception's class name. The window shows them
through :func:`plain_words`: no backticks, the Settings page instead of a setting's name, no
class names. :func:`hotkey_words` turns ``<ctrl>+<alt>+<space>`` into "Ctrl+Alt+Space".
No Qt here: plain functions, checked without a window.
"""

from __future__ import annotations

import re

from app.core.wording import ACTION_WORDS
from app.settings.schema import Settings

SETTINGS_PAGES = {
    "audio": "Audio",
    "talk": "Talking",
    "asr": "Speech recognition",
    "llm": "Language model",
    "remote": "Server",
    "tts": "Voice",
    "google": "Google",
    "policy": "Permissions",
}
"""Where each settings section is changed in Settings…"""
_SECTIONS = "|".join(SETTINGS_PAGES)


def _setting_names() -> str:
    """``audio.input_device|…``: every real setting, so that ``google.com`` stays as it is."""
    names = []
    for section, info in Settings.model_fields.items():
        fields = getattr(info.annotation, "model_fields", {})
        names += [f"{section}\\.{name}" for name in fields]
    return "|".join(sorted(names, key=len, reverse=True))


_SETTING = re.compile(
    rf"\b(?=(?:{_setting_names()})\b)({_SECTIONS})\.[a-z_]+(?:\.[a-z_]+)?"
    rf"(?:\s*=\s*[\w\"'.-]+)?"
)
_ENV = re.compile(rf"\bHARK_({'|'.join(s.upper() for s in SETTINGS_PAGES)})__[A-Z_]+\b")
_OR_ENV = re.compile(r"\s*\(or [A-Z][A-Z0-9_]+\)")
_SET = re.compile(
    rf"\bset (?:HARK_({_SECTIONS.upper()})__[A-Z_]+|(?=(?:{_setting_names()})\b)({_SECTIONS})"
    rf"\.[a-z_.]+) to\b"
)
_RATE = re.compile(r"\braise policy\.rate_limits\.[a-z_]+")
_TOOL = re.compile(rf"\b({'|'.join(ACTION_WORDS)})\b")
_EXCEPTION = re.compile(r"\s*\((?:[A-Za-z_.]+\.)?[A-Z]\w*(?:Error|Exception|Exit)\b(?:\(.*?\))?\)")
_KEYS = {
    "ctrl": "Ctrl",
    "control": "Ctrl",
    "alt": "Alt",
    "alt_gr": "AltGr",
    "shift": "Shift",
    "cmd": "Cmd",
    "super": "Super",
    "meta": "Meta",
    "win": "Win",
    "space": "Space",
    "enter": "Enter",
    "return": "Enter",
    "esc": "Esc",
    "escape": "Esc",
    "tab": "Tab",
    "backspace": "Backspace",
    "delete": "Delete",
    "insert": "Insert",
    "home": "Home",
    "end": "End",
    "page_up": "Page Up",
    "page_down": "Page Down",
    "up": "Up",
    "down": "Down",
    "left": "Left",
    "right": "Right",
    "pause": "Pause",
    "print_screen": "Print Screen",
    "menu": "Menu",
}


def settings_page(section: str) -> str:
    """ "Settings ▸ Google" for ``google`` (or just "Settings" for a section it does not know)."""
    page = SETTINGS_PAGES.get(section.lower())
    return f"Settings ▸ {page}" if page else "Settings"


def plain_words(text: str) -> str:
    """``text`` as the window shows it: no Markdown backticks, Settings pages instead of
    setting names and environment variables, no exception class names."""
    text = text.replace("`", "")
    text = _EXCEPTION.sub("", text)
    text = _OR_ENV.sub("", text)
    text = _RATE.sub("raise its hourly limit in the settings file", text)
    text = _SET.sub(lambda m: f"change it in {settings_page(m.group(1) or m.group(2))} to", text)
    text = _SETTING.sub(lambda m: settings_page(m.group(1)), text)
    text = _ENV.sub(lambda m: settings_page(m.group(1)), text)
    text = re.sub(r"\bno tool named '(\w+)'", r"\1 is not available right now", text)
    text = _TOOL.sub(lambda m: f"“{ACTION_WORDS[m.group(1)]}”", text)
    text = re.sub(r"\((Settings ▸ [\w ]+)\)", r"(see \1)", text)
    return re.sub(r"[ \t]{2,}", " ", text).strip()


def hotkey_words(spec: str | None) -> str:
    """``<ctrl>+<alt>+<space>`` (pynput's notation) as "Ctrl+Alt+Space"; already readable
    text passes unchanged (no hotkey: empty)."""
    spec = spec or ""
    parts = [p for p in re.split(r"\+(?=.)", spec.strip()) if p]
    if not parts:
        return spec
    shown = []
    for part in parts:
        key = part.strip().strip("<>").lower()
        if key in _KEYS:
            shown.append(_KEYS[key])
        elif len(key) == 1 or re.fullmatch(r"f\d{1,2}", key):
            shown.append(key.upper())
        else:
            shown.append(key.replace("_", " ").title())
    return "+".join(shown)


def user_message(error: BaseException, what: str = "That") -> str:
    """What went wrong, in words for the user: Hark's own message, or the error's text, never
    just the class name of an exception (``what`` names the action when nothing says more)."""
    message = getattr(error, "message", None)
    if isinstance(message, str) and message:
        return message
    if isinstance(error, TimeoutError):
        return f"{what} took too long. Try again in a moment."
    if isinstance(error, OSError) and error.strerror:
        return str(error.strerror)
    return str(error) or f"{what} did not work, and nothing said why. Try again."
