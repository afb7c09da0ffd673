"""The Vast.ai wizard: rent a GPU and bring a Hark server up on it, with live progress.

Key → offers → deploy → ready, as ``hark remote offers`` and ``hark remote deploy`` do it
(:mod:`app.cli.remote_deploy`), behind a window:

- the key is checked with Vast.ai (a list of your instances, then the offer search) and kept
  in the keyring as ``vast-api-key`` once it worked;
- the offers that fit ``llm.model`` plus Whisper are listed cheapest first; the selected one
  is rented (pinned: no other machine is tried behind your back);
- the :class:`~remote.deploy.deployer.Deployer` runs on the engine loop through
  :meth:`~app.gui.bridge.Bridge.run`; its ``on_progress`` (called on that loop) re-emits each
  event as the Qt signal ``RemoteWizard.progressed`` (on a relay owned by the bridge), which
  Qt delivers on the GUI thread;
- on success ``remote.use_deployment = true`` is saved (the address follows the deployment
  record), on failure the page shows the deployer's final message and whether anything Hark
  created is left billing (from the deployment records).

Cancel (or closing the window) during the deploy cancels the deployer's task once; the
deployer destroys what it made before it ends, and the wizard waits for that and then says
what is left, instead of vanishing while an instance may still bill.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QWidget, QWizard

from app.gui.bridge import Bridge, Relay, while_alive
from app.gui.wizards.deploy_pages import (
    DEPLOY,
    FAILED,
    KEY,
    OFFERS,
    READY,
    DeployPage,
    KeyPage,
    OffersPage,
    ResultPage,
)
from app.gui.wizards.deploy_parts import (
    MakeDeployer,
    MakeVast,
    default_make_deployer,
    default_make_vast,
)
from app.gui.wording import user_message
from app.shared.errors import HarkError

if TYPE_CHECKING:
    from app.gui.wizards.common import Updates
    from app.settings.schema import Settings
    from app.settings.secrets import SecretStore
    from remote.deploy.records import Deployment, RecordStore
    from remote.vast.client import VastClient
    from remote.vast.models import Offer

log = logging.getLogger(__name__)

VAST_SECRET = "vast-api-key"
USE_DEPLOYMENT: Updates = {"remote": {"use_deployment": True, "url": None, "ca_cert": None}}
"""What a ready deploy saves: Hark then uses the newest deployed server (and follows its
address after a restart); an explicit ``remote.url`` would win over it, so it is removed."""

Save = Callable[["Updates"], Any]


class _Cancelled:
    """The deploy task's answer when it was cancelled (after the deployer cleaned up)."""


CANCELLED = _Cancelled()


class RemoteWizard(QWizard):
    """Deploys a Hark server on Vast.ai; see the module docstring."""

    deployed = Signal(object)
    """The ready :class:`~remote.deploy.records.Deployment`."""

    def __init__(
        self,
        bridge: Bridge,
        secrets: SecretStore,
        settings: Settings,
        save: Save,
        *,
        records: RecordStore | None = None,
        make_vast: MakeVast = default_make_vast,
        make_deployer: MakeDeployer | None = None,
        model: str | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        from remote.deploy.records import RecordStore

        if records is None:
            from remote.deploy.records import records_folder

            records = RecordStore(records_folder())
        self.setWindowTitle("Deploy a Hark server on Vast.ai")
        self.setWizardStyle(QWizard.WizardStyle.ModernStyle)
        self._bridge = bridge
        self._secrets = secrets
        self._save = save
        self.records = records
        self._make_vast = make_vast
        self._make_deployer = make_deployer or default_make_deployer(secrets)
        self.model = model or settings.llm.model
        self.vast: VastClient | None = None
        self.offers: list[Offer] = []
        self.deployment: Deployment | None = None
        self.deploying = False
        self._cancel_asked = False
        self._task: asyncio.Task[Any] | None = None
        self._before: set[int] = set()

        stored = bool(secrets.get(VAST_SECRET))
        self.key_page = KeyPage(bridge, stored, work=self, parent=self)
        self.offers_page = OffersPage(self.model, work=self, parent=self)
        self.deploy_page = DeployPage(work=self, parent=self)
        self.ready_page = ResultPage("Your server is ready", self)
        self.failed_page = ResultPage("No server was deployed", self)
        for page_id, page in (
            (KEY, self.key_page),
            (OFFERS, self.offers_page),
            (DEPLOY, self.deploy_page),
            (READY, self.ready_page),
            (FAILED, self.failed_page),
        ):
            self.setPage(page_id, page)
        self.setStartId(KEY)
        self._relay = Relay(bridge)
        self.progressed = self._relay.carried
        """Each :class:`~remote.deploy.options.DeployProgress`, emitted on the engine loop
        and delivered on the GUI thread."""
        self.progressed.connect(self.deploy_page.on_wizard_progressed)

    @classmethod
    def ask(
        cls, bridge: Bridge, secrets: SecretStore, settings: Settings, save: Save, **parts: Any
    ) -> Deployment | None:
        """Run the wizard modally; the ready deployment, or None (cancelled or failed)."""
        wizard = cls(bridge, secrets, settings, save, **parts)
        try:
            wizard.exec()
            return wizard.deployment
        finally:
            wizard.deleteLater()

    # --- the key and the offers (engine loop) -------------------------------------------------

    async def check_key(self, typed: str) -> str | None:
        """Try the key (typed, else stored) with Vast.ai and fetch the offers; runs on the loop."""
        from remote.vast.errors import DeployError, VastCode

        key = typed or self._secrets.get(VAST_SECRET) or ""
        if not key:
            return "Paste your Vast.ai API key (cloud.vast.ai → Account → API keys)."
        vast = self._make_vast(key)
        try:
            await vast.list_instances()
            offers = await self._search(vast)
        except DeployError as exc:
            await vast.aclose()
            if exc.code == VastCode.AUTH:
                return "Vast.ai refused this key. Check it at cloud.vast.ai → Account → API keys."
            return exc.message[:1].upper() + exc.message[1:]
        except BaseException:
            await vast.aclose()
            raise
        if typed and self._secrets.get(VAST_SECRET) != typed:
            await asyncio.to_thread(self._secrets.set, VAST_SECRET, typed)
            log.info("stored the Vast.ai API key in the keyring (%s)", VAST_SECRET)
        old, self.vast, self.offers = self.vast, vast, offers
        if old is not None:
            await old.aclose()
        return None

    async def _search(self, vast: VastClient) -> list[Offer]:
        from remote.deploy.offers import offer_query, rank_offers

        query = offer_query(self.model)
        return rank_offers(await vast.search_offers(query), query)

    def refresh_offers(
        self, on_result: Callable[[list[Offer]], None], on_error: Callable[[BaseException], None]
    ) -> None:
        vast = self.vast
        if vast is None:
            return
        self._bridge.run(
            self._search(vast), while_alive(self, on_result), while_alive(self, on_error)
        )

    # --- the deploy -----------------------------------------------------------------------------

    def start_deploy(self) -> None:
        """Rent the selected offer and bring the server up (the deploy page shows how)."""
        from remote.deploy.options import DeployOptions

        offer, vast = self.offers_page.chosen(), self.vast
        if offer is None or vast is None:
            self._finish_failed("Nothing was picked to rent.")
            return
        self.deploying, self._cancel_asked, self._task = True, False, None
        self._before = {d.instance_id for d in self.records.all()}
        deployer = self._make_deployer(vast, self.records, self.progressed.emit)
        options = DeployOptions(model=self.model, offer_id=offer.id)
        log.info("deploying on Vast.ai offer %s for %s", offer.id, self.model)

        async def job() -> Any:
            self._task = asyncio.current_task()
            if self._cancel_asked:
                return CANCELLED
            try:
                return await deployer.deploy(options)
            except asyncio.CancelledError:
                return CANCELLED  # the deployer has destroyed what it made by now

        self._bridge.run(
            job, while_alive(self, self._on_deploy_result), while_alive(self, self._on_deploy_error)
        )

    def cancel_deploy(self) -> None:
        """Cancel the running deploy (once); its clean-up runs before the result arrives."""
        if not self.deploying or self._cancel_asked:
            return
        self._cancel_asked = True
        self.deploy_page.status.show_text(
            "busy", "Cancelling: Hark is removing what it rented. This can take a moment…"
        )
        self.button(QWizard.WizardButton.CancelButton).setEnabled(False)
        self._bridge.engine.call_soon(self._cancel_on_loop)

    def _cancel_on_loop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    def _on_deploy_result(self, result: object) -> None:
        self.deploying = False
        self.button(QWizard.WizardButton.CancelButton).setEnabled(True)
        if result is CANCELLED:
            self._finish_failed("You cancelled the deploy.")
            return
        from remote.deploy.records import Deployment

        if not isinstance(result, Deployment):
            log.warning("deploy ended without a deployment: %r", result)
            self._finish_failed("The deploy ended without a server. Try again in a while.")
            return
        self.deployment = result
        text = (
            f"Address: {result.url}\n"
            f"Machine: {result.gpu_name or 'GPU'}, ${result.dph_total:.3f}/hour\n\n"
            "Hark will use it from now on. It bills until you stop or destroy it from Hark's "
            "tray menu; Hark also stops it after a while unused."
        )
        self.ready_page.text.setText(text)
        try:
            self._save(USE_DEPLOYMENT)
        except HarkError as exc:
            log.warning("deployment not saved in the settings: %s", exc.code)
            self.ready_page.status.show_text(
                "error",
                f"The server is ready, but the setting was not saved: {exc.message}. Turn on "
                "“use the deployed server” in Settings → Server.",
            )
        self.deployed.emit(result)
        self.deploy_page.settle(True)

    def _on_deploy_error(self, error: BaseException) -> None:
        self.deploying = False
        self.button(QWizard.WizardButton.CancelButton).setEnabled(True)
        message = user_message(error, "The deploy")
        log.warning("deploy failed: %s", getattr(error, "code", type(error).__name__))
        self._finish_failed(message[:1].upper() + message[1:])

    def _finish_failed(self, why: str) -> None:
        left = [d for d in self.records.all() if d.instance_id not in self._before]
        if left:
            after = "\n".join(
                f"Instance {d.instance_id} is left ({d.state}) and may still bill: destroy it "
                "from Hark's tray menu (Remote server ▸ Destroy…)."
                for d in left
            )
        else:
            after = "Nothing Hark rented is left on Vast.ai: nothing bills."
        self.failed_page.text.setText(f"{why}\n\n{after}")
        self.deploy_page.settle(False)

    # --- closing --------------------------------------------------------------------------------

    def reject(self) -> None:
        """Cancel (or Esc, or the close button): during a deploy, cancel it and stay open."""
        if self.deploying:
            self.cancel_deploy()
            return
        super().reject()

    def done(self, result: int) -> None:
        vast, self.vast = self.vast, None
        if vast is not None and self._bridge.engine.running:
            self._bridge.run(vast.aclose, None, None)
        super().done(result)

    def keyPressEvent(self, event: Any) -> None:
        if self.deploying and event.key() == Qt.Key.Key_Escape:
            event.accept()  # a stray Esc must not cancel a deploy: Cancel does, on purpose
            return
        super().keyPressEvent(event)

    def closeEvent(self, event: Any) -> None:
        if self.deploying:
            event.ignore()
            self.cancel_deploy()
            return
        super().closeEvent(event)
