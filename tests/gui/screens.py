"""Screenshots of the desktop app without a desktop: ``python -m tests.gui.screens --out DIR``.

Starts Xvfb with the ``trayer`` tray host (``scripts/setup desktop,server,dev`` installs both),
runs Hark's widgets with scripted data (the fakes the tests use), and saves one PNG per view:
the tray with its menu open, the calendar, inbox and conversation panes, the confirmation
dialog, every Settings page, every page of the first-run and Vast.ai wizards, the
listening overlay, Check my setup and About. Without
Xvfb it falls back to offscreen rendering (no tray picture then). Nothing here talks to the
network or needs a sound card.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any


def parent(out: Path) -> int:
    """Start a display and run the child under it."""
    from tests.gui.xdisplay import Display

    out.mkdir(parents=True, exist_ok=True)
    with Display() as display, tempfile.TemporaryDirectory() as home:
        env = {
            **os.environ,
            **display.env,
            "HOME": home,
            "XDG_CONFIG_HOME": f"{home}/config",
            "XDG_DATA_HOME": f"{home}/data",
            "XDG_CACHE_HOME": f"{home}/cache",
            "PYTHON_KEYRING_BACKEND": "keyrings.alt.file.PlaintextKeyring",
            "HARK_SCREENS_DISPLAY": display.kind,
        }
        done = subprocess.run(
            [sys.executable, "-m", "tests.gui.screens", "--child", "--out", str(out)],
            env=env,
            check=False,
            timeout=300,
        )
    return done.returncode


class Shooter:
    """Waits for Qt to settle, then saves a widget (or the whole screen) as a PNG."""

    def __init__(self, app: Any, out: Path) -> None:
        self.app = app
        self.out = out
        self.saved: list[Path] = []

    def settle(self, until: Callable[[], bool] = lambda: True, timeout_s: float = 20) -> None:
        from PySide6.QtCore import QDeadlineTimer, QEventLoop

        deadline = QDeadlineTimer(int(timeout_s * 1000))
        while not until() and not deadline.hasExpired():
            self.app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
        for _ in range(10):  # a few more rounds: layouts, repaints
            self.app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 20)

    def widget(self, name: str, widget: Any) -> None:
        self.settle()
        path = self.out / f"{name}.png"
        widget.grab().save(str(path))
        self.saved.append(path)
        print(f"saved {path}", flush=True)

    def screen(self, name: str) -> None:
        self.settle()
        path = self.out / f"{name}.png"
        self.app.primaryScreen().grabWindow(0).save(str(path))
        self.saved.append(path)
        print(f"saved {path}", flush=True)


def child(out: Path) -> int:
    from PySide6.QtWidgets import QApplication

    app = QApplication([])
    app.setQuitOnLastWindowClosed(False)
    from app.gui.bridge import Bridge, EngineThread

    engine = EngineThread().start()
    bridge = Bridge(engine)
    shoot = Shooter(app, out)
    try:
        tray_menu(shoot)
        panes(shoot, bridge)
        confirm_dialog(shoot)
        settings_pages(shoot, bridge)
        first_run_pages(shoot, bridge)
        remote_pages(shoot, bridge)
        listening_overlay(shoot)
        checkup_window(shoot, bridge)
        about_window(shoot)
    finally:
        engine.stop()
    print(f"{len(shoot.saved)} pictures in {out}")
    return 0


def tray_menu(shoot: Shooter) -> None:
    from PySide6.QtCore import QPoint

    from app.core.events import ServerStateChanged, SpeechStarted
    from app.gui.tray import TrayController

    tray = TrayController()
    tray.set_backend("Vast.ai server hark-20261123 ($0.312/hour)")
    tray.show()
    tray.on_engine_event(ServerStateChanged("ready", "ready"))
    tray.on_engine_event(SpeechStarted(0.0))
    if tray.has_tray:
        tray.menu.popup(QPoint(900, 30))
        shoot.screen("tray-menu")
        tray.menu.hide()
    else:
        assert tray.window is not None
        shoot.widget("tray-window", tray.window)
    tray.hide()


def panes(shoot: Shooter, bridge: Any) -> None:
    from app.core.events import (
        ReplyTextReceived,
        ToolCallFinished,
        ToolCallStarted,
        TranscriptReady,
        TurnFinished,
        TurnResult,
        TurnStarted,
        TurnTimings,
    )
    from app.gui.panes.calendar import CalendarPane
    from app.gui.panes.conversation import ConversationWindow
    from app.gui.panes.inbox import InboxPane
    from app.gui.panes.status import PaneState
    from tests.gui.scripted_services import TODAY, ScriptedServices

    calendar = CalendarPane(ScriptedServices(), bridge, today=lambda: TODAY)
    calendar.resize(720, 520)
    calendar.show()
    shoot.settle(lambda: calendar.state == PaneState.READY)
    calendar.set_days(7)
    shoot.settle(lambda: calendar.state == PaneState.READY)
    shoot.widget("calendar", calendar)
    calendar.show_form()
    shoot.widget("calendar-new-event", calendar)
    calendar.close()

    offline = CalendarPane(ScriptedServices(connected=False), bridge, today=lambda: TODAY)
    offline.resize(720, 520)
    offline.show()
    shoot.settle(lambda: offline.state == PaneState.NOT_CONNECTED)
    shoot.widget("calendar-not-connected", offline)
    offline.close()

    inbox = InboxPane(ScriptedServices(), bridge, today=lambda: TODAY)
    inbox.resize(760, 560)
    inbox.show()
    shoot.settle(lambda: inbox.state == PaneState.READY)
    inbox.select(0)
    shoot.settle(lambda: bool(inbox.preview_text()))
    inbox.summarize()
    shoot.settle(lambda: bool(inbox.reply_text()))
    shoot.widget("inbox", inbox)
    inbox.close()

    conversation = ConversationWindow(bridge)
    conversation.resize(720, 520)
    conversation.show()
    args = {"start": "today"}
    result = '{"count": 2, "events": [{"title": "Dentist"}, {"title": "Team lunch"}]}'
    reply = "You have the dentist at ten and team lunch at noon."
    for event in (
        TurnStarted(1, "voice"),
        TranscriptReady("What's on my calendar today?", "en"),
        ToolCallStarted("calendar_list_events", args),
        ToolCallFinished("calendar_list_events", True, result),
        ReplyTextReceived(reply),
        TurnFinished(
            TurnResult(
                1,
                "What's on my calendar today?",
                reply,
                (),
                TurnTimings(470.0, 520.0, 310.0, 1180.0, 2650.0),
            )
        ),
    ):
        bridge.publish(event)
    shoot.settle(lambda: bool(conversation.turns()) and bool(conversation.turns()[-1].timings))
    shoot.widget("conversation", conversation)
    conversation.close()


def confirm_dialog(shoot: Shooter) -> None:
    from app.core.types import ActionProposal, Risk
    from app.gui.dialogs.confirm import ConfirmDialog

    proposal = ActionProposal(
        id="a1",
        tool="mail_send",
        arguments={},
        risk=Risk.EXTERNAL,
        summary="Send an email to bob@example.org: 'Lunch on Friday'",
        preview={
            "to": ["bob@example.org"],
            "cc": [],
            "bcc": [],
            "subject": "Lunch on Friday",
            "body": "Hi Bob,\n\nNoon at the usual place?\n\nAnn",
        },
        reasons=(
            "it involves other people: bob@example.org",
            "not someone you have written to before: bob@example.org",
        ),
    )
    dialog = ConfirmDialog(proposal, timeout_s=120, arm_ms=0)
    dialog.show()
    shoot.widget("confirm-mail", dialog)
    dialog.dismiss()


def settings_pages(shoot: Shooter, bridge: Any) -> None:
    from app.audio.devices import DeviceInfo
    from app.gui.autostart import Autostart
    from app.gui.context import GuiContext
    from app.gui.dialogs.settings import SettingsDialog
    from app.settings.schema import Settings
    from app.settings.secrets import SecretStore
    from tests.gui.scripted_services import ScriptedServices

    devices = [
        DeviceInfo(0, "USB Microphone", "ALSA", 1, 0, 48000.0, True),
        DeviceInfo(1, "Built-in Audio Analog Stereo", "ALSA", 2, 2, 48000.0, False, True),
    ]
    home = Path(os.environ.get("HOME", tempfile.gettempdir()))
    dialog = SettingsDialog(
        GuiContext(Settings(), ScriptedServices(), bridge, SecretStore(env={})),
        config_file=home / "config.toml",
        autostart=Autostart(platform="linux", env={"HOME": str(home)}),
        audio_devices=lambda: devices,
    )
    dialog.show()
    shoot.settle(lambda: not dialog.loading())
    names = [
        "audio",
        "talking",
        "speech",
        "language-model",
        "server",
        "voice",
        "google",
        "permissions",
        "login",
    ]
    for row, name in enumerate(names):
        dialog.nav.setCurrentRow(row)
        shoot.settle(lambda: not dialog.loading())  # the language model page checks Ollama
        shoot.widget(f"settings-{row + 1}-{name}", dialog)
    dialog.reject()


def first_run_pages(shoot: Shooter, bridge: Any) -> None:
    from app.audio.capture import WavFileSource
    from app.audio.devices import DeviceInfo
    from app.gui.context import GuiContext
    from app.gui.wizards import FirstRunWizard
    from app.settings.schema import Settings
    from app.settings.secrets import SecretStore
    from tests.gui.scripted_services import ScriptedServices
    from tests.support.speech import speech_clip, write_wav

    wav = write_wav(
        Path(tempfile.mkdtemp()) / "hello.wav",
        speech_clip("Hello Hark, can you hear me?", trail_silence_s=3.0).pcm,
    )

    async def speak(_text: str, _choice: Any) -> None:
        return None

    wizard = FirstRunWizard(
        GuiContext(Settings(), ScriptedServices(connected=False), bridge, SecretStore(env={})),
        lambda updates: None,
        list_inputs=lambda: [DeviceInfo(3, "USB Microphone", "ALSA", 1, 0, 16000.0, True)],
        open_source=lambda _device: WavFileSource(wav, realtime=True),
        speak=speak,
        open_deploy=lambda _parent: True,
    )
    wizard.show()
    shoot.settle(lambda: wizard.mic.level.value() > 20, timeout_s=10)
    names = ["microphone", "server", "language-model", "voice", "google"]
    for number, name in enumerate(names, start=1):
        if name == "language-model":  # it checks Ollama at once (none answers here)
            shoot.settle(lambda: wizard.llm.chooser.probe is not None, timeout_s=15)
        shoot.widget(f"first-run-{number}-{name}", wizard)
        if name != "google":
            wizard.next()
    wizard.reject()


def listening_overlay(shoot: Shooter) -> None:
    from app.core.events import TranscriptReady, TurnStarted, UtteranceEnded
    from app.gui.overlay import ListeningOverlay

    overlay = ListeningOverlay()
    overlay.on_listening_started()
    overlay.meter.set_level(0.62)
    shoot.widget("overlay-listening", overlay)
    overlay.on_engine_event(UtteranceEnded(1.8, 450.0))
    overlay.on_engine_event(TurnStarted(1, "voice"))
    overlay.on_engine_event(TranscriptReady("What's on my calendar tomorrow?", "en"))
    shoot.widget("overlay-heard", overlay)
    overlay.close()


def checkup_window(shoot: Shooter, bridge: Any) -> None:
    """Check my setup, filled with checks as a computer with no microphone would show them."""
    from app.doctor.check import Check
    from app.gui.dialogs.checkup import CheckupDialog
    from app.settings.schema import Settings
    from app.settings.secrets import SecretStore

    checks = [
        Check("settings", "ok", "~/.config/hark/config.toml"),
        Check("microphone", "fail", "no microphone found", "plug one in"),
        Check("speaker", "ok", "1 found (0: Built-in Audio Analog Stereo)"),
        Check("speech model", "ok", "Whisper base.en"),
        Check("language model", "ok", "llama3.2:3b at http://localhost:11434"),
        Check("local voice", "ok", "Piper, bundled voice (en_US joe)"),
        Check(
            "google",
            "warn",
            "not connected (calendar read, mail draft)",
            "hark google login (see the README: 'Connect Google')",
            required=False,
        ),
        Check("keyring", "ok", "Secret Service (GNOME Keyring)"),
    ]
    dialog = CheckupDialog(Settings(), SecretStore(env={}), bridge)
    for check in checks:
        dialog._add(check)
    dialog._finish(checks)
    dialog.resize(640, 720)
    dialog.show()
    shoot.widget("checkup", dialog)
    dialog.reject()


def about_window(shoot: Shooter) -> None:
    from app.gui.dialogs.about import AboutDialog

    dialog = AboutDialog()
    dialog.show()
    shoot.widget("about", dialog)
    dialog.reject()


def remote_pages(shoot: Shooter, bridge: Any) -> None:
    from app.gui.wizards import RemoteWizard
    from app.gui.wizards import deploy_pages as pages
    from app.settings.schema import Settings
    from app.settings.secrets import SecretStore
    from remote.deploy.options import DeployProgress
    from remote.vast.models import Offer

    def wizard(start: int) -> Any:
        made = RemoteWizard(bridge, SecretStore(env={}), Settings(), lambda updates: None)
        made.setStartId(start)
        return made

    key = wizard(pages.KEY)
    key.show()
    shoot.widget("vast-1-key", key)
    key.reject()

    offers = wizard(pages.OFFERS)
    offers.offers = [
        Offer(77, "RTX 4080", 1, 16384, 0.112, 0.995, 12.8, 4, 800, None, None, "Quebec, CA"),
        Offer(91, "RTX 4090", 1, 24564, 0.312, 0.998, 12.8, 8, 2400, None, None, "Oregon, US"),
        Offer(12, "A100 SXM4", 1, 81920, 0.784, 0.999, 12.4, 16, 6000, None, None, "Finland"),
    ]
    offers.show()
    shoot.widget("vast-2-offers", offers)
    offers.reject()

    deploy = wizard(pages.DEPLOY)
    for step, text, fraction in (
        ("creating", "renting offer 77 (RTX 4080, $0.112/hour)", None),
        ("booting", "instance 27000001 is loading", None),
        ("address", "203.0.113.7:41234", None),
        ("tls", "the server answers over the pinned certificate", None),
        ("provisioning", "pulling llama3.2:3b", 0.4),
    ):
        deploy.deploy_page.on_wizard_progressed(DeployProgress(step, text, fraction))
    page = deploy.deploy_page
    page.setParent(None)
    page.resize(640, 420)
    page.show()
    shoot.widget("vast-3-deploying", page)
    page.close()

    for start, name, text in (
        (pages.READY, "vast-4-ready", "Hark server ready at https://203.0.113.7:41234"),
        (
            pages.FAILED,
            "vast-5-failed",
            "No offer under $0.50/hour started; nothing is left billing.",
        ),
    ):
        made = wizard(start)
        target = made.ready_page if start == pages.READY else made.failed_page
        target.text.setText(text)
        made.show()
        shoot.widget(name, made)
        made.reject()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for the PNG files")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    return child(args.out) if args.child else parent(args.out)


if __name__ == "__main__":
    raise SystemExit(main())
