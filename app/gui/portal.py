"""The push-to-talk hotkey on Wayland, through the desktop portal's global shortcuts.

Wayland lets no program read the keyboard of other windows, so pynput cannot work there. The
portal (``org.freedesktop.portal.GlobalShortcuts`` on the session bus) lets an app register a
shortcut that the desktop itself watches; the desktop may show a dialog where the user
confirms or changes the keys, and then reports ``Activated`` (press) and ``Deactivated``
(release), so both hold and toggle work. GNOME has the portal from version 48, KDE Plasma from
5.27, Hyprland through its own portal; wlroots desktops such as Sway have none.

D-Bus is spoken with jeepney (pure Python, already present wherever keyring runs on Linux) on a
thread of its own; key events go to the same sink as pynput's, from that thread.
"""

from __future__ import annotations

import importlib
import logging
import secrets
import threading
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from app.gui.chord import Chord
from app.gui.hotkey_backends import HotkeyUnavailable, KeySink

log = logging.getLogger(__name__)

PORTAL = "org.freedesktop.portal.Desktop"
PORTAL_PATH = "/org/freedesktop/portal/desktop"
SHORTCUTS = "org.freedesktop.portal.GlobalShortcuts"
REQUEST = "org.freedesktop.portal.Request"
SESSION = "org.freedesktop.portal.Session"
SHORTCUT_ID = "talk"

_INSTEAD = "Use the Talk button in the tray menu instead."
NO_SHORTCUTS = (
    "No global hotkey on this Wayland desktop: its portal has no global shortcuts (GNOME has "
    "them from version 48, KDE Plasma from 5.27; Sway and other wlroots desktops have none). "
    + _INSTEAD
)


def _no_portal(why: str = "none is running") -> str:
    return f"No global hotkey here: Wayland needs the desktop portal, and {why}. {_INSTEAD}"


_MODIFIERS = {"ctrl": "CTRL", "alt": "ALT", "shift": "SHIFT", "cmd": "LOGO"}
_KEYSYMS = {
    "space": "space", "enter": "Return", "esc": "Escape", "tab": "Tab", "backspace": "BackSpace",
    "delete": "Delete", "insert": "Insert", "home": "Home", "end": "End", "page_up": "Page_Up",
    "page_down": "Page_Down", "up": "Up", "down": "Down", "left": "Left", "right": "Right",
    "pause": "Pause", "menu": "Menu", "print_screen": "Print", "scroll_lock": "Scroll_Lock",
}  # fmt: skip


class _Stopped(Exception):
    """The backend was stopped while the portal thread waited."""


def xdg_trigger(chord: Chord) -> str | None:
    """The chord in the XDG shortcuts notation the portal takes (``CTRL+ALT+space``), or
    ``None`` when it has no such form (the desktop then asks the user for keys)."""
    modifiers: list[str] = []
    keys: list[str] = []
    for key in sorted(chord.keys):
        base = key.removesuffix("_r")
        if base in _MODIFIERS:
            modifiers.append(_MODIFIERS[base])
        elif key in _KEYSYMS:
            keys.append(_KEYSYMS[key])
        elif len(key) == 1 and key.isalnum():
            keys.append(key)
        elif key[:1] == "f" and key[1:].isdigit():
            keys.append(key.upper())
        else:
            return None
    if len(keys) > 1:
        return None
    order = ["CTRL", "ALT", "SHIFT", "LOGO"]
    return "+".join(sorted(set(modifiers), key=order.index) + keys)


class PortalBackend:
    """The hotkey as a portal global shortcut; ``start`` checks the portal synchronously, the
    session and the binding (which may wait for the user) run on the backend's thread."""

    name = "portal"

    def __init__(self, env: Mapping[str, str], *, timeout_s: float = 3.0) -> None:
        self._env = env
        self._timeout_s = timeout_s
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, chord: Chord, sink: KeySink, on_error: Callable[[str], None]) -> str:
        try:
            blocking: Any = importlib.import_module("jeepney.io.blocking")
        except ImportError as exc:
            raise HotkeyUnavailable(_no_portal("the package 'jeepney' is missing")) from exc
        address = self._env.get("DBUS_SESSION_BUS_ADDRESS")
        if not address:
            raise HotkeyUnavailable(_no_portal("there is no D-Bus session bus"))
        try:
            conn = blocking.open_dbus_connection(address)
        except (OSError, ValueError) as exc:
            log.info("the session bus did not answer: %s", exc)
            raise HotkeyUnavailable(_no_portal()) from exc
        try:
            self._check_version(conn)
        except BaseException:
            conn.close()
            raise
        self._stopping.clear()
        self._thread = threading.Thread(
            target=self._run, args=(conn, chord, sink, on_error), name="hark-hotkey", daemon=True
        )
        self._thread.start()
        return "Your desktop may ask you once to confirm the keys."

    def stop(self) -> None:
        self._stopping.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=2.0)

    def _check_version(self, conn: Any) -> None:
        jeepney: Any = importlib.import_module("jeepney")
        call = jeepney.new_method_call(
            jeepney.DBusAddress(PORTAL_PATH, PORTAL, "org.freedesktop.DBus.Properties"),
            "Get",
            "ss",
            (SHORTCUTS, "version"),
        )
        try:
            reply = conn.send_and_get_reply(call, timeout=self._timeout_s)
        except TimeoutError as exc:
            raise HotkeyUnavailable(_no_portal()) from exc
        if reply.header.message_type == jeepney.MessageType.error:
            error = str(reply.header.fields.get(jeepney.HeaderFields.error_name, ""))
            log.info("no global shortcuts portal: %s", error)
            if error.endswith(("ServiceUnknown", "NameHasNoOwner", "Spawn.ChildExited")):
                raise HotkeyUnavailable(_no_portal())
            raise HotkeyUnavailable(NO_SHORTCUTS)
        log.info("global shortcuts portal version %s", reply.body[0][1])

    def _run(self, conn: Any, chord: Chord, sink: KeySink, on_error: Callable[[str], None]) -> None:
        session: str | None = None
        try:
            with _Portal(conn, self._stopping) as portal:
                session = portal.create_session()
                trigger = portal.bind(session, xdg_trigger(chord))
                log.info("hotkey bound by the portal: %s", trigger or "no keys yet")
                portal.listen(session, chord, sink)
        except _Stopped:
            pass
        except PortalRefused as exc:
            on_error(str(exc))
        except Exception as exc:  # a thread of its own: report, never die silently
            if not self._stopping.is_set():
                log.warning("the portal connection broke: %r", exc)
                on_error("The desktop portal stopped answering, so the hotkey is off. " + _INSTEAD)
        finally:
            conn.close()


class PortalRefused(Exception):
    """The portal answered a request with a refusal (user cancelled, or it failed)."""


class _Portal:
    """The request/response dance of the portal on one connection, interruptible by a flag."""

    def __init__(self, conn: Any, stopping: threading.Event) -> None:
        self.jeepney: Any = importlib.import_module("jeepney")
        self.conn = conn
        self.stopping = stopping
        self.responses: deque[Any] = deque()
        self.shortcuts: deque[Any] = deque()
        self._filters: list[Any] = []
        self._session: str | None = None

    def __enter__(self) -> _Portal:
        j = self.jeepney
        for member_of, queue in ((REQUEST, self.responses), (SHORTCUTS, self.shortcuts)):
            rule = j.MatchRule(type="signal", sender=PORTAL, interface=member_of)
            self.conn.bus_proxy.AddMatch(rule)
            local = j.MatchRule(type="signal", interface=member_of)  # senders are unique names
            self._filters.append(self.conn.filter(local, queue=queue))  # active until closed
        return self

    def __exit__(self, *exc: object) -> None:
        if self._session is not None:
            try:
                address = self.jeepney.DBusAddress(self._session, PORTAL, SESSION)
                self.conn.send(self.jeepney.new_method_call(address, "Close"))
            except OSError:
                pass
        for handle in self._filters:
            handle.close()

    def _call(self, method: str, signature: str, body: tuple[Any, ...]) -> dict[str, Any]:
        """Call a portal method that answers through a Request's ``Response`` signal."""
        j = self.jeepney
        address = j.DBusAddress(PORTAL_PATH, PORTAL, SHORTCUTS)
        reply = self.conn.send_and_get_reply(j.new_method_call(address, method, signature, body))
        if reply.header.message_type == j.MessageType.error:
            raise PortalRefused(f"The desktop portal refused the hotkey ({method}). {_INSTEAD}")
        handle = reply.body[0]
        while True:
            message = self._next(self.responses)
            if message.header.fields.get(j.HeaderFields.path) != handle:
                continue
            code, results = message.body
            if code == 0:
                return dict(results)
            what = "you cancelled it" if code == 1 else "the desktop could not set it up"
            raise PortalRefused(f"No global hotkey: {what}. {_INSTEAD}")

    def _next(self, queue: deque[Any]) -> Any:
        while not queue:
            if self.stopping.is_set():
                raise _Stopped
            try:
                self.conn.recv_messages(timeout=0.2)
            except TimeoutError:
                continue
        return queue.popleft()

    def create_session(self) -> str:
        options = {"handle_token": ("s", _token()), "session_handle_token": ("s", _token())}
        results = self._call("CreateSession", "a{sv}", (options,))
        self._session = str(results["session_handle"][1])
        return self._session

    def bind(self, session: str, trigger: str | None) -> str:
        """Register the talk shortcut; returns how the desktop says to trigger it."""
        info: dict[str, Any] = {"description": ("s", "Talk to Hark")}
        if trigger:
            info["preferred_trigger"] = ("s", trigger)
        body = (session, [(SHORTCUT_ID, info)], "", {"handle_token": ("s", _token())})
        results = self._call("BindShortcuts", "oa(sa{sv})sa{sv}", body)
        for shortcut_id, details in results.get("shortcuts", ("", []))[1]:
            if shortcut_id == SHORTCUT_ID and "trigger_description" in details:
                return str(details["trigger_description"][1])
        return ""

    def listen(self, session: str, chord: Chord, sink: KeySink) -> None:
        """Forever: ``Activated`` presses every key of the chord, ``Deactivated`` releases."""
        member = self.jeepney.HeaderFields.member
        while True:
            message = self._next(self.shortcuts)
            name = message.header.fields.get(member)
            if name not in ("Activated", "Deactivated") or message.body[:2] != (
                session,
                SHORTCUT_ID,
            ):
                continue
            for key in sorted(chord.keys):
                sink(key, name == "Activated")


def _token() -> str:
    return f"hark_{secrets.token_hex(6)}"
