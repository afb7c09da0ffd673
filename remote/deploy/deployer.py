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
"""

from __future__ import annotations

import asyncio
import logging
import secrets as random_secrets
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import httpx

from app.settings.secrets import SecretStore
from app.shared.paths import data_dir
from app.shared.protocol import CODE_UPLOAD_PATH, HEALTH_PATH, STATUS_PATH
from app.shared.tls import pinned_ssl_context
from remote.deploy.bootstrap import bootstrap_script
from remote.deploy.code import CodeBundle, current_code, stream_wheel
from remote.deploy.credentials import Credentials, instance_env, make_credentials
from remote.deploy.offers import offer_query, rank_offers
from remote.deploy.records import Deployment, RecordStore, new_label, utc_now_iso
from remote.vast import errors as codes
from remote.vast.client import VastClient
from remote.vast.errors import DeployError
from remote.vast.models import Instance, Offer

log = logging.getLogger(__name__)

Step = Literal["creating", "booting", "address", "tls", "upload", "provisioning", "ready"]
DEFAULT_IMAGE = "vastai/base-image:cuda-12.8.1-cudnn-devel-ubuntu24.04"
"""Vast.ai's own image on NVIDIA's CUDA 12.8 + cuDNN 9 (layers most hosts have cached), with
Python 3.12: nothing of CUDA or Python is installed at run time (README, "Deploy to Vast.ai")."""
DEFAULT_MODEL = "llama3.1:8b"
SERVER_KEY_SECRET = "server-api-key"

NO_OFFERS = "deploy-no-offers"
ALL_FAILED = "deploy-failed"
KEPT = "deploy-kept"
ORPHAN = "deploy-destroy-failed"
KEY_REFUSED = "deploy-key-refused"
PROVISIONING_FAILED = "deploy-provisioning-failed"
CODE_REFUSED = "deploy-code-refused"
UPLOAD_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class DeployProgress:
    """One visible step of a deploy; ``fraction`` (0–1) when the step knows how far it is."""

    step: Step
    message: str
    fraction: float | None = None


@dataclass(frozen=True, slots=True)
class DeployTimeouts:
    """How long each step may take (seconds) and how often to look; all settable."""

    boot_s: float = 900.0
    """Create → running (the image is pulled on the host)."""
    address_s: float = 120.0
    """Running → public IP and host port shown."""
    tls_s: float = 900.0
    """Address → the server answers over TLS (the bootstrap installs Hark, Ollama…)."""
    provisioning_s: float = 3600.0
    """TLS → the model is pulled and the server says ready."""
    poll_s: float = 5.0
    probe_s: float = 10.0
    """One HTTP probe of the server."""
    max_offers: int = 3
    """Machines to try before giving up."""
    destroy_attempts: int = 3

    def __post_init__(self) -> None:
        for name in ("boot_s", "address_s", "tls_s", "provisioning_s", "probe_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"deploy timeout {name} must be more than 0 seconds")
        if not self.poll_s >= 0:
            raise ValueError("deploy poll_s must be 0 seconds or more")
        if self.max_offers < 1 or self.destroy_attempts < 1:
            raise ValueError("max_offers and destroy_attempts must be at least 1")


DEFAULT_IDLE_STOP_MINUTES = 30.0
"""Half an hour without a request stops a rented server: it costs only its disk then."""


@dataclass(frozen=True, slots=True)
class DeployOptions:
    """What to deploy: ``offer_id`` pins one offer (no other is tried); ``keep`` keeps a
    failed instance for inspection."""

    model: str = DEFAULT_MODEL
    max_dph: float | None = None
    offer_id: int | None = None
    keep: bool = False
    disk_gb: float = 40.0
    port: int = 8443
    image: str = DEFAULT_IMAGE
    whisper_model: str | None = None
    idle_stop_minutes: float = DEFAULT_IDLE_STOP_MINUTES
    """The server stops its own instance after so long without a request (0: never)."""


class _MachineFailed(Exception):
    """This machine will not serve: destroy it, skip it, try the next offer."""


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
        self._sleep = sleep
        self._clock = clock
        self.timeouts = timeouts or DeployTimeouts()
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

        Raises :class:`DeployError` (codes ``deploy-*`` or the Vast.ai client's) when no
        server came up; by then nothing Hark created is left running unless ``keep``.
        """
        creds = make_credentials()
        try:
            code = await asyncio.to_thread(self._code)
        except OSError as exc:
            raise DeployError(
                CODE_REFUSED, f"Hark could not pack its own code for the box: {exc}"
            ) from exc
        self._emit("creating", f"looking for offers (the box will run {code.describe()})")
        candidates = await self._candidates(options)
        if not candidates:
            cap = f" under ${options.max_dph:.2f}/hour" if options.max_dph is not None else ""
            raise DeployError(
                NO_OFFERS,
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
            except _MachineFailed as exc:
                failures.append(f"offer {offer.id}: {exc}")
                if offer.machine_id is not None:
                    bad_machines.add(offer.machine_id)
            log.warning("Deploy on offer %s failed; %s", offer.id, failures[-1])
        raise DeployError(
            ALL_FAILED,
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
            if exc.vast_error == "no_such_ask" or exc.code == codes.NOT_FOUND:
                raise _OfferGone("taken by someone else before us") from exc
            if exc.code == codes.CREATE_UNCERTAIN:
                swept = await asyncio.shield(self._sweep(label))
                if swept is not None:
                    raise DeployError(
                        codes.CREATE_UNCERTAIN,
                        f"Vast.ai's answer to the create was lost; Hark looked for the "
                        f"instance (label {label}) and destroyed {swept}: nothing is left. "
                        "Try again",
                    ) from exc
            raise
        except asyncio.CancelledError:
            await asyncio.shield(self._undo_create(create, label, record_for))
            raise
        record = record_for(instance_id)
        try:
            self._records.save(record)
            return await self._bring_up(record, creds, options.port, code)
        except BaseException as exc:
            if options.keep:
                await asyncio.shield(self._keep(record, creds))
                if isinstance(exc, _MachineFailed):
                    raise DeployError(
                        KEPT,
                        f"instance {instance_id} did not come up ({exc}); it was kept as asked "
                        f"and still bills: `hark remote destroy {instance_id}` when done",
                    ) from exc
                raise
            destroyed = await asyncio.shield(self._discard(record))
            if not destroyed and not isinstance(exc, asyncio.CancelledError):
                raise DeployError(
                    ORPHAN,
                    f"instance {instance_id} failed ({exc}) and Hark could not destroy it; it "
                    f"may still bill: run `hark remote destroy {instance_id}` now",
                ) from exc
            raise

    async def _bring_up(
        self, record: Deployment, creds: Credentials, port: int, code: CodeBundle
    ) -> Deployment:
        iid = record.instance_id
        self._emit("booting", f"instance {iid} created; waiting for it to run")
        await self._wait_instance(iid, "booting", self.timeouts.boot_s, lambda i: i.is_running)
        self._emit("address", f"instance {iid} runs; reading its address")
        inst = await self._wait_instance(
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
            await self._wait_tls(http, iid)
            self._emit("provisioning", "the server answers; waiting until it is ready")
            await self._wait_ready(http, iid, creds.api_key, code)
        self._secrets.set(SERVER_KEY_SECRET, creds.api_key)
        self._write_cert(iid, creds.cert_pem)
        record = record.with_state("ready")
        self._records.save(record)
        self._emit("ready", f"Hark server ready at {record.url}", 1.0)
        log.info("Instance %s ready at %s", iid, record.url)
        return record

    # --- waits -----------------------------------------------------------------------------

    async def _alive(self, instance_id: int) -> Instance:
        inst = await self._vast.get_instance(instance_id)
        if inst is None:
            raise _MachineFailed(f"instance {instance_id} disappeared")
        if inst.is_dead or inst.is_stopped:
            why = f": {inst.status_msg}" if inst.status_msg else ""
            raise _MachineFailed(f"instance {instance_id} is {inst.actual_status}{why}")
        return inst

    async def _wait_instance(
        self, instance_id: int, step: Step, limit: float, done: Callable[[Instance], bool]
    ) -> Instance:
        start = self._clock()
        while True:
            inst = await self._alive(instance_id)
            if done(inst):
                return inst
            waited = self._clock() - start
            if waited >= limit:
                what = "start" if step == "booting" else "show its port"
                raise _MachineFailed(f"instance {instance_id} did not {what} in {limit:.0f} s")
            status = inst.actual_status or "created"
            self._emit(step, f"instance {instance_id}: {status}", None)
            await self._sleep(self.timeouts.poll_s)

    async def _wait_tls(self, http: httpx.AsyncClient, instance_id: int) -> None:
        start = self._clock()
        while True:
            try:
                await http.get(HEALTH_PATH)
                return  # any answer over our pinned TLS: the server is there
            except httpx.TransportError as exc:
                reason = type(exc).__name__
            if self._clock() - start >= self.timeouts.tls_s:
                raise _MachineFailed(
                    f"instance {instance_id} never answered on its port in "
                    f"{self.timeouts.tls_s:.0f} s ({reason})"
                )
            self._emit("tls", "waiting for the server to answer (installing Hark)", None)
            await self._sleep(self.timeouts.poll_s)
            await self._alive(instance_id)

    async def _wait_ready(
        self, http: httpx.AsyncClient, instance_id: int, key: str, code: CodeBundle
    ) -> None:
        start = self._clock()
        auth = {"Authorization": f"Bearer {key}"}
        shown_steps = 0
        while True:
            message, fraction = "waiting for the server", None
            try:
                status = await http.get(STATUS_PATH, headers=auth)
                if status.status_code in (401, 403):
                    raise DeployError(
                        KEY_REFUSED,
                        f"the server on instance {instance_id} refused Hark's new key "
                        f"(HTTP {status.status_code}); it is not the server Hark set up",
                    )
                prov = _provisioning(status)
                if prov.get("state") == "awaiting-code" and prov.get("sha256"):
                    if prov["sha256"] != code.sha256:
                        raise DeployError(
                            CODE_REFUSED,
                            f"the box of instance {instance_id} waits for other code "
                            f"({str(prov['sha256'])[:12]}…) than this Hark's ({code.short}…)",
                        )
                    await self._send_code(http, instance_id, auth, code)
                    continue
                shown_steps = self._show_steps(status, shown_steps)
                if prov.get("state") == "failed":
                    raise DeployError(
                        PROVISIONING_FAILED,
                        f"the server on instance {instance_id} could not get ready: "
                        f"{prov.get('detail') or 'no detail'}; see `hark remote logs`",
                    )
                settled = status.status_code == 200 and prov.get("state") in (None, "ready")
                if settled and (await http.get(HEALTH_PATH)).status_code == 200:
                    return
                message = str(prov.get("detail") or prov.get("state") or "starting")
                progress = prov.get("progress")
                if isinstance(progress, int | float) and not isinstance(progress, bool):
                    fraction = min(1.0, max(0.0, float(progress)))
            except httpx.TransportError as exc:
                message = f"the server is restarting ({type(exc).__name__})"
            if self._clock() - start >= self.timeouts.provisioning_s:
                raise _MachineFailed(
                    f"instance {instance_id} was not ready in "
                    f"{self.timeouts.provisioning_s:.0f} s ({message})"
                )
            self._emit("provisioning", message, fraction)
            await self._sleep(self.timeouts.poll_s)
            await self._alive(instance_id)

    async def _send_code(
        self, http: httpx.AsyncClient, instance_id: int, auth: dict[str, str], code: CodeBundle
    ) -> None:
        """Upload this Hark's wheel to the box's bootstrap, with progress; retry a cut one."""
        size_mb = code.size / 1e6
        what = f"{code.describe()}, {size_mb:.1f} MB"
        for attempt in range(1, UPLOAD_ATTEMPTS + 1):
            self._emit("upload", f"sending {what} to instance {instance_id}", 0.0)
            try:
                reply = await http.put(
                    CODE_UPLOAD_PATH,
                    content=stream_wheel(
                        code,
                        lambda sent: self._emit(
                            "upload", f"sending {what}", sent / max(1, code.size)
                        ),
                    ),
                    headers={
                        **auth,
                        "Content-Length": str(code.size),
                        "Content-Type": "application/octet-stream",
                    },
                )
            except httpx.TransportError as exc:
                reason = f"the connection broke ({type(exc).__name__})"
            else:
                if reply.status_code == 200:
                    self._emit("upload", f"sent {what}; the box checked its hash", 1.0)
                    log.info("Code %s sent to instance %s", code.short, instance_id)
                    return
                if reply.status_code in (401, 403):
                    raise DeployError(
                        KEY_REFUSED,
                        f"the box of instance {instance_id} refused Hark's new key when it was "
                        f"sent the code (HTTP {reply.status_code})",
                    )
                body = _error_code(reply)
                if body == "code-hash-mismatch":
                    raise DeployError(
                        CODE_REFUSED,
                        f"the box of instance {instance_id} refused Hark's code: its hash did "
                        f"not match {code.short}… (the wheel changed while it was sent?); "
                        "deploy again",
                    )
                reason = f"HTTP {reply.status_code} ({body or 'no detail'})"
            log.warning("Sending code to %s failed (%s), attempt %d", instance_id, reason, attempt)
            if attempt < UPLOAD_ATTEMPTS:
                await self._sleep(self.timeouts.poll_s)
                await self._alive(instance_id)
        raise _MachineFailed(f"Hark's code could not be sent to instance {instance_id}")

    def _show_steps(self, status: httpx.Response, shown: int) -> int:
        """Emit each boot step the box finished since the last look, with its duration."""
        try:
            steps = status.json().get("boot_steps") or []
        except (ValueError, AttributeError):
            return shown
        for step in steps[shown:]:
            if isinstance(step, dict) and isinstance(step.get("seconds"), int | float):
                self._emit("provisioning", f"{step.get('name')}: {step['seconds']:.0f} s")
        return max(shown, len(steps))

    # --- clean-up ---------------------------------------------------------------------------

    async def _discard(self, record: Deployment) -> bool:
        """Destroy the instance and forget it; ``False`` (record kept) if that failed."""
        for attempt in range(1, self.timeouts.destroy_attempts + 1):
            try:
                await self._vast.destroy(record.instance_id)
            except DeployError as exc:
                log.warning(
                    "Destroying instance %s failed (%s), attempt %d",
                    record.instance_id,
                    exc.code,
                    attempt,
                )
                continue
            self._records.remove(record.instance_id)
            return True
        self._records.save(record.with_state("destroy-failed"))
        log.error("Instance %s could not be destroyed; its record is kept", record.instance_id)
        return False

    async def _undo_create(
        self, create: asyncio.Future[int], label: str, record_for: Callable[[int], Deployment]
    ) -> None:
        """Ctrl-C while a create was on its way: let it finish, then destroy what it made."""
        try:
            instance_id = await create
        except DeployError as exc:
            if exc.code == codes.CREATE_UNCERTAIN:
                await self._sweep(label)
            return
        await self._discard(record_for(instance_id))

    async def _keep(self, record: Deployment, creds: Credentials) -> None:
        """Keep a failed instance as asked: record it and keep what reaches it."""
        current = self._records.get(record.instance_id) or record
        self._records.save(current.with_state("failed"))
        self._secrets.set(SERVER_KEY_SECRET, creds.api_key)
        self._write_cert(record.instance_id, creds.cert_pem)
        log.warning("Instance %s kept as asked although it failed", record.instance_id)

    async def _sweep(self, label: str) -> int | None:
        """After a lost create answer: destroy what that create made (found by its label).

        Returns how many were destroyed, or ``None`` when Hark could not make sure.
        """
        destroyed: set[int] = set()
        sure = False
        for attempt in range(2):
            if attempt:
                await self._sleep(self.timeouts.poll_s)
            try:
                found = await self._vast.find_by_label(label)
            except DeployError as exc:
                log.warning("Looking for instances labelled %s failed (%s)", label, exc.code)
                continue
            sure = True
            for inst in found:
                if inst.id in destroyed:
                    continue
                try:
                    await self._vast.destroy(inst.id)
                    destroyed.add(inst.id)
                except DeployError as exc:
                    log.warning("Destroying instance %s failed (%s)", inst.id, exc.code)
                    sure = False
        return len(destroyed) if sure else None

    # --- small helpers ----------------------------------------------------------------------

    def _write_cert(self, instance_id: int, cert_pem: str) -> None:
        path = self.cert_path(instance_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(cert_pem, encoding="ascii")

    def _emit(self, step: Step, message: str, fraction: float | None = None) -> None:
        try:
            self._on_progress(DeployProgress(step, message, fraction))
        except Exception as exc:  # a broken display must not strand a paid instance
            log.warning("Progress callback failed: %s", type(exc).__name__)


def _error_code(response: httpx.Response) -> str:
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        return ""
    return str(error.get("code") or "") if isinstance(error, dict) else ""


def _provisioning(response: httpx.Response) -> dict[str, Any]:
    if response.status_code != 200:
        return {"state": "starting", "detail": f"HTTP {response.status_code}"}
    try:
        data = response.json()
    except ValueError:
        return {"state": "starting", "detail": "unreadable /status"}
    prov = data.get("provisioning") if isinstance(data, dict) else None
    return prov if isinstance(prov, dict) else {}
