"""The tray's "Remote server" menu: status, start, stop and deploy of Hark's Vast.ai server.

Start and stop go through the engine's :class:`~app.deployed.DeployedServer` when Hark follows
a deployment (so its state and the tray agree), else through ``RemoteService`` directly. All
of it runs on the engine loop; answers come back as a message box or a notification.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import QMessageBox

from app.core.errors import HarkError

if TYPE_CHECKING:
    from app.gui.app import HarkApp

NO_KEY = (
    "Hark has no Vast.ai key. Deploy a server first (Remote server → Deploy to Vast.ai…), or "
    "store your key with `hark secret set vast-api-key`."
)


def run_remote_action(action: str, hark: HarkApp) -> None:
    """Do ``action`` (status / start / stop / deploy) and show how it went."""
    if action == "deploy":
        _deploy(hark)
        return
    from app.deployed import vast_service_factory

    bridge = hark.bridge
    assert bridge is not None
    server = hark.engine.server if hark.engine is not None else None
    factory = vast_service_factory(hark.secrets)
    if factory is None:
        QMessageBox.information(None, "Hark server", NO_KEY)
        return

    async def work() -> str:
        if action == "start" and server is not None:
            return f"The Hark server is ready at {await server.ensure_ready()}."
        if action == "stop" and server is not None:
            await server.stop()
            return "The Hark server is stopped; its disk is kept (a small storage charge)."
        from remote.deploy.cli import describe_status

        async with factory() as service:
            if action == "status":
                return str(describe_status(await service.status()))
            if action == "start":
                record = await service.start()
                return f"The Hark server runs at {record.url if record else 'its new address'}."
            chosen = await service.stop()
            return f"Instance {chosen} is stopped; its disk is kept (a small storage charge)."

    def done(text: Any) -> None:
        QMessageBox.information(None, "Hark server", str(text))

    def failed(error: BaseException) -> None:
        message = error.message if isinstance(error, HarkError) else repr(error)
        QMessageBox.warning(None, "Hark server", message)

    if action in ("start", "stop"):
        hark.tray.notify("Hark server", f"{action.capitalize()}ing the Hark server…")
    bridge.run(work, done, failed)


def _deploy(hark: HarkApp) -> None:
    """The Vast.ai wizard; when a server is ready Hark reads its settings again and uses it."""
    from PySide6.QtCore import Qt

    from app.gui.wizards import RemoteWizard
    from app.settings_file import save_settings

    assert hark.bridge is not None
    wizard = RemoteWizard(hark.bridge, hark.secrets, hark.settings, save_settings)
    wizard.deployed.connect(lambda _deployment: hark.reload_settings())
    wizard.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    wizard.show()
