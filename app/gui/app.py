"""The desktop app: ``hark`` with no arguments.

The tray icon appears first (in well under two seconds); the engine — models, microphone,
the connection to the LLM — is assembled afterwards on the engine thread, while the tooltip
says "starting". The Qt thread only draws: everything else runs on the engine loop through
the :class:`~app.gui.bridge.Bridge`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QApplication

from app.config import SecretStore, Settings, config_path
from app.core.errors import HarkError
from app.core.events import Event, NoticeRaised, TurnFinished
from app.gui.bridge import Bridge, EngineThread
from app.gui.state import TrayState
from app.gui.tray import TrayController, state_icon

if TYPE_CHECKING:
    from app.core.engine import ListenLoop
    from app.core.ports import FrameSource
    from app.gui.main_window import MainWindow
    from app.gui.services import EngineServices
    from app.runtime import Engine

log = logging.getLogger(__name__)

NO_DISPLAY = (
    "hark: no display to show the tray app on (DISPLAY and WAYLAND_DISPLAY are unset). "
    'Use `hark ask "…"` or `hark listen` in a terminal, or start Hark from your desktop.'
)

MicrophoneFactory = Callable[[Settings], "FrameSource"]


def no_display_reason(env: dict[str, str] | None = None) -> str | None:
    """Why the GUI cannot start here, or None. Only Linux/BSD need a display server."""
    env = dict(os.environ) if env is None else env
    if not sys.platform.startswith(("linux", "freebsd", "openbsd")):
        return None
    if env.get("QT_QPA_PLATFORM", "").startswith(("offscreen", "minimal", "vnc")):
        return None
    if env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"):
        return None
    return NO_DISPLAY


def _microphone(settings: Settings) -> FrameSource:
    from app.audio.capture import MicrophoneSource

    device = settings.audio.input_device
    if isinstance(device, str) and device.isdigit():
        device = int(device)
    return MicrophoneSource(device)


class HarkApp(QObject):
    """Owns the engine thread, the engine, the listening loop, the tray and the windows."""

    engine_ready = Signal(object)
    engine_failed = Signal(str)

    def __init__(
        self,
        settings: Settings,
        *,
        secrets: SecretStore | None = None,
        microphone: MicrophoneFactory = _microphone,
        force_window: bool = False,
    ) -> None:
        super().__init__()
        self.settings = settings
        self.secrets = secrets or SecretStore()
        self._microphone = microphone
        self.engine_thread = EngineThread()
        self.bridge: Bridge | None = None
        self.tray = TrayController(force_window=force_window, parent=self)
        self.engine: Engine | None = None
        self.listen: ListenLoop | None = None
        self.confirmer: Any = None
        self.window: MainWindow | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._talking = False
        self.hotkey: Any = None
        self.deploys: list[Any] = []
        """Open Vast.ai wizards (a running deploy must finish its clean-up before Quit)."""

    # --- start and stop --------------------------------------------------------------------

    def start(self) -> None:
        """Show the tray now; assemble the engine in the background."""
        self.engine_thread.start()
        self.bridge = Bridge(self.engine_thread, self)
        self.tray.set_backend(self._backend_words())
        self.tray.tracker.server = "starting" if self._remote() else None
        self.tray.show()
        self.bridge.event_received.connect(self.on_bridge_event_received)
        self.tray.talk_toggled.connect(self.on_tray_talk_toggled)
        self.tray.pause_toggled.connect(self.on_tray_pause_toggled)
        self.tray.pane_requested.connect(self.on_tray_pane_requested)
        self.tray.remote_action_requested.connect(self.on_tray_remote_action_requested)
        self.tray.settings_requested.connect(self.on_tray_settings_requested)
        self.tray.quit_requested.connect(self.on_tray_quit_requested)
        self.confirmer = self._make_confirmer()
        self._start_hotkey()
        self.engine_ready.connect(self._on_booted)
        self.bridge.run(self.assemble, None, self._on_boot_failed)

    def _start_hotkey(self) -> None:
        from app.gui.hotkey import Hotkey
        from app.gui.wording import hotkey_words

        self.hotkey = Hotkey.from_settings(self.settings.talk, parent=self)
        self.hotkey.talk_started.connect(lambda: self.set_talking(True))
        self.hotkey.talk_stopped.connect(lambda: self.set_talking(False))
        self.hotkey.failed.connect(lambda message: self.tray.notify("Hark hotkey", message))
        status = self.hotkey.start()
        if status.available:
            mode = "hold" if self.settings.talk.hotkey_mode == "hold" else "press to start/stop"
            keys = hotkey_words(self.settings.talk.hotkey)
            self.tray.tracker.talk_hint = f"Talk: {keys} ({mode}) or click"
        else:
            self.tray.tracker.talk_hint = f"Talk: click the icon ({status.message})"

    def _remote(self) -> bool:
        return self.settings.remote.url is not None or self.settings.remote.use_deployment

    def _backend_words(self) -> str:
        remote = self.settings.remote
        if remote.url:
            return f"Hark server {remote.url}"
        if remote.use_deployment:
            from app.deployed import records

            record = records().current()
            if record is not None:
                return f"Vast.ai server {record.label} (${record.dph_total:.3f}/hour)"
        return "this computer"

    def _make_confirmer(self) -> Any:
        from app.gui.dialogs.confirm import GuiConfirmer

        confirmer = GuiConfirmer(self.settings.policy.confirm_timeout_s, self)
        confirmer.confirmation_requested.connect(self.tray.on_confirmation_requested)
        confirmer.confirmation_finished.connect(self.tray.on_confirmation_finished)
        return confirmer

    async def assemble(self) -> Engine:
        """On the engine loop: (re)build the engine with the current settings and sign-ins.

        Used at start, after Settings are saved and after a Google sign-in; the tray and the
        windows stay, the engine and the listening loop are made anew."""
        await self._close()
        self.engine = None
        engine = await self._boot()
        self.engine = engine
        self.engine_ready.emit(engine)  # queued to the GUI thread
        return engine

    async def _boot(self) -> Engine:
        """On the engine loop: build the engine, load the speech model, start listening."""
        from app.audio.vad import Endpointer
        from app.core.engine import ListenLoop
        from app.llm.health import LlmMonitor
        from app.runtime import build_engine

        assert self.bridge is not None
        publish = self.bridge.publish
        engine = build_engine(
            self.settings, publish, secrets=self.secrets, confirmer=self.confirmer
        )
        load = getattr(engine.transcriber, "load", None)
        if load is not None:
            await load()
        wake = None
        if self.settings.talk.wake_word:
            from app.audio.wakeword import WakeWord

            wake = await asyncio.to_thread(WakeWord.from_settings, self.settings.talk)
        self.listen = ListenLoop(
            self._microphone(self.settings),
            Endpointer.from_settings(self.settings.audio),
            engine.pipeline,
            publish,
            barge_in=self.settings.talk.barge_in,
            push_to_talk=wake is None,
            wake=wake,
            skip_ms=self.settings.talk.skip_ms,
        )
        monitor = LlmMonitor(engine.chat, publish, self.settings.llm.retry_interval_s)
        self._tasks = [
            asyncio.create_task(self._listen(self.listen)),
            asyncio.create_task(monitor.run()),
        ]
        if engine.server is not None:
            self._tasks.append(asyncio.create_task(engine.server.watch()))
        return engine

    async def _listen(self, loop: ListenLoop) -> None:
        assert self.bridge is not None
        try:
            await loop.run()
        except HarkError as exc:  # no microphone, device gone: say so, keep the rest working
            log.warning("listening stopped: %s", exc.code)
            self.bridge.publish(NoticeRaised(exc.code + "-failed", exc.message))

    def _on_booted(self, engine: Engine) -> None:
        self.tray.tracker.server = None
        self.tray.set_backend(self._backend_words())
        if self.window is None and self.bridge is not None:
            from app.gui.main_window import MainWindow

            self.window = MainWindow(self.services(), self.bridge)  # hidden: records the turns
            self.window.visibility_changed.connect(self.on_window_visibility_changed)
        log.info("Hark is ready")

    def services(self) -> EngineServices:
        """What the windows may ask of the engine (always the current one)."""
        from app.gui.services import EngineServices

        return EngineServices(
            lambda: self.engine, self.settings, self.secrets, reassemble=self.assemble
        )

    def _on_boot_failed(self, error: BaseException) -> None:
        message = error.message if isinstance(error, HarkError) else repr(error)
        log.error("Hark could not start its engine: %s", message)
        self.tray.on_engine_event(NoticeRaised("engine-failed", message))
        self.tray.notify("Hark could not start", message, error=True)
        self.engine_failed.emit(message)

    def shutdown(self) -> None:
        """Stop listening, close the engine, stop the engine thread (idempotent)."""
        if self.confirmer is not None:
            self.confirmer.close_all()  # open questions are answered "no" before the engine stops
        if self.engine_thread.running:
            future = self.engine_thread.submit(self._close())
            with contextlib.suppress(Exception):
                future.result(timeout=15)
            self.engine_thread.stop()
        if self.hotkey is not None:
            self.hotkey.stop()
        self.tray.hide()
        if self.window is not None:
            self.window.close()

    async def _close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.engine is not None:
            await self.engine.aclose()

    # --- what the user asks for ------------------------------------------------------------

    def on_bridge_event_received(self, event: Event) -> None:
        self.tray.on_engine_event(event)
        if isinstance(event, TurnFinished) and event.result.reply and not self.tray.windows_open:
            self.tray.notify("Hark", event.result.reply)
        elif isinstance(event, NoticeRaised) and event.code.endswith("-failed"):
            self.tray.notify("Hark", event.message, error=True)

    def on_tray_talk_toggled(self) -> None:
        """Left click / Talk / the hotkey in toggle mode: start or end an utterance."""
        self.set_talking(not self._talking)

    def set_talking(self, talking: bool) -> None:
        listen = self.listen
        if listen is None:
            self.tray.notify("Hark", "Hark is still starting; try again in a moment.")
            return
        self._talking = talking
        if talking:
            self.engine_thread.call_soon(lambda: listen.arm(skip_ms=self.settings.talk.skip_ms))
        else:
            self.engine_thread.call_soon(listen.disarm)

    def on_tray_pause_toggled(self, paused: bool) -> None:
        listen = self.listen
        if listen is not None:
            self.engine_thread.call_soon(listen.pause, paused)

    def on_tray_pane_requested(self, pane: str) -> None:
        if self.engine is None or self.bridge is None:
            self.tray.notify("Hark", "Hark is still starting; the windows open once it is ready.")
            return
        if self.window is not None:
            self.window.show_pane(pane)

    def on_window_visibility_changed(self, visible: bool) -> None:
        self.tray.windows_open = 1 if visible else 0

    def on_tray_remote_action_requested(self, action: str) -> None:
        from app.gui.remote_actions import run_remote_action

        assert self.bridge is not None
        run_remote_action(action, self)

    def on_tray_settings_requested(self) -> None:
        from app.gui.dialogs.settings import SettingsDialog

        if self.bridge is None:
            return
        dialog = SettingsDialog(
            self.settings,
            self.services(),
            self.bridge,
            self.secrets,
        )
        dialog.settings_saved.connect(self.on_settings_saved)
        dialog.deploy_requested.connect(lambda: self.on_tray_remote_action_requested("deploy"))
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()

    def on_settings_saved(self, settings: Settings) -> None:
        """New settings: assemble the engine again with them (the tray stays)."""
        assert self.bridge is not None
        self.settings = settings
        self.tray.set_backend(self._backend_words())
        if self.hotkey is not None:
            self.hotkey.stop()
        self._start_hotkey()
        self.listen = None
        self.bridge.run(self.assemble, None, self._on_boot_failed)

    def reload_settings(self) -> None:
        """The settings file changed (a wizard saved): read it again and reassemble."""
        from app.config import load_settings

        try:
            settings = load_settings()
        except HarkError as exc:
            self.tray.notify("Hark settings", exc.message, error=True)
            return
        self.on_settings_saved(settings)

    def first_run(self) -> None:
        """No settings file yet: the setup wizard (microphone, server, voice, Google)."""
        from app.gui.wizards import FirstRunWizard, RemoteWizard
        from app.gui.wizards.voice_page import default_speak
        from app.settings_file import save_settings

        assert self.bridge is not None
        bridge = self.bridge

        def open_deploy(parent: Any) -> bool:
            made = RemoteWizard.ask(
                bridge, self.secrets, self.settings, save_settings, parent=parent
            )
            return made is not None

        wizard = FirstRunWizard(
            self.settings,
            self.services(),
            bridge,
            self.secrets,
            save_settings,
            speak=default_speak(self.settings),
            open_deploy=open_deploy,
        )
        wizard.setup_saved.connect(lambda _saved: self.reload_settings())
        # cancelled: an empty settings file, so the wizard does not come back (Settings… does)
        wizard.rejected.connect(lambda: save_settings({}))
        wizard.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        wizard.show()

    def on_tray_quit_requested(self) -> None:
        """Quit; a running Vast.ai deploy is cancelled and cleaned up first (nothing billing)."""
        from app.gui.remote_actions import finish_deploys_then

        def leave() -> None:
            self.shutdown()
            QApplication.quit()

        if finish_deploys_then(self.deploys, leave):
            self.tray.notify(
                "Hark", "Cancelling the running deploy; Hark quits once what it rented is removed."
            )


def run_gui(settings: Settings) -> int:
    """``hark`` with no arguments: the tray app until Quit."""
    reason = no_display_reason()
    if reason is not None:
        print(reason, file=sys.stderr)
        return 2
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setApplicationName("Hark")
    app.setQuitOnLastWindowClosed(False)
    app.setWindowIcon(state_icon(TrayState.IDLE))
    hark = HarkApp(settings)
    hark.start()
    if not config_path().exists():
        hark.first_run()
    try:
        return app.exec()
    finally:
        hark.shutdown()
