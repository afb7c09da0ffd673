"""The tray's "Remote server" menu: status, start, stop, destroy and deploy of Hark's server.

Start and stop go through the engine's
:class:`~remote.deploy.deployed.DeployedServer` when Hark follows
a deployment (so its state and the tray agree), else through ``RemoteService`` directly. All
of it runs on the engine loop; answers come back as a message box or a notification. The
tray also says here which server Hark uses, and whether one is deployed to act on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QMessageBox

from app.gui.tray import TrayController
from app.shared.errors import HarkError

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from app.compose.build import Engine
    from app.gui.bridge import Bridge
    from app.gui.context import GuiContext
    from app.settings.schema import RemoteSettings
    from app.settings.secrets import SecretStore

NO_KEY = (
    "Hark has no Vast.ai API key yet. Use Remote server ▸ Deploy to Vast.ai…: its first page "
    "takes the key, then rents and sets up the server."
)


def backend_words(remote: RemoteSettings) -> str:
    """Where the models run, for the tray's tooltip: a Hark server, a Vast.ai one, or here."""
    if remote.url:
        return f"Hark server {remote.url}"
    if remote.use_deployment:
        from remote.deploy.deployed import records

        record = records().current()
        if record is not None:
            return f"Vast.ai server {record.label} (${record.dph_total:.3f}/hour)"
    return "this computer"


def server_deployed() -> bool:
    """Whether a server is deployed (Status/Start/Stop/Destroy have something to act on)."""
    from remote.deploy.deployed import records

    try:
        return records().current() is not None
    except (HarkError, OSError, ValueError):  # an unreadable record: nothing to act on
        return False


def _message_box(text: str, error: bool) -> None:
    box = QMessageBox(
        QMessageBox.Icon.Warning if error else QMessageBox.Icon.Information,
        "Hark server",
        text,
        QMessageBox.StandardButton.Ok,
    )
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    _boxes.append(box)  # owned until closed (a box with no parent is deleted with its reference)
    box.destroyed.connect(lambda _=None: _boxes.remove(box))
    box.show()


_boxes: list[QMessageBox] = []


class RemoteHost(Protocol):
    """The part of the app the menu's actions work with (the app itself, in the tray app)."""

    @property
    def bridge(self) -> Bridge | None: ...

    @property
    def engine(self) -> Engine | None:
        """The assembled engine: its server follower starts and stops a followed deployment."""
        ...

    @property
    def secrets(self) -> SecretStore: ...

    @property
    def tray(self) -> TrayController: ...

    def reload_settings(self) -> None:
        """Read the settings file again and reassemble the engine (after a destroy)."""
        ...


def run_remote_action(
    action: str,
    hark: RemoteHost,
    *,
    tell: Callable[[str, bool], None] = _message_box,
    sure: Callable[[], bool] | None = None,
) -> None:
    """Do ``action`` (status / start / stop / destroy) and show how it went; Deploy is
    :func:`open_deploy`.

    ``tell(text, error)`` shows the answer and ``sure()`` asks before destroying (message
    boxes; tests answer them)."""
    from remote.deploy.deployed import vast_service_factory

    bridge = hark.bridge
    assert bridge is not None
    server = hark.engine.server if hark.engine is not None else None
    factory = vast_service_factory(hark.secrets)
    if factory is None:
        tell(NO_KEY, False)
        return
    if action == "destroy" and not (sure or _sure_to_destroy)():
        return

    async def work() -> str:
        if action == "start" and server is not None:
            return f"The Hark server is ready at {await server.ensure_ready()}."
        if action == "stop" and server is not None:
            await server.stop()
            return "The Hark server is stopped; its disk is kept (a small storage charge)."
        from app.gui.deploy_words import describe_status

        async with factory() as service:
            if action == "status":
                return describe_status(await service.status())
            if action == "destroy":
                existed = await service.destroy()
                return (
                    "The Hark server and its disk are destroyed: nothing bills any more."
                    if existed
                    else "Vast.ai no longer had that server; Hark forgot it."
                )
            if action == "start":
                record = await service.start()
                return f"The Hark server runs at {record.url if record else 'its new address'}."
            await service.stop()
            return "The Hark server is stopped; its disk is kept (a small storage charge)."

    def done(text: Any) -> None:
        tell(str(text), False)
        if action == "destroy":
            hark.reload_settings()  # the models run where the settings now say

    def failed(error: BaseException) -> None:
        from app.gui.deploy_words import error_words

        if not isinstance(error, HarkError):
            log.warning("the remote server action %s failed: %r", action, error)
        tell(error_words(error), True)

    if action in ("start", "stop"):
        hark.tray.notify("Hark server", f"{action.capitalize()}ing the Hark server…")
    bridge.run(work, done, failed)


def _sure_to_destroy() -> bool:
    answer = QMessageBox.question(
        None,
        "Destroy the Hark server?",
        "This removes the rented machine and its disk: billing ends, and the next deploy "
        "starts from scratch (the model is pulled again). Stop keeps the disk instead.",
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
        QMessageBox.StandardButton.Cancel,
    )
    return bool(answer == QMessageBox.StandardButton.Yes)


def open_deploy(context: GuiContext, deploys: list[Any], deployed: Callable[[], None]) -> None:
    """The Vast.ai wizard, kept in ``deploys`` while it is open; ``deployed`` when a server is
    ready (Hark reads its settings again and uses it)."""
    from app.gui.wizards import RemoteWizard
    from app.settings.file import save_settings

    wizard = RemoteWizard(context.bridge, context.secrets, context.settings, save_settings)
    wizard.deployed.connect(lambda _deployment: deployed())
    deploys.append(wizard)
    wizard.destroyed.connect(lambda _=None: deploys.remove(wizard))
    wizard.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    wizard.show()


def finish_deploys_then(
    deploys: list[Any], then: Callable[[], None], *, limit_s: float = 180.0, every_ms: int = 200
) -> bool:
    """Quit safely: cancel running deploys, wait until each has removed what it rented (the
    deployer's clean-up runs on the engine loop, which must not be stopped under it), then call
    ``then``. Returns False when nothing was running (``then`` was called at once)."""
    running = [w for w in deploys if getattr(w, "deploying", False)]
    if not running:
        then()
        return False
    for wizard in running:
        wizard.cancel_deploy()
    timer = QTimer()
    waited = [0]

    def check() -> None:
        waited[0] += every_ms
        if any(getattr(w, "deploying", False) for w in running) and waited[0] < limit_s * 1000:
            return
        timer.stop()
        then()

    timer.timeout.connect(check)
    timer.start(every_ms)
    _timers.append(timer)
    return True


_timers: list[QTimer] = []
"""Keeps the waiting timers alive until the app quits."""
