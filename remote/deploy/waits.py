"""Waiting for a rented box to serve: it runs, shows its port, answers, takes Hark's code.

:class:`BoxWaits` holds the deployer's waits after a create (steps 2 to 6 of
:mod:`remote.deploy.deployer`), each bounded by its own limit in
:class:`~remote.deploy.options.DeployTimeouts` and reporting progress as it goes. A box that
will not serve raises :class:`MachineFailed` (the deployer destroys it and tries the next
offer); one that answers wrongly (refuses the new key, waits for other code, fails to start)
raises a :class:`~remote.vast.errors.DeployError`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import httpx

from app.shared.protocol import CODE_UPLOAD_PATH, HEALTH_PATH, STATUS_PATH, ErrorCode, Provisioning
from remote.deploy.code import CodeBundle, stream_wheel
from remote.deploy.errors import DeployCode
from remote.deploy.options import DeployTimeouts, Step
from remote.vast.client import VastClient
from remote.vast.errors import DeployError
from remote.vast.models import Instance

log = logging.getLogger(__name__)

UPLOAD_ATTEMPTS = 3


class MachineFailed(Exception):
    """This machine will not serve: destroy it, skip it, try the next offer."""


class Emit(Protocol):
    """Shows a step's progress (the deployer's, which never raises)."""

    def __call__(self, step: Step, message: str, fraction: float | None = None) -> None: ...


class BoxWaits:
    """The waits of a deploy on Vast.ai (``vast``) and on the box's server, within ``timeouts``.

    ``sleep`` and ``clock`` pace and bound them (tests pass a simulated clock); each pause
    checks first that the instance is still alive.
    """

    def __init__(
        self,
        vast: VastClient,
        timeouts: DeployTimeouts,
        emit: Emit,
        *,
        sleep: Callable[[float], Awaitable[None]],
        clock: Callable[[], float],
    ) -> None:
        self._vast = vast
        self._timeouts = timeouts
        self._emit = emit
        self._sleep = sleep
        self._clock = clock

    async def alive(self, instance_id: int) -> Instance:
        """The instance as Vast.ai shows it now; :class:`MachineFailed` once it is gone or dead."""
        inst = await self._vast.get_instance(instance_id)
        if inst is None:
            raise MachineFailed(f"instance {instance_id} disappeared")
        if inst.is_dead or inst.is_stopped:
            why = f": {inst.status_msg}" if inst.status_msg else ""
            raise MachineFailed(f"instance {instance_id} is {inst.actual_status}{why}")
        return inst

    async def wait_instance(
        self, instance_id: int, step: Step, limit: float, done: Callable[[Instance], bool]
    ) -> Instance:
        """Poll the instance until ``done`` says so (it runs; its port shows), for ``limit`` s."""
        start = self._clock()
        while True:
            inst = await self.alive(instance_id)
            if done(inst):
                return inst
            waited = self._clock() - start
            if waited >= limit:
                what = "start" if step == "booting" else "show its port"
                raise MachineFailed(f"instance {instance_id} did not {what} in {limit:.0f} s")
            status = inst.actual_status or "created"
            self._emit(step, f"instance {instance_id}: {status}", None)
            await self._sleep(self._timeouts.poll_s)

    async def wait_tls(self, http: httpx.AsyncClient, instance_id: int) -> None:
        """Until the server answers anything over the pinned TLS (the bootstrap is done)."""
        start = self._clock()
        while True:
            try:
                await http.get(HEALTH_PATH)
                return  # any answer over our pinned TLS: the server is there
            except httpx.TransportError as exc:
                reason = type(exc).__name__
            if self._clock() - start >= self._timeouts.tls_s:
                raise MachineFailed(
                    f"instance {instance_id} never answered on its port in "
                    f"{self._timeouts.tls_s:.0f} s ({reason})"
                )
            self._emit("tls", "waiting for the server to answer (installing Hark)", None)
            await self._sleep(self._timeouts.poll_s)
            await self.alive(instance_id)

    async def wait_ready(
        self, http: httpx.AsyncClient, instance_id: int, key: str, code: CodeBundle
    ) -> None:
        """Until ``/status`` and ``/healthz`` say ready, sending the code when the box asks."""
        start = self._clock()
        auth = {"Authorization": f"Bearer {key}"}
        shown_steps = 0
        while True:
            message, fraction = "waiting for the server", None
            try:
                status = await http.get(STATUS_PATH, headers=auth)
                if status.status_code in (401, 403):
                    raise DeployError(
                        DeployCode.DEPLOY_KEY_REFUSED,
                        f"the server on instance {instance_id} refused Hark's new key "
                        f"(HTTP {status.status_code}); it is not the server Hark set up",
                    )
                prov = _provisioning(status)
                if prov.get("state") == Provisioning.AWAITING_CODE and prov.get("sha256"):
                    if prov["sha256"] != code.sha256:
                        raise DeployError(
                            DeployCode.DEPLOY_CODE_REFUSED,
                            f"the box of instance {instance_id} waits for other code "
                            f"({str(prov['sha256'])[:12]}…) than this Hark's ({code.short}…)",
                        )
                    await self._send_code(http, instance_id, auth, code)
                    continue
                shown_steps = self._show_steps(status, shown_steps)
                if prov.get("state") == Provisioning.FAILED:
                    raise DeployError(
                        DeployCode.DEPLOY_PROVISIONING_FAILED,
                        f"the server on instance {instance_id} could not get ready: "
                        f"{prov.get('detail') or 'no detail'}; see `hark remote logs`",
                    )
                settled = status.status_code == 200 and prov.get("state") in (
                    None,
                    Provisioning.READY,
                )
                if settled and (await http.get(HEALTH_PATH)).status_code == 200:
                    return
                message = str(prov.get("detail") or prov.get("state") or "starting")
                progress = prov.get("progress")
                if isinstance(progress, int | float) and not isinstance(progress, bool):
                    fraction = min(1.0, max(0.0, float(progress)))
            except httpx.TransportError as exc:
                message = f"the server is restarting ({type(exc).__name__})"
            if self._clock() - start >= self._timeouts.provisioning_s:
                raise MachineFailed(
                    f"instance {instance_id} was not ready in "
                    f"{self._timeouts.provisioning_s:.0f} s ({message})"
                )
            self._emit("provisioning", message, fraction)
            await self._sleep(self._timeouts.poll_s)
            await self.alive(instance_id)

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
                        DeployCode.DEPLOY_KEY_REFUSED,
                        f"the box of instance {instance_id} refused Hark's new key when it was "
                        f"sent the code (HTTP {reply.status_code})",
                    )
                body = _error_code(reply)
                if body == ErrorCode.CODE_HASH_MISMATCH:
                    raise DeployError(
                        DeployCode.DEPLOY_CODE_REFUSED,
                        f"the box of instance {instance_id} refused Hark's code: its hash did "
                        f"not match {code.short}… (the wheel changed while it was sent?); "
                        "deploy again",
                    )
                reason = f"HTTP {reply.status_code} ({body or 'no detail'})"
            log.warning("Sending code to %s failed (%s), attempt %d", instance_id, reason, attempt)
            if attempt < UPLOAD_ATTEMPTS:
                await self._sleep(self._timeouts.poll_s)
                await self.alive(instance_id)
        raise MachineFailed(f"Hark's code could not be sent to instance {instance_id}")

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
