"""Deploy a Hark server on Vast.ai: rent, wait with visible progress, never leave an orphan.

``Deployer.deploy`` makes the server's credentials first (``credentials.make_credentials``),
then for each suitable offer (cheapest first, at most ``DeployTimeouts.max_offers``):

1. ``creating``: rent it (``cancel_unavail``, label ``hark-…``, the bootstrap as ``onstart``,
   the key and the TLS pair in the environment); the record is saved at once (state
   ``creating``) so ``hark remote`` knows the instance even if Hark dies now;
2. ``booting``: poll the instance until Vast.ai says it runs;
3. ``address``: read its public IP and the host port that reaches our port;
4. ``tls``: ``GET /healthz`` over TLS pinned to our certificate until anything answers;
5. ``upload``: the box's bootstrap asks for Hark's code (``/status`` says ``awaiting-code``):
   this Hark's wheel (:mod:`remote.deploy.code`, whose SHA-256 the instance's environment
   names) goes up over the same pinned TLS with the key, with progress; a cut upload is sent
   again, a refused one fails the deploy;
6. ``provisioning``: ``GET /status`` with the key until the model is pulled (its progress is
   shown, and each finished boot step with its duration) and ``/healthz`` says ok;
7. ``ready``: the API key goes to the keyring (``server-api-key``), the certificate to
   ``<cert_dir>/<instance id>.pem`` (:meth:`Deployer.cert_path`), the record gets the address
   and state ``ready``.

Every step has its own time limit (:class:`DeployTimeouts`). A machine that fails — its
instance exits, goes offline or disappears, never runs, never shows its port, never answers on
it, or never becomes ready — is destroyed and skipped, and the next offer is tried. An offer
taken meanwhile (``no_such_ask``) is skipped too. Anything else after a create (an error,
Ctrl-C, which arrives as ``asyncio.CancelledError``) destroys the instance and removes its
record, unless ``keep=True``: then the instance, its record (state ``failed``), the key and the
certificate are kept so the user can look at it (and must destroy it themselves).

A create whose answer was lost (``vast-create-uncertain``) is NOT adopted: the instances with
that create's unique label are looked up and destroyed, and the deploy fails with a clear
error (run it again). If Hark cannot destroy something, it keeps the record (state
``destroy-failed``) and says which instance to destroy; it never fails silently.

The waits of steps 2–6 are in :mod:`remote.deploy.waits`, the destroying in
:mod:`remote.deploy.cleanup`, the options and limits in :mod:`remote.deploy.options`.
"""

from __future__ import annotations

import asyncio
import logging
import secrets as random_secrets
import ssl
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

from app.settings.secrets import SecretStore
from app.shared.paths import data_dir
from app.shared.tls import pinned_ssl_context
from remote.deploy.bootstrap import bootstrap_script
from remote.deploy.cleanup import Cleanup
from remote.deploy.code import CodeBundle, current_code
from remote.deploy.credentials import Credentials, instance_env, make_credentials
from remote.deploy.errors import DeployCode
from remote.deploy.offers import offer_query, rank_offers
from remote.deploy.options import DeployOptions, DeployProgress, DeployTimeouts, Step
from remote.deploy.records import Deployment, RecordStore, new_label, utc_now_iso
from remote.deploy.waits import BoxWaits, MachineFailed
from remote.vast.client import VastClient
from remote.vast.errors import DeployError, VastCode
from remote.vast.models import Offer

log = logging.getLogger(__name__)

SERVER_KEY_SECRET = "server-api-key"


class _OfferGone(Exception):
    """The offer was taken or withdrawn before our create: nothing was made."""


class Deployer:
    """Rents and brings up a Hark server; see the module docstring for the steps and rules.

    ``on_progress`` is called on the event loop's thread (a GUI re-emits it as a signal);
    ``probe_ssl`` makes the client context from the certificate PEM; ``sleep`` and ``clock``
    let tests run the waits without real time.
    """

    def __init__(
        self,
        vast: VastClient,
        records: RecordStore,
        secrets: SecretStore,
        *,
        on_progress: Callable[[DeployProgress], None] = lambda progress: None,
        probe_ssl: Callable[[str], ssl.SSLContext] = pinned_ssl_context,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        timeouts: DeployTimeouts | None = None,
        cert_dir: Path | None = None,
        code: Callable[[], CodeBundle] | None = None,
    ) -> None:
        self._vast = vast
        self._records = records
        self._secrets = secrets
        self._on_progress = on_progress
        self._probe_ssl = probe_ssl
        self.timeouts = timeouts or DeployTimeouts()
        self._waits = BoxWaits(vast, self.timeouts, self._emit, sleep=sleep, clock=clock)
        self._cleanup = Cleanup(vast, records, self.timeouts, sleep=sleep)
        self.cert_dir = cert_dir or data_dir() / "servers"
        self._code = code or (lambda: current_code(data_dir() / "box-code"))

    def cert_path(self, instance_id: int) -> Path:
        """Where the pinned certificate of ``instance_id`` is written once it is ready."""
        return self.cert_dir / f"{int(instance_id)}.pem"

    async def offers(
        self, model: str, max_dph: float | None = None, *, disk_gb: float = 40.0
    ) -> list[Offer]:
        """Offers that can run ``model`` (and Whisper) under ``max_dph`` $/hour, cheapest first."""
        query = offer_query(model, max_dph=max_dph, disk_gb=disk_gb)
        return rank_offers(await self._vast.search_offers(query), query)

    async def deploy(self, options: DeployOptions) -> Deployment:
        """Rent a machine and bring a Hark server up on it; the ready record is returned.

        Raises :class:`DeployError` (a ``deploy-*`` :class:`DeployCode`, or the Vast.ai
        client's :class:`VastCode`) when no server came up; by then nothing Hark created is
        left running unless ``keep``.
        """
        creds = make_credentials()
        try:
            code = await asyncio.to_thread(self._code)
        except OSError as exc:
            raise DeployError(
                DeployCode.DEPLOY_CODE_REFUSED,
                f"Hark could not pack its own code for the box: {exc}",
            ) from exc
        self._emit("creating", f"looking for offers (the box will run {code.describe()})")
        candidates = await self._candidates(options)
        if not candidates:
            cap = f" under ${options.max_dph:.2f}/hour" if options.max_dph is not None else ""
            raise DeployError(
                DeployCode.DEPLOY_NO_OFFERS,
                f"no Vast.ai offer can run {options.model}{cap} now; raise --max-price, pick "
                "a smaller model, or try again later",
            )
        failures: list[str] = []
        bad_machines: set[int] = set()
        tried = 0
        for offer in candidates:
            if tried >= self.timeouts.max_offers:
                break
            if offer.machine_id is not None and offer.machine_id in bad_machines:
                continue
            tried += 1
            try:
                return await self._attempt(offer, creds, options, code)
            except _OfferGone as exc:
                failures.append(f"offer {offer.id}: {exc}")
            except MachineFailed as exc:
                failures.append(f"offer {offer.id}: {exc}")
                if offer.machine_id is not None:
                    bad_machines.add(offer.machine_id)
            log.warning("Deploy on offer %s failed; %s", offer.id, failures[-1])
        raise DeployError(
            DeployCode.DEPLOY_FAILED,
            f"no server came up on {tried} machine(s), and each was destroyed: "
            + "; ".join(failures)
            + ". Try again (other machines), or look with `hark remote offers`",
        )

    # --- one offer -------------------------------------------------------------------------

    async def _candidates(self, options: DeployOptions) -> list[Offer]:
        if options.offer_id is None:
            return await self.offers(options.model, options.max_dph, disk_gb=options.disk_gb)
        query = offer_query(options.model, disk_gb=options.disk_gb, limit=200)
        found = [o for o in await self._vast.search_offers(query) if o.id == options.offer_id]
        return found[:1] or [Offer(id=options.offer_id)]

    async def _attempt(
        self, offer: Offer, creds: Credentials, options: DeployOptions, code: CodeBundle
    ) -> Deployment:
        label = f"{new_label()}-{random_secrets.token_hex(3)}"
        env = instance_env(
            creds,
            model=options.model,
            whisper_model=options.whisper_model,
            port=options.port,
            code_sha256=code.sha256,
            code_version=code.version,
            idle_stop_minutes=options.idle_stop_minutes,
        )
        price = f"${offer.dph_total:.3f}/hour" if offer.dph_total is not None else "price unknown"
        self._emit("creating", f"renting offer {offer.id} ({offer.gpu_name or 'GPU'}, {price})")

        def record_for(instance_id: int) -> Deployment:
            return Deployment(
                instance_id=instance_id,
                label=label,
                offer_id=offer.id,
                gpu_name=offer.gpu_name or "",
                dph_total=offer.dph_total or 0.0,
                model=options.model,
                created_at=utc_now_iso(),
                cert_pem=creds.cert_pem,
            )

        create = asyncio.ensure_future(
            self._vast.create_instance(
                offer.id,
                image=options.image,
                env=env,
                ports=[options.port],
                onstart=bootstrap_script(),
                disk_gb=options.disk_gb,
                label=label,
            )
        )
        try:
            # Shielded: Ctrl-C must not cut a create in half; its outcome is cleaned up below.
            instance_id = await asyncio.shield(create)
        except DeployError as exc:
            if exc.vast_error == "no_such_ask" or exc.code == VastCode.NOT_FOUND:
                raise _OfferGone("taken by someone else before us") from exc
            if exc.code == VastCode.CREATE_UNCERTAIN:
                swept = await asyncio.shield(self._cleanup.sweep(label))
                if swept is not None:
                    raise DeployError(
                        VastCode.CREATE_UNCERTAIN,
                        f"Vast.ai's answer to the create was lost; Hark looked for the "
                        f"instance (label {label}) and destroyed {swept}: nothing is left. "
                        "Try again",
                    ) from exc
            raise
        except asyncio.CancelledError:
            await asyncio.shield(self._cleanup.undo_create(create, label, record_for))
            raise
        record = record_for(instance_id)
        try:
            self._records.save(record)
            return await self._bring_up(record, creds, options.port, code)
        except BaseException as exc:
            if options.keep:
                await asyncio.shield(self._keep(record, creds))
                if isinstance(exc, MachineFailed):
                    raise DeployError(
                        DeployCode.DEPLOY_KEPT,
                        f"instance {instance_id} did not come up ({exc}); it was kept as asked "
                        f"and still bills: `hark remote destroy {instance_id}` when done",
                    ) from exc
                raise
            destroyed = await asyncio.shield(self._cleanup.discard(record))
            if not destroyed and not isinstance(exc, asyncio.CancelledError):
                raise DeployError(
                    DeployCode.DEPLOY_DESTROY_FAILED,
                    f"instance {instance_id} failed ({exc}) and Hark could not destroy it; it "
                    f"may still bill: run `hark remote destroy {instance_id}` now",
                ) from exc
            raise

    async def _bring_up(
        self, record: Deployment, creds: Credentials, port: int, code: CodeBundle
    ) -> Deployment:
        iid = record.instance_id
        self._emit("booting", f"instance {iid} created; waiting for it to run")
        await self._waits.wait_instance(
            iid, "booting", self.timeouts.boot_s, lambda i: i.is_running
        )
        self._emit("address", f"instance {iid} runs; reading its address")
        inst = await self._waits.wait_instance(
            iid,
            "address",
            self.timeouts.address_s,
            lambda i: bool(i.public_ip) and i.host_port(port) is not None,
        )
        ip, host_port = inst.public_ip or "", inst.host_port(port) or 0
        record = record.with_address(ip, host_port).with_state("starting")
        self._records.save(record)
        async with httpx.AsyncClient(
            base_url=record.url,
            verify=self._probe_ssl(creds.cert_pem),
            timeout=self.timeouts.probe_s,
            trust_env=False,
        ) as http:
            self._emit("tls", f"connecting to {record.url} (pinned certificate)")
            await self._waits.wait_tls(http, iid)
            self._emit("provisioning", "the server answers; waiting until it is ready")
            await self._waits.wait_ready(http, iid, creds.api_key, code)
        self._secrets.set(SERVER_KEY_SECRET, creds.api_key)
        self._write_cert(iid, creds.cert_pem)
        record = record.with_state("ready")
        self._records.save(record)
        self._emit("ready", f"Hark server ready at {record.url}", 1.0)
        log.info("Instance %s ready at %s", iid, record.url)
        return record

    # --- a kept instance, small helpers ------------------------------------------------------

    async def _keep(self, record: Deployment, creds: Credentials) -> None:
        """Keep a failed instance as asked: record it and keep what reaches it."""
        current = self._records.get(record.instance_id) or record
        self._records.save(current.with_state("failed"))
        self._secrets.set(SERVER_KEY_SECRET, creds.api_key)
        self._write_cert(record.instance_id, creds.cert_pem)
        log.warning("Instance %s kept as asked although it failed", record.instance_id)

    def _write_cert(self, instance_id: int, cert_pem: str) -> None:
        path = self.cert_path(instance_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(cert_pem, encoding="ascii")

    def _emit(self, step: Step, message: str, fraction: float | None = None) -> None:
        try:
            self._on_progress(DeployProgress(step, message, fraction))
        except Exception as exc:  # a broken display must not strand a paid instance
            log.warning("Progress callback failed: %s", type(exc).__name__)
