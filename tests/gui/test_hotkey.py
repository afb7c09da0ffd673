"""The push-to-talk hotkey: chord parsing, the state machine, the Qt object fed from a real
thread, backend choice, and one run of the real pynput listener under Xvfb driven by xdotool."""

from __future__ import annotations

import enum
import os
import queue
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from app.gui.chord import Chord, ChordError, ChordTracker, HotkeyMode, key_name, parse_chord
from app.gui.hotkey import Hotkey, detect_backend
from app.gui.hotkey_backends import HotkeyBackend, HotkeyUnavailable, KeySink, PynputBackend
from app.gui.portal import PortalBackend, xdg_trigger
from app.settings.schema import TalkSettings


def chord(text: str) -> frozenset[str]:
    return parse_chord(text).keys


# --- parsing -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "keys"),
    [
        ("<ctrl>+<alt>+space", {"ctrl", "alt", "space"}),
        ("<ctrl>+<alt>+<space>", {"ctrl", "alt", "space"}),
        ("ctrl+shift+H", {"ctrl", "shift", "h"}),
        ("<f9>", {"f9"}),
        ("<super>+<ctrl_l>+a", {"cmd", "ctrl", "a"}),
        ("<ctrl_r>", {"ctrl_r"}),
        ("<ctrl>++", {"ctrl", "+"}),
        ("<cmd>+<65>", {"cmd", "vk:65"}),
        ("  <alt>+x  ", {"alt", "x"}),
    ],
)
def test_chords_parse_to_normalized_names(text: str, keys: set[str]) -> None:
    assert parse_chord(text).keys == frozenset(keys)


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("<ctrl>+<alt>+spcae", "'spcae'"),
        ("<ctrl>+<hyper>", "'<hyper>'"),
        ("<ctrl>+<alt>+", "ends with '+'"),
        ("<ctrl>+<ctrl>+a", "'<ctrl>' appears twice"),
        ("   ", "empty"),
        ("<ctrl>+  +a", "missing"),
    ],
)
def test_a_bad_chord_names_the_bad_part_and_shows_an_example(text: str, named: str) -> None:
    with pytest.raises(ChordError) as caught:
        parse_chord(text)
    assert named in str(caught.value)
    assert "<ctrl>+<alt>+space" in str(caught.value)


def test_the_label_puts_modifiers_first() -> None:
    assert parse_chord("space+<ctrl>").label() == "Ctrl+Space"
    assert parse_chord("page_up+<cmd>+<alt>+<ctrl_r>").label() == "Right Ctrl+Alt+Cmd+Page Up"


# --- the state machine ---------------------------------------------------------------------


def run(tracker: ChordTracker, *events: str) -> list[str | None]:
    """Feed ``+name`` (down) / ``-name`` (up) events; the transitions that came out."""
    return [tracker.feed(e[1:], e[0] == "+") for e in events]


def test_hold_starts_on_the_completing_key_in_any_order_and_stops_on_release() -> None:
    t = ChordTracker(parse_chord("<ctrl>+<alt>+space"))
    assert run(t, "+space", "+ctrl", "+alt") == [None, None, "started"]
    assert t.talking
    assert run(t, "-alt", "-ctrl", "-space") == ["stopped", None, None]
    assert not t.talking


def test_auto_repeat_is_ignored() -> None:
    t = ChordTracker(parse_chord("<ctrl>+space"))
    assert run(t, "+ctrl", "+space", "+space", "+space", "+ctrl") == [
        None,
        "started",
        None,
        None,
        None,
    ]
    assert run(t, "-space") == ["stopped"]


def test_a_partial_chord_does_nothing() -> None:
    t = ChordTracker(parse_chord("<ctrl>+<alt>+space"))
    assert run(t, "+ctrl", "+alt", "-alt", "+space", "-space", "-ctrl") == [None] * 6
    assert not t.talking


def test_releasing_one_key_stops_and_pressing_it_again_restarts() -> None:
    t = ChordTracker(parse_chord("<ctrl>+<alt>+space"))
    assert run(t, "+ctrl", "+alt", "+space", "-space", "+space") == [
        None,
        None,
        "started",
        "stopped",
        "started",
    ]


def test_other_keys_in_between_are_ignored_but_an_extra_modifier_blocks() -> None:
    t = ChordTracker(parse_chord("<ctrl>+<alt>+space"))
    # a letter held or typed meanwhile changes nothing
    assert run(t, "+ctrl", "+x", "+alt", "+space", "+y", "-y", "-x") == [
        None,
        None,
        None,
        "started",
        None,
        None,
        None,
    ]
    assert run(t, "-space", "-alt", "-ctrl") == ["stopped", None, None]
    # Ctrl+Alt+Shift+Space is another shortcut: stay quiet
    assert run(t, "+ctrl", "+shift", "+alt", "+space") == [None, None, None, None]
    # ... and a modifier pressed while talking does not stop the talk
    assert run(t, "-space", "-shift", "+space", "+cmd") == [None, None, "started", None]
    assert t.talking


def test_toggle_starts_on_the_first_press_and_stops_on_the_second() -> None:
    t = ChordTracker(parse_chord("<ctrl>+space"), mode="toggle")
    assert run(t, "+ctrl", "+space", "+space", "-space", "-ctrl") == [
        None,
        "started",
        None,
        None,
        None,
    ]
    assert t.talking
    assert run(t, "+space", "+ctrl", "-ctrl", "+ctrl") == [None, "stopped", None, "started"]


def test_unseen_releases_are_ignored_and_reset_ends_a_talk() -> None:
    t = ChordTracker(parse_chord("<f9>"))
    assert run(t, "-f9", "-ctrl", "+f9") == [None, None, "started"]
    assert t.reset() == "stopped"
    assert t.reset() is None
    assert run(t, "+f9") == ["started"]  # f9's earlier down was forgotten


def test_a_right_hand_chord_wants_the_right_key() -> None:
    t = ChordTracker(parse_chord("<ctrl_r>"))
    assert run(t, "+ctrl", "-ctrl", "+ctrl_r") == [None, None, "started"]


# --- pynput's keys as names ----------------------------------------------------------------


@dataclass
class FakeKeyCode:
    """The two attributes of pynput's KeyCode that key_name reads."""

    vk: int | None = None
    char: str | None = None


class FakeKey(enum.Enum):
    ctrl = FakeKeyCode(vk=65507)
    ctrl_r = FakeKeyCode(vk=65508)
    space = FakeKeyCode(vk=32, char=" ")
    alt_gr = FakeKeyCode(vk=65027)


def test_pynput_keys_become_chord_names() -> None:
    assert key_name(FakeKey.ctrl) == "ctrl"
    assert key_name(FakeKey.ctrl_r) == "ctrl"
    assert key_name(FakeKey.ctrl_r, chord("<ctrl_r>")) == "ctrl_r"
    assert key_name(FakeKey.space) == "space"
    assert key_name(FakeKey.alt_gr) == "alt_gr"
    assert key_name(FakeKeyCode(vk=72, char="H")) == "h"
    assert key_name(FakeKeyCode(vk=72, char="H"), chord("<72>")) == "vk:72"
    assert key_name(FakeKeyCode(vk=269025041)) == "vk:269025041"
    assert key_name(None) is None


# --- the Qt object -------------------------------------------------------------------------


class ThreadBackend:
    """Reports keys from its own thread, as pynput's listener does."""

    name = "x11"

    def __init__(self) -> None:
        self.sink: KeySink | None = None
        self.on_error: Callable[[str], None] | None = None
        self.started: list[Chord] = []
        self.stopped = 0

    def start(self, chord: Chord, sink: KeySink, on_error: Callable[[str], None]) -> str:
        self.started.append(chord)
        self.sink, self.on_error = sink, on_error
        return ""

    def stop(self) -> None:
        self.stopped += 1

    def keys(self, *events: str) -> None:
        sink = self.sink
        assert sink is not None

        def send() -> None:
            for e in events:
                sink(e[1:], e[0] == "+")

        thread = threading.Thread(target=send)
        thread.start()
        thread.join(timeout=5)


@pytest.fixture
def backend() -> ThreadBackend:
    return ThreadBackend()


@pytest.fixture
def hotkey(qtbot, backend: ThreadBackend) -> Iterator[Hotkey]:
    key = Hotkey("<ctrl>+<alt>+space", "hold", backend_factory=lambda: backend)
    yield key
    key.stop()


def test_hold_signals_arrive_on_the_gui_thread(qtbot, hotkey: Hotkey, backend) -> None:
    status = hotkey.start()
    assert status.available
    assert status.backend == "x11"
    assert status.message == "Hold Ctrl+Alt+Space to talk."
    threads: list[threading.Thread] = []
    hotkey.talk_started.connect(lambda: threads.append(threading.current_thread()))
    with qtbot.waitSignal(hotkey.talk_started, timeout=5000):
        backend.keys("+ctrl", "+alt", "+space", "+space", "+space")
    assert threads == [threading.main_thread()]
    with qtbot.waitSignal(hotkey.talk_stopped, timeout=5000):
        backend.keys("-space")
    assert not hotkey.talking


def test_toggle_mode(qtbot, hotkey: Hotkey, backend) -> None:
    hotkey.set_mode("toggle")
    assert "again to stop" in hotkey.start().message
    with qtbot.waitSignal(hotkey.talk_started, timeout=5000):
        backend.keys("+ctrl", "+alt", "+space", "-space")
    with qtbot.waitSignal(hotkey.talk_stopped, timeout=5000):
        backend.keys("+space")


def test_stop_ends_a_talk_and_later_keys_are_dropped(qtbot, hotkey: Hotkey, backend) -> None:
    hotkey.start()
    with qtbot.waitSignal(hotkey.talk_started, timeout=5000):
        backend.keys("+ctrl", "+alt", "+space")
    with qtbot.waitSignal(hotkey.talk_stopped, timeout=1000):
        hotkey.stop()
    assert backend.stopped == 1
    assert not hotkey.status.available
    with qtbot.assertNotEmitted(hotkey.talk_started, wait=100):
        backend.keys("-space", "+space")  # a late event from the stopped listener


def test_set_mode_while_talking_stops_first(qtbot, hotkey: Hotkey, backend) -> None:
    hotkey.start()
    with qtbot.waitSignal(hotkey.talk_started, timeout=5000):
        backend.keys("+ctrl", "+alt", "+space")
    with qtbot.waitSignal(hotkey.talk_stopped, timeout=1000):
        hotkey.set_mode("toggle")
    with pytest.raises(ValueError, match="'hold' or 'toggle'"):
        hotkey.set_mode("push")  # type: ignore[arg-type]


def test_set_chord_restarts_and_a_bad_one_keeps_the_old(qtbot, hotkey: Hotkey, backend) -> None:
    hotkey.start()
    with pytest.raises(ChordError, match="'<ctlr>'"):
        hotkey.set_chord("<ctlr>+a")
    assert len(backend.started) == 1
    hotkey.set_chord("<f9>")
    assert [c.keys for c in backend.started] == [chord("<ctrl>+<alt>+space"), chord("<f9>")]
    assert hotkey.status.message == "Hold F9 to talk."
    with qtbot.waitSignal(hotkey.talk_started, timeout=5000):
        backend.keys("+f9")
    hotkey.set_chord("")
    assert not hotkey.status.available
    assert "off" in hotkey.status.message


def test_a_bad_or_empty_chord_in_the_settings_is_a_status(qtbot, backend) -> None:
    bad = Hotkey("<ctrl>+<alt>+spcae", backend_factory=lambda: backend)
    status = bad.start()
    assert not status.available
    assert "'spcae'" in status.message
    off = Hotkey(None, backend_factory=lambda: backend)
    assert off.start().message == "The hotkey is off: set one in Settings."
    assert backend.started == []


def test_built_from_the_settings(qtbot, backend) -> None:
    toggle = Hotkey.from_settings(
        TalkSettings(hotkey="<f9>", hotkey_mode="toggle"), backend_factory=lambda: backend
    )
    assert toggle.start().message == "Press F9 to talk, and again to stop."
    toggle.stop()
    default = Hotkey.from_settings(TalkSettings(), backend_factory=lambda: backend)
    assert default.start().message == "Hold Ctrl+Alt+Space to talk."
    default.stop()


def test_a_backend_that_breaks_on_start_is_a_status(qtbot) -> None:
    class Broken(ThreadBackend):
        def start(self, chord: Chord, sink: KeySink, on_error: Callable[[str], None]) -> str:
            raise RuntimeError("listener exploded")

    status = Hotkey(backend_factory=Broken).start()
    assert (status.available, status.message) == (
        False,
        "No global hotkey here: listener exploded",
    )


def test_an_unavailable_backend_is_a_status(qtbot) -> None:
    def nowhere() -> HotkeyBackend:
        raise HotkeyUnavailable("No global hotkey here: test.")

    status = Hotkey(backend_factory=nowhere).start()
    assert (status.available, status.backend, status.message) == (
        False,
        "none",
        "No global hotkey here: test.",
    )


def test_a_backend_failure_is_signalled(qtbot, hotkey: Hotkey, backend) -> None:
    hotkey.start()
    with qtbot.waitSignal(hotkey.failed, timeout=5000) as failed:
        threading.Thread(target=backend.on_error, args=("the portal went away",)).start()
    assert failed.args == ["the portal went away"]
    assert hotkey.status.message == "the portal went away"
    assert backend.stopped == 1


def test_signals_do_not_drain_references_to_true(qtbot, hotkey: Hotkey, backend) -> None:
    """PySide6 6.12.0 on Python 3.11 takes a reference from True on every emit() (so it is
    excluded in pyproject.toml): a long session would abort in bool_dealloc."""
    hotkey.start()
    before = sys.getrefcount(True)
    for _ in range(500):
        hotkey.feed("f9", True)  # same thread: delivered at once
        hotkey.feed("f9", False)
    assert abs(sys.getrefcount(True) - before) < 100


# --- choosing a backend --------------------------------------------------------------------


def test_the_backend_follows_the_platform() -> None:
    assert detect_backend("win32", {}).name == "windows"
    assert detect_backend("darwin", {}).name == "macos"
    x11 = detect_backend("linux", {"DISPLAY": ":0", "XDG_SESSION_TYPE": "x11"})
    assert isinstance(x11, PynputBackend)
    assert x11.name == "x11"
    wayland = detect_backend("linux", {"DISPLAY": ":0", "WAYLAND_DISPLAY": "wayland-0"})
    assert isinstance(wayland, PortalBackend)
    with pytest.raises(HotkeyUnavailable, match="no X display"):
        detect_backend("linux", {})


def test_without_an_x_display_pynput_gives_a_clear_reason(monkeypatch) -> None:
    if "pynput.keyboard" in sys.modules:
        pytest.skip("pynput is already loaded in this process")
    monkeypatch.setenv("DISPLAY", ":4242")  # nothing listens there
    with pytest.raises(HotkeyUnavailable, match="cannot connect to the X display"):
        PynputBackend("x11").start(parse_chord("<f9>"), lambda n, d: None, lambda m: None)
    assert "pynput.keyboard" not in sys.modules


# --- the real thing under Xvfb -------------------------------------------------------------

PROBE = """
import sys
from PySide6.QtCore import QCoreApplication
from app.gui.hotkey import Hotkey
app = QCoreApplication([])
hotkey = Hotkey(sys.argv[1], sys.argv[2])
hotkey.talk_started.connect(lambda: print("started", flush=True))
hotkey.talk_stopped.connect(lambda: print("stopped", flush=True))
status = hotkey.start()
print("status", status.available, status.backend, status.message, flush=True)
app.exec()
"""


class Lines:
    """A process's output lines, read on a thread so a test can wait with a timeout."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.queue: queue.Queue[str] = queue.Queue()
        assert proc.stdout is not None
        stdout = proc.stdout
        self.thread = threading.Thread(target=self._read, args=(stdout,), daemon=True)
        self.thread.start()

    def _read(self, stream) -> None:
        for line in stream:
            self.queue.put(line.strip())

    def next(self, timeout: float = 10.0) -> str:
        return self.queue.get(timeout=timeout)


@pytest.fixture
def xvfb(tmp_path: Path) -> Iterator[str]:
    if not (shutil.which("Xvfb") and shutil.which("xdotool")):
        pytest.skip("Xvfb and xdotool are needed")
    read, write = os.pipe()
    server = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write), "-nolisten", "tcp", "-screen", "0", "640x480x24"],
        pass_fds=(write,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write)
    try:
        with os.fdopen(read) as pipe:
            number = pipe.readline().strip()  # Xvfb writes it once it accepts clients
        assert number.isdigit(), "Xvfb did not report its display"
        yield f":{number}"
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_real_pynput_listener_under_xvfb(xvfb: str) -> None:
    env = {**os.environ, "DISPLAY": xvfb, "QT_QPA_PLATFORM": "offscreen"}
    env.pop("WAYLAND_DISPLAY", None)
    env["XDG_SESSION_TYPE"] = "x11"
    proc = subprocess.Popen(
        [sys.executable, "-c", PROBE, "<ctrl>+<alt>+space", "hold"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        lines = Lines(proc)

        def xdotool(*args: str) -> None:
            subprocess.run(["xdotool", *args], env=env, check=True, timeout=10)

        assert lines.next() == "status True x11 Hold Ctrl+Alt+Space to talk."
        xdotool("keydown", "ctrl", "keydown", "alt")
        xdotool("keydown", "space")
        assert lines.next() == "started"
        xdotool("keyup", "space")
        assert lines.next() == "stopped"
        # another modifier held: not our chord
        xdotool("keydown", "shift", "keydown", "space", "keyup", "space", "keyup", "shift")
        xdotool("keydown", "space")
        assert lines.next() == "started"  # the shift chord printed nothing before this
        xdotool("keyup", "ctrl", "keyup", "space", "keyup", "alt")
        assert lines.next() == "stopped"
        assert lines.queue.empty()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


# --- Wayland: the desktop portal on a private session bus ----------------------------------


@pytest.fixture
def session_bus() -> Iterator[str]:
    """A private dbus-daemon; its address."""
    if not shutil.which("dbus-daemon"):
        pytest.skip("dbus-daemon is needed")
    daemon = subprocess.Popen(
        ["dbus-daemon", "--session", "--nofork", "--nopidfile", "--print-address=1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert daemon.stdout is not None
        address = daemon.stdout.readline().strip()
        assert address.startswith("unix:"), address
        yield address
    finally:
        daemon.terminate()
        daemon.wait(timeout=10)


class FakePortal:
    """``org.freedesktop.portal.Desktop`` with the GlobalShortcuts interface, as
    xdg-desktop-portal answers it (Request/Response objects, Activated/Deactivated signals)."""

    def __init__(self, address: str, *, version: int | None = 1, bind_response: int = 0) -> None:
        from jeepney.io.blocking import open_dbus_connection

        self.version = version
        self.bind_response = bind_response
        self.conn = open_dbus_connection(address)
        assert self.conn.bus_proxy.RequestName(PORTAL_NAME)[0] == 1
        self.bound: list[tuple[str, dict]] = []
        self.sessions: list[str] = []
        self.closed: list[str] = []
        self.events: queue.Queue[str] = queue.Queue()
        self._commands: queue.Queue[tuple[str, str]] = queue.Queue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def press(self) -> None:
        self._commands.put(("Activated", self.sessions[-1]))

    def release(self) -> None:
        self._commands.put(("Deactivated", self.sessions[-1]))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.conn.close()

    def _serve(self) -> None:
        from jeepney import HeaderFields, MessageType

        while not self._stop.is_set():
            while not self._commands.empty():
                signal, session = self._commands.get()
                self._signal(
                    PORTAL_PATH, SHORTCUTS_IFACE, signal, "osta{sv}", (session, "talk", 1, {})
                )
            try:
                msg = self.conn.receive(timeout=0.02)
            except TimeoutError:
                continue
            if msg.header.message_type != MessageType.method_call:
                continue
            fields = msg.header.fields
            self._handle(msg, fields[HeaderFields.member], fields.get(HeaderFields.sender, ""))

    def _signal(self, path: str, iface: str, name: str, sig: str, body: tuple) -> None:
        from jeepney import DBusAddress, new_signal

        self.conn.send(new_signal(DBusAddress(path, interface=iface), name, sig, body))

    def _handle(self, msg, member: str, sender: str) -> None:
        from jeepney import new_error, new_method_return

        self.events.put(member)
        if member == "Get":
            if self.version is None or msg.body != (SHORTCUTS_IFACE, "version"):
                err = "org.freedesktop.DBus.Error.InvalidArgs"
                self.conn.send(new_error(msg, err, "s", ("No such interface",)))
            else:
                self.conn.send(new_method_return(msg, "v", (("u", self.version),)))
            return
        if member == "Close":
            self.closed.append(msg.header.fields[1])  # the session's path
            return
        options = msg.body[0] if member == "CreateSession" else msg.body[3]
        sender_part = sender.lstrip(":").replace(".", "_")
        request = f"{PORTAL_PATH}/request/{sender_part}/{options['handle_token'][1]}"
        self.conn.send(new_method_return(msg, "o", (request,)))
        if member == "CreateSession":
            token = options["session_handle_token"][1]
            session = f"{PORTAL_PATH}/session/{sender_part}/{token}"
            self.sessions.append(session)
            results = {"session_handle": ("s", session)}
            self._signal(request, "org.freedesktop.portal.Request", "Response", "ua{sv}",
                         (0, results))  # fmt: skip
        elif member == "BindShortcuts":
            self.bound.extend(msg.body[1])
            shortcuts = [("talk", {"description": ("s", "Talk"),
                                   "trigger_description": ("s", "Ctrl+Alt+Space")})]  # fmt: skip
            results = {"shortcuts": ("a(sa{sv})", shortcuts)} if self.bind_response == 0 else {}
            self._signal(request, "org.freedesktop.portal.Request", "Response", "ua{sv}",
                         (self.bind_response, results))  # fmt: skip


PORTAL_NAME = "org.freedesktop.portal.Desktop"
PORTAL_PATH = "/org/freedesktop/portal/desktop"
SHORTCUTS_IFACE = "org.freedesktop.portal.GlobalShortcuts"


@pytest.fixture
def portal(session_bus: str) -> Iterator[FakePortal]:
    fake = FakePortal(session_bus)
    yield fake
    fake.close()


def wayland_hotkey(address: str, mode: HotkeyMode = "hold") -> Hotkey:
    env = {"WAYLAND_DISPLAY": "wayland-0", "DBUS_SESSION_BUS_ADDRESS": address}
    return Hotkey("<ctrl>+<alt>+space", mode, backend_factory=lambda: detect_backend("linux", env))


def test_the_portal_binds_the_chord_and_its_signals_talk(qtbot, session_bus, portal) -> None:
    hotkey = wayland_hotkey(session_bus)
    try:
        status = hotkey.start()
        assert (status.available, status.backend) == (True, "portal")
        assert "confirm" in status.message
        assert portal.events.get(timeout=10) == "Get"
        assert portal.events.get(timeout=10) == "CreateSession"
        assert portal.events.get(timeout=10) == "BindShortcuts"
        qtbot.waitUntil(lambda: portal.bound != [], timeout=5000)
        [(shortcut_id, info)] = portal.bound
        assert shortcut_id == "talk"
        assert info["preferred_trigger"] == ("s", "CTRL+ALT+space")
        with qtbot.waitSignal(hotkey.talk_started, timeout=5000):
            portal.press()
        portal.press()  # the portal repeating itself changes nothing
        with qtbot.waitSignal(hotkey.talk_stopped, timeout=5000):
            portal.release()
        assert not hotkey.talking
        session = portal.sessions[-1]
    finally:
        hotkey.stop()
    assert portal.events.get(timeout=10) == "Close"
    assert portal.closed == [session]


def test_toggle_through_the_portal(qtbot, session_bus, portal) -> None:
    hotkey = wayland_hotkey(session_bus, "toggle")
    try:
        assert hotkey.start().available
        qtbot.waitUntil(lambda: portal.bound != [], timeout=5000)
        with qtbot.waitSignal(hotkey.talk_started, timeout=5000):
            portal.press()
            portal.release()
        with qtbot.waitSignal(hotkey.talk_stopped, timeout=5000):
            portal.press()
    finally:
        hotkey.stop()


def test_a_refused_binding_is_a_failure(qtbot, session_bus) -> None:
    fake = FakePortal(session_bus, bind_response=1)
    hotkey = wayland_hotkey(session_bus)
    try:
        with qtbot.waitSignal(hotkey.failed, timeout=10000) as failed:
            assert hotkey.start().available
        assert "you cancelled it" in failed.args[0]
        assert not hotkey.status.available
    finally:
        hotkey.stop()
        fake.close()


def test_a_portal_without_global_shortcuts_is_explained(qtbot, session_bus) -> None:
    fake = FakePortal(session_bus, version=None)
    try:
        status = wayland_hotkey(session_bus).start()
    finally:
        fake.close()
    assert (status.available, status.backend) == (False, "none")
    assert "GNOME has them from version 48" in status.message
    assert "tray menu" in status.message


def test_no_portal_at_all_is_explained(qtbot, session_bus) -> None:
    status = wayland_hotkey(session_bus).start()
    assert not status.available
    assert "desktop portal, and none is running" in status.message
    unset = Hotkey(backend_factory=lambda: detect_backend("linux", {"WAYLAND_DISPLAY": "w"}))
    assert "no D-Bus session bus" in unset.start().message


def test_chords_in_the_portals_notation() -> None:
    assert xdg_trigger(parse_chord("<ctrl>+<alt>+space")) == "CTRL+ALT+space"
    assert xdg_trigger(parse_chord("<cmd>+<shift_r>+h")) == "SHIFT+LOGO+h"
    assert xdg_trigger(parse_chord("<f9>")) == "F9"
    assert xdg_trigger(parse_chord("<ctrl>+<65>")) is None
