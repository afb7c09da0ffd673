"""Push-to-talk in the tray app: the click, the Talk item, the hotkey, Pause, Cancel.

The tray's state says whether Hark is listening (:attr:`StateTracker.listening`), and that is
what a click toggles: a click arms the microphone and the icon turns to "listening" at once
(before any speech is heard); a click while listening ends the request; every turn that
ends leaves Hark ready for the next click. When Hark cannot listen (paused, no microphone,
still starting) it says why instead of doing nothing, and without a microphone a click opens
the Conversation window with its request field, so the user can type instead.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Protocol

from app.core.events import NoticeRaised
from app.gui.tray import NO_MICROPHONE_TIP, PAUSED, TrayController
from app.gui.wording import hotkey_words

if TYPE_CHECKING:
    from app.core.listen_loop import ListenLoop
    from app.gui.bridge import Bridge, EngineThread
    from app.gui.hotkey import HotkeyStatus
    from app.settings.schema import Settings, TalkSettings

log = logging.getLogger(__name__)

TYPE_INSTEAD = "Type to Hark instead: Type a request… in the tray menu."


def talk_hint(talk: TalkSettings, hotkey: HotkeyStatus) -> str:
    """The tray's hint for talking: the hotkey and how it works, or why there is none."""
    if hotkey.available:
        mode = "hold" if talk.hotkey_mode == "hold" else "press to start/stop"
        return f"Talk: {hotkey_words(talk.hotkey)} ({mode}) or click"
    return f"Talk: click the icon ({hotkey.message})"


def microphone_words(code: str, message: str) -> tuple[str, str]:
    """A notification's title and text for a microphone Hark cannot use."""
    if code == "audio-no-input-device":
        return "No microphone found", f"{TYPE_INSTEAD} Plug one in, then pick it in Settings."
    return "Hark cannot use the microphone", f"{message} {TYPE_INSTEAD}"


class TalkHost(Protocol):
    """The part of the app push-to-talk works with (the app itself, in the tray app)."""

    @property
    def tray(self) -> TrayController: ...

    @property
    def engine_thread(self) -> EngineThread: ...

    @property
    def bridge(self) -> Bridge | None: ...

    @property
    def listen(self) -> ListenLoop | None:
        """The listening loop, once the engine is assembled."""
        ...

    @property
    def settings(self) -> Settings: ...

    def on_tray_type_requested(self) -> None:
        """Open the Conversation window with its request field (typing instead of talking)."""
        ...


class Talk:
    """What the click, the hotkey and the Pause item do (see the module docstring)."""

    def __init__(self, hark: TalkHost) -> None:
        self._hark = hark
        self._told: set[str] = set()
        """Conditions already notified: each is told once, not after every try."""

    def toggle(self, *, clicked: bool = False) -> None:
        """A left click / Talk / the hotkey in toggle mode: start or end a request."""
        if self._hark.tray.tracker.listening:
            self.stop()
        else:
            self.start(clicked=clicked)

    def start(self, *, clicked: bool = False) -> None:
        """Arm the microphone for one request; the icon shows "listening" at once."""
        hark = self._hark
        listen = hark.listen
        why = hark.tray.talk_blocked()
        if why is not None or listen is None:
            self._explain(why, clicked=clicked)
            return
        hark.tray.set_listening(True)
        skip_ms = hark.settings.talk.skip_ms
        hark.engine_thread.call_soon(lambda: listen.arm(skip_ms=skip_ms))

    def stop(self) -> None:
        """The click again, the hotkey released: what was said so far is the request."""
        hark = self._hark
        hark.tray.set_listening(False)
        listen = hark.listen
        if listen is not None:
            hark.engine_thread.call_soon(listen.disarm)

    def cancel(self) -> None:
        """Cancel (the listening overlay): forget what is being heard, stop the turn."""
        hark = self._hark
        hark.tray.set_listening(False)
        listen = hark.listen
        if listen is not None:
            hark.engine_thread.call_soon(listen.cancel)

    def pause(self, paused: bool) -> None:
        """Pause listening (the tray's checkbox): the microphone is ignored until it is unticked."""
        hark = self._hark
        if paused:
            hark.tray.set_listening(False)
        listen = hark.listen
        if listen is not None:
            hark.engine_thread.call_soon(listen.pause, paused)

    def reset(self) -> None:
        """The engine is assembled anew (new settings): forget what was known and told."""
        self._hark.tray.set_listening(False)
        self._hark.tray.set_no_microphone(None)
        self._told.discard("microphone")

    def on_listening_failed(self, code: str, message: str) -> None:
        """The microphone cannot be used: say so once, and point at typing instead."""
        hark = self._hark
        title, words = microphone_words(code, message)
        hark.tray.set_listening(False)
        hark.tray.set_no_microphone(message)
        if hark.bridge is not None:  # the Conversation window says it too, above its field
            notice = NoticeRaised("audio-no-microphone", f"{title} — type to Hark instead.")
            hark.bridge.event_received.emit(notice)
        if "microphone" not in self._told:
            self._told.add("microphone")
            hark.tray.notify(title, words)

    def _explain(self, why: str | None, *, clicked: bool) -> None:
        """Talking cannot work now: say why (a click without a microphone opens typing)."""
        hark = self._hark
        if why == NO_MICROPHONE_TIP:
            hark.tray.notify("No microphone found", TYPE_INSTEAD)
            if clicked:
                hark.on_tray_type_requested()
        elif why == PAUSED:
            hark.tray.notify("Hark", why)
        elif hark.tray.tracker.starting:
            hark.tray.notify("Hark", "Hark is still starting; try again in a moment.")
        else:
            hark.tray.notify(
                "Hark", "Hark could not start listening; the tray icon's tooltip says why."
            )
