"""The desktop app's one object: the tray, the engine behind it, and the windows it opens.

The tray icon appears first (in well under two seconds); the engine — models, microphone,
the connection to the LLM — is assembled afterwards on the engine thread, while the tooltip
says "starting". The Qt thread only draws: everything else runs on the engine loop through
the :class:`~app.gui.bridge.Bridge`. :mod:`app.gui.launch` starts it (``hark`` with no
arguments).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QApplication

from app.core.events import Event, NoticeRaised, TurnFinished
from app.gui.bridge import Bridge, EngineThread
from app.gui.context import GuiContext
from app.gui.deploy_actions import (
    backend_words,
    finish_deploys_then,
    open_deploy,
    run_remote_action,
    server_deployed,
)
from app.gui.talk import Talk, talk_hint
from app.gui.tray import TrayController
from app.gui.windows import OwnedWindows, open_about, open_checkup, open_settings, open_setup
from app.settings.schema import Settings
from app.settings.secrets import SecretStore
from app.shared.errors import HarkError

if TYPE_CHECKING:
    from app.compose.build import Engine
    from app.core.listen_loop import ListenLoop
    from app.core.ports import Emit, FrameSource
    from app.gui.main_window import MainWindow
    from app.gui.services import EngineServices

log = logging.getLogger(__name__)

MicrophoneFactory = Callable[[Settings], "FrameSource"]


class HarkApp(QObject):
    """Owns the engine thread, the engine, the listening loop, the tray and the windows."""

    engine_ready = Signal(object)
    engine_failed = Signal(str)
    listening_failed = Signal(str, str)
    """The microphone could not be used (code, message); emitted on the engine thread."""

    def __init__(
        self,
        settings: Settings,
        *,
        secrets: SecretStore | None = None,
        microphone: MicrophoneFactory | None = None,
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
        self.hotkey: Any = None
        self.deploys: list[Any] = []
        """Open Vast.ai wizards (a running deploy must finish its clean-up before Quit)."""
        self.windows = OwnedWindows()
        """Settings, the setup wizard, Check my setup, About: kept here, one of each."""
        self.talk = Talk(self)
        """Push-to-talk: the click, the hotkey, pause, and what to say when Hark cannot hear."""

    # --- start and stop --------------------------------------------------------------------

    def start(self) -> None:
        """Show the tray now; assemble the engine in the background."""
        self.engine_thread.start()
        self.bridge = Bridge(self.engine_thread, self)
        self.tray.set_backend(backend_words(self.settings.remote))
        self.tray.tracker.server = "starting" if self._remote() else None
        self.tray.set_starting(True)
        self.refresh_deployed()
        self.tray.show()
        self.bridge.event_received.connect(self.on_bridge_event_received)
        from app.gui.overlay import ListeningOverlay  # the window shown while Hark listens

        self.overlay = ListeningOverlay(
            lambda: self.settings.audio.overlay, self.tray.icon.geometry
        )
        self.tray.listening_changed.connect(self.overlay.on_listening_changed)
        self.bridge.event_received.connect(self.overlay.on_engine_event)
        self.overlay.cancel_requested.connect(self.talk.cancel)
        self.listening_failed.connect(self.talk.on_listening_failed)
        tray = self.tray
        tray.talk_toggled.connect(self.on_tray_talk_toggled)
        tray.type_requested.connect(self.on_tray_type_requested)
        tray.pause_toggled.connect(self.talk.pause)
        tray.pane_requested.connect(self.on_tray_pane_requested)
        tray.remote_action_requested.connect(self.on_tray_remote_action_requested)
        tray.remote_menu.aboutToShow.connect(self.refresh_deployed)
        tray.settings_requested.connect(self.on_tray_settings_requested)
        tray.checkup_requested.connect(self.on_tray_checkup_requested)
        tray.setup_requested.connect(self.on_tray_setup_requested)
        tray.about_requested.connect(self.on_tray_about_requested)
        tray.quit_requested.connect(self.on_tray_quit_requested)
        self.confirmer = self._make_confirmer()
        self._start_hotkey()
        self.engine_ready.connect(self._on_booted)
        self.bridge.run(self.assemble, None, self._on_boot_failed)

    def _start_hotkey(self) -> None:
        from app.gui.hotkey import Hotkey

        self.hotkey = Hotkey.from_settings(self.settings.talk, parent=self)
        self.hotkey.talk_started.connect(self.talk.start)
        self.hotkey.talk_stopped.connect(self.talk.stop)
        self.hotkey.failed.connect(lambda message: self.tray.notify("Hark hotkey", message))
        self.tray.tracker.talk_hint = talk_hint(self.settings.talk, self.hotkey.start())

    def _remote(self) -> bool:
        return self.settings.remote.url is not None or self.settings.remote.use_deployment

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
        """On the engine loop: build the engine, load the speech models (the LLM warms up on
        its own task), start listening."""
        from app.compose.build import build_endpointer, build_engine
        from app.compose.listen import build_listen_loop
        from app.compose.warm import preload, warm_llm
        from app.llm.health import LlmMonitor, TurnHealthRelay

        assert self.bridge is not None
        relay = TurnHealthRelay(self.bridge.publish)
        publish: Emit = relay
        engine = build_engine(
            self.settings, publish, secrets=self.secrets, confirmer=self.confirmer
        )
        warm = asyncio.create_task(warm_llm(engine))  # the LLM loads while the rest starts
        try:
            await preload(engine)  # Whisper and the local voice: the first turn is not slower
        except BaseException:
            warm.cancel()
            raise
        wake = None
        if self.settings.talk.wake_word:
            from app.audio.wakeword import WakeWord

            wake = await asyncio.to_thread(WakeWord.from_settings, self.settings.talk)
        self.listen = build_listen_loop(
            engine,
            self.overlay.tap(self._mic(engine)),
            build_endpointer(self.settings, publish),  # the end-of-turn model loads now
            publish,
            barge_in=self.settings.talk.barge_in,
            push_to_talk=wake is None,
            wake=wake,
        )
        interval = self.settings.llm.retry_interval_s
        # checks on a rented or shared server would count as use and keep it from stopping
        monitor = LlmMonitor(
            engine.chat, publish, interval, watch_s=None if self._remote() else interval
        )
        relay.monitor = monitor
        self._tasks = [
            asyncio.create_task(self._listen(self.listen)),
            asyncio.create_task(monitor.run()),
            warm,
        ]
        if engine.server is not None:
            self._tasks.append(asyncio.create_task(engine.server.watch()))
        return engine

    def _mic(self, engine: Engine) -> FrameSource:
        """The microphone, through the engine's echo canceller (or the one a test gives)."""
        if self._microphone is not None:
            return self._microphone(self.settings)
        from app.compose.build import build_microphone

        return build_microphone(self.settings, engine)

    async def _listen(self, loop: ListenLoop) -> None:
        assert self.bridge is not None
        try:
            await loop.run()
        except HarkError as exc:  # no microphone, device gone: say so, keep the rest working
            log.warning("listening stopped: %s", exc.code)
            self.listening_failed.emit(exc.code, exc.message)  # queued to the GUI thread

    def _on_booted(self, engine: Engine) -> None:
        self.tray.tracker.server = None
        self.tray.set_starting(False)
        self.tray.set_backend(backend_words(self.settings.remote))
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

    def context(self) -> GuiContext | None:
        """What the Settings dialog and the wizards are built with now (None until the bridge
        to the engine loop is up)."""
        if self.bridge is None:
            return None
        return GuiContext(self.settings, self.services(), self.bridge, self.secrets)

    def _on_boot_failed(self, error: BaseException) -> None:
        message = error.message if isinstance(error, HarkError) else repr(error)
        log.error("Hark could not start its engine: %s", message)
        self.tray.set_starting(False)
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
        self.windows.close_all()
        overlay = getattr(self, "overlay", None)  # made by start()
        if overlay is not None:
            overlay.close()
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
        """Left click / Talk: start or end a request (see :class:`~app.gui.talk.Talk`)."""
        self.talk.toggle(clicked=True)

    # --- windows ---------------------------------------------------------------------------

    def on_tray_pane_requested(self, pane: str) -> None:
        if self.window is None:
            self.tray.notify("Hark", "Hark is still starting; the windows open once it is ready.")
            return
        self.window.show_pane(pane)

    def on_tray_type_requested(self) -> None:
        """Type a request…: the Conversation window, its request field focused."""
        if self.window is None:
            self.tray.notify("Hark", "Hark is still starting; the windows open once it is ready.")
            return
        self.window.show_request()

    def on_window_visibility_changed(self, visible: bool) -> None:
        self.tray.windows_open = 1 if visible else 0

    def on_tray_remote_action_requested(self, action: str) -> None:
        context = self.context()
        assert context is not None
        if action == "deploy":
            open_deploy(context, self.deploys, self.reload_settings)
        else:
            run_remote_action(action, self)

    def refresh_deployed(self) -> None:
        """Remote server ▸ Status/Start/Stop/Destroy work only with a server deployed."""
        self.tray.set_deployed(server_deployed())

    def on_tray_settings_requested(self, page: str | None = None) -> None:
        context = self.context()
        if context is not None:
            open_settings(
                self.windows,
                context,
                page,
                saved=self.on_settings_saved,
                deploy=lambda: self.on_tray_remote_action_requested("deploy"),
            )

    def on_tray_checkup_requested(self) -> None:
        context = self.context()
        if context is not None:
            open_checkup(
                self.windows,
                context,
                settings_requested=self.on_tray_settings_requested,
                setup_requested=self.first_run,
            )

    def on_tray_setup_requested(self) -> None:
        self.first_run()

    def on_tray_about_requested(self) -> None:
        open_about(self.windows)

    def on_settings_saved(self, settings: Settings) -> None:
        """New settings: assemble the engine again with them (the tray stays)."""
        assert self.bridge is not None
        self.settings = settings
        self.tray.set_backend(backend_words(self.settings.remote))
        if self.hotkey is not None:
            self.hotkey.stop()
        self._start_hotkey()
        self.listen = None
        self.talk.reset()  # the new listening loop says again if it cannot hear
        self.tray.set_starting(True)
        self.refresh_deployed()
        self.bridge.run(self.assemble, None, self._on_boot_failed)

    def reload_settings(self) -> None:
        """The settings file changed (a wizard saved): read it again and reassemble."""
        from app.settings.load import load_settings

        try:
            settings = load_settings()
        except HarkError as exc:
            self.tray.notify("Hark settings", exc.message, error=True)
            return
        self.on_settings_saved(settings)

    def first_run(self) -> None:
        """The setup wizard (microphone, server, voice, Google): at the first start, and from
        the tray's Run setup again…"""
        context = self.context()
        if context is not None:
            open_setup(
                self.windows, context, saved=self.reload_settings, current=lambda: self.settings
            )

    def on_tray_quit_requested(self) -> None:
        """Quit; a running Vast.ai deploy is cancelled and cleaned up first (nothing billing)."""

        def leave() -> None:
            self.shutdown()
            QApplication.quit()

        if finish_deploys_then(self.deploys, leave):
            self.tray.notify(
                "Hark", "Cancelling the running deploy; Hark quits once what it rented is removed."
            )
