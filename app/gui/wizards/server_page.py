"""The first-run wizard's server choice: this computer, your own Hark server, or a GPU rented
on Vast.ai.

An existing server is checked before Next lets you on, exactly as ``hark doctor`` does it
(:func:`app.doctor.llm_server.check_remote`: ``/healthz`` without the key, then ``/status`` with
it, over
TLS pinned to the certificate you picked), so a typo in the address or a wrong key is caught
here and not at the first question. The key is only written to the keyring when the wizard
finishes.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError
from PySide6.QtCore import Slot
from PySide6.QtWidgets import (
    QButtonGroup,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from app.gui.wizards.common import CheckedPage, Updates
from app.settings.schema import RemoteSettings, Settings
from app.settings.secrets import SecretStore

if TYPE_CHECKING:
    from collections.abc import Awaitable

    from app.gui.bridge import Bridge

OpenDeploy = Callable[[QWidget], bool]
"""Opens the Vast.ai wizard (modal) over the given parent; True when a server was deployed."""

LOCAL, EXISTING, DEPLOY = 0, 1, 2


class ServerPage(CheckedPage):
    """Where speech recognition and the language model run."""

    def __init__(
        self,
        bridge: Bridge,
        settings: Settings,
        open_deploy: OpenDeploy | None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(bridge, parent)
        self.setTitle("Where Hark thinks")
        self.setSubTitle(
            "Hark can run everything on this computer, or use a Hark server with a GPU."
        )
        self._settings = settings
        self._open_deploy = open_deploy
        self.deployed = False

        self.local = QRadioButton("On this computer (private; slower without a GPU)", self)
        self.existing = QRadioButton("My Hark server", self)
        self.deploy = QRadioButton("Rent a GPU server on Vast.ai (billed by the hour)", self)
        for button in (self.local, self.existing, self.deploy):
            button.setAccessibleName(button.text())
        self.choice = QButtonGroup(self)
        for i, button in enumerate((self.local, self.existing, self.deploy)):
            self.choice.addButton(button, i)

        self.url = QLineEdit(settings.remote.url or "", self)
        self.url.setPlaceholderText("https://203.0.113.7:41234")
        self.url.setAccessibleName("Server address")
        self.key = QLineEdit(self)
        self.key.setEchoMode(QLineEdit.EchoMode.Password)
        self.key.setPlaceholderText("the server's API key")
        self.key.setAccessibleName("Server API key")
        self.cert = QLineEdit(str(settings.remote.ca_cert or ""), self)
        self.cert.setPlaceholderText("the server's certificate (.pem), if self-signed")
        self.cert.setAccessibleName("Server certificate file")
        browse = QPushButton("Browse…", self)
        browse.clicked.connect(self.on_browse_clicked)
        cert_row = QHBoxLayout()
        cert_row.addWidget(self.cert, 1)
        cert_row.addWidget(browse)
        self.server_form = QWidget(self)
        form = QFormLayout(self.server_form)
        form.setContentsMargins(24, 0, 0, 0)
        form.addRow("Address:", self.url)
        form.addRow("API key:", self.key)
        form.addRow("Certificate:", cert_row)

        self.deploy_button = QPushButton("Set up a server on Vast.ai…", self)
        self.deploy_button.setAccessibleName("Set up a server on Vast.ai")
        self.deploy_button.clicked.connect(self.on_deploy_button_clicked)
        if open_deploy is None:
            self.deploy.setEnabled(False)
            self.deploy_button.setEnabled(False)

        layout = QVBoxLayout(self)
        layout.addWidget(self.local)
        layout.addWidget(self.existing)
        layout.addWidget(self.server_form)
        layout.addWidget(self.deploy)
        layout.addWidget(self.deploy_button)
        layout.addWidget(self.status)
        layout.addStretch(1)

        start = EXISTING if settings.remote.url else DEPLOY if settings.remote.use_deployment else 0
        if start == DEPLOY and open_deploy is None:
            start = LOCAL
        self.choice.button(start).setChecked(True)
        self.choice.idToggled.connect(self.on_choice_toggled)
        for edit in (self.url, self.key, self.cert):
            edit.textChanged.connect(self.inputs_changed)
        self._show_fields()

    def chosen(self) -> int:
        return self.choice.checkedId()

    def _show_fields(self) -> None:
        self.server_form.setEnabled(self.chosen() == EXISTING)
        self.deploy_button.setVisible(self.chosen() == DEPLOY)

    @Slot(int, bool)
    def on_choice_toggled(self, _id: int, checked: bool) -> None:
        if checked:
            self._show_fields()
            self.inputs_changed()
            if self.chosen() == DEPLOY and self.deployed:
                self.status.show_text("ok", "Your Vast.ai server is ready; Hark will use it.")

    @Slot()
    def on_browse_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "The server's certificate", "", "Certificates (*.pem *.crt);;All files (*)"
        )
        if path:
            self.cert.setText(path)

    @Slot()
    def on_deploy_button_clicked(self) -> None:
        if self._open_deploy is None:
            return
        self.deployed = self._open_deploy(self) or self.deployed
        if self.deployed:
            self.status.show_text("ok", "Your Vast.ai server is ready; Hark will use it.")
        else:
            self.status.show_text("info", "No server was deployed yet.")
        self.completeChanged.emit()

    # --- CheckedPage --------------------------------------------------------------------------

    def ready(self) -> bool:
        if self.chosen() == EXISTING:
            return bool(self.url.text().strip() and self.key.text().strip())
        if self.chosen() == DEPLOY:
            return self.deployed
        return True

    def check_key(self) -> object:
        if self.chosen() != EXISTING:
            return None
        return (self.url.text().strip(), self.key.text().strip(), self.cert.text().strip())

    def precheck(self) -> str | None:
        try:
            RemoteSettings(url=self.url.text().strip())
        except ValidationError as exc:
            detail = exc.errors()[0]["msg"].removeprefix("Value error, ")
            return f"That address does not work: {detail}"
        cert = self.cert.text().strip()
        if cert and not Path(cert).expanduser().is_file():
            return f"There is no certificate file at {cert}. Pick the server's .pem file."
        return None

    def checking_text(self) -> str:
        return "Checking the server…"

    def passed_text(self) -> str:
        return "The server answers and takes the key."

    def check(self) -> Awaitable[str | None]:
        url, key, cert = self.url.text().strip(), self.key.text().strip(), self.cert.text().strip()
        remote = self._settings.remote.model_copy(
            update={"url": url, "ca_cert": Path(cert).expanduser() if cert else None}
        )
        settings = self._settings.model_copy(update={"remote": remote})
        return _check_server(settings, key)

    # --- the result ---------------------------------------------------------------------------

    def updates(self) -> Updates:
        if self.chosen() == EXISTING:
            cert = self.cert.text().strip()
            return {
                "remote": {
                    "url": self.url.text().strip(),
                    "ca_cert": str(Path(cert).expanduser()) if cert else None,
                    "use_deployment": False,
                }
            }
        deployment = self.chosen() == DEPLOY
        return {"remote": {"url": None, "ca_cert": None, "use_deployment": deployment}}

    def secrets(self) -> dict[str, str]:
        if self.chosen() == EXISTING:
            return {"server-api-key": self.key.text().strip()}
        return {}


async def _check_server(settings: Settings, key: str) -> str | None:
    """``hark doctor``'s server check with the key typed in (not yet in the keyring)."""
    from app.doctor.llm_server import check_remote

    found = await check_remote(settings, SecretStore(env={"HARK_SERVER_API_KEY": key}))
    if found.status != "fail":
        return None
    detail = found.detail[:1].upper() + found.detail[1:]
    if "API key" in detail:
        hint = "Check the API key (the one the server was started with)."
    elif "TLS" in detail or "certificate" in detail:
        hint = "Pick the certificate this server presents."
    elif "unreachable" in found.detail or "not a Hark server" in detail:
        hint = "Check the address and port, and that the server runs."
    else:
        hint = "See the server's log."
    return f"{detail}. {hint}"
