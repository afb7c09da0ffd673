"""The app's own windows: one of each, kept alive by the app, brought to the front when asked
for again.

PySide6 deletes a window that has no parent as soon as its last Python reference goes, so a
dialog opened from a tray menu and held only by a local variable vanishes before it is ever
painted. :class:`OwnedWindows` is that reference: it keeps each window by name until Qt
destroys it (they are made with ``WA_DeleteOnClose``), and a second request for a window that
is still open raises the one on screen instead of stacking another copy.

The ``open_*`` functions make the app's windows by name: each is given the
:class:`~app.gui.context.GuiContext` it is built with and the callbacks it answers to.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

import shiboken6
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWidget

from app.shared.paths import config_path

if TYPE_CHECKING:
    from app.gui.context import GuiContext
    from app.settings.schema import Settings

log = logging.getLogger(__name__)

W = TypeVar("W", bound=QWidget)


class OwnedWindows:
    """Named windows the app owns (Settings, the setup wizard, Check my setup, About…)."""

    def __init__(self) -> None:
        self._open: dict[str, QWidget] = {}

    def show(self, name: str, make: Callable[[], W]) -> W | QWidget:
        """Raise the window called ``name`` if it is open, else make it, keep it and show it."""
        window = self.get(name)
        if window is not None:
            raise_window(window)
            return window
        window = make()
        window.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self._open[name] = window
        window.destroyed.connect(lambda _=None, n=name: self._forget(n))
        raise_window(window)
        log.debug("window opened: %s", name)
        return window

    def get(self, name: str) -> QWidget | None:
        """The open window called ``name``, or None."""
        window = self._open.get(name)
        if window is not None and not shiboken6.isValid(window):  # deleted behind our back
            self._forget(name)
            return None
        return window

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def __iter__(self) -> Iterator[QWidget]:
        return iter([w for name in list(self._open) if (w := self.get(name)) is not None])

    def close_all(self) -> None:
        """Quit: close every window."""
        for window in self:
            window.close()

    def _forget(self, name: str) -> None:
        self._open.pop(name, None)


def raise_window(window: QWidget) -> None:
    """Show ``window`` on top and give it the keyboard (un-minimized if it was)."""
    if window.isMinimized():
        window.showNormal()
    window.show()
    window.raise_()
    window.activateWindow()


# --- the app's windows, by name ------------------------------------------------------------


def open_settings(
    windows: OwnedWindows,
    context: GuiContext,
    page: str | None = None,
    *,
    saved: Callable[[Settings], None],
    deploy: Callable[[], None],
) -> QWidget:
    """Settings… (at the page titled ``page``, when given: ``"Audio"``, ``"Voice|Server"``);
    ``saved`` gets the new settings, ``deploy`` opens the Vast.ai wizard."""
    from app.gui.dialogs.settings import SettingsDialog

    def make() -> SettingsDialog:
        dialog = SettingsDialog(context)
        dialog.settings_saved.connect(saved)
        dialog.deploy_requested.connect(deploy)
        return dialog

    window = windows.show("settings", make)
    if page and isinstance(window, SettingsDialog):  # "a|b": the first of those pages there is
        titles = {each.title.lower(): each for each in window.pages}
        for wanted in page.lower().split("|"):
            if wanted in titles:
                window.show_page(titles[wanted])
                break
    return window


def open_setup(
    windows: OwnedWindows,
    context: GuiContext,
    *,
    saved: Callable[[], None],
    current: Callable[[], Settings],
) -> QWidget:
    """The setup wizard: at the first start, and from Run setup again… (``saved`` once it
    has written the settings file; ``current``: the app's settings when Deploy is clicked)."""
    from app.gui.wizards import FirstRunWizard, RemoteWizard
    from app.gui.wizards.voice_page import default_speak
    from app.settings.file import save_settings

    first_time = not config_path().exists()
    settings, bridge, secrets = context.settings, context.bridge, context.secrets

    def open_deploy(parent: Any) -> bool:
        made = RemoteWizard.ask(bridge, secrets, current(), save_settings, parent=parent)
        return made is not None

    def make() -> FirstRunWizard:
        wizard = FirstRunWizard(
            context, save_settings, speak=default_speak(settings), open_deploy=open_deploy
        )
        wizard.setup_saved.connect(lambda _saved: saved())
        if first_time:  # cancelled: an empty settings file, so it does not come back
            wizard.rejected.connect(lambda: save_settings({}))
        return wizard

    return windows.show("setup", make)


def open_checkup(
    windows: OwnedWindows,
    context: GuiContext,
    *,
    settings_requested: Callable[[str], None],
    setup_requested: Callable[[], None],
) -> QWidget:
    """Check my setup: the doctor's checks, each with its fix (a Settings page, or the setup
    wizard)."""
    from app.gui.dialogs.checkup import CheckupDialog

    def make() -> CheckupDialog:
        dialog = CheckupDialog(context.settings, context.secrets, context.bridge)
        dialog.settings_requested.connect(settings_requested)
        dialog.setup_requested.connect(setup_requested)
        dialog.start()
        return dialog

    return windows.show("checkup", make)


def open_about(windows: OwnedWindows) -> QWidget:
    """About Hark."""
    from app.gui.dialogs.about import AboutDialog

    return windows.show("about", AboutDialog)
