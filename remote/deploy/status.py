"""What a deployed Hark server is doing: its instance as Vast.ai shows it, and its own ``/status``.

:class:`RemoteStatus` and :class:`RemoteInstance` are what
:class:`~remote.deploy.service.RemoteService` answers; :class:`HttpStatusProbe` asks a running
server for its ``/status`` over the pinned certificate (:class:`ServerStatus`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from app.shared.protocol import AUTH_HEADER, BEARER, STATUS_PATH
from remote.deploy.records import Deployment
from remote.vast.models import DEAD_STATES, Instance

DEFAULT_PROBE_TIMEOUT_S = 10.0
"""One ``/status`` request waits at most this long."""


@dataclass(frozen=True, slots=True)
class ServerStatus:
    """What the Hark server's own ``/status`` said (or why it could not be asked)."""

    reachable: bool
    provisioning: str | None = None
    """``starting``, ``pulling-model``, ``ready``, ``failed`` (None: no start-up script)."""
    detail: str | None = None
    model_pulled: bool | None = None
    """Whether the deployment's model is in the server's Ollama (None: unknown)."""
    idle_s: float | None = None
    """Seconds since the last request (None: none yet, or unknown)."""
    error: str | None = None
    code_sha256: str | None = None
    """The SHA-256 of the Hark wheel the box runs (None: it does not say)."""

    @property
    def ready(self) -> bool:
        return self.reachable and self.provisioning in (None, "ready") and bool(self.model_pulled)

    def to_json(self) -> dict[str, Any]:
        return {
            "reachable": self.reachable,
            "ready": self.ready,
            "provisioning": self.provisioning,
            "detail": self.detail,
            "model_pulled": self.model_pulled,
            "idle_s": self.idle_s,
            "error": self.error,
            "code_sha256": self.code_sha256,
        }


StatusProbe = Callable[[Deployment], Awaitable[ServerStatus]]
"""Asks a running deployment's server for its ``/status``."""


@dataclass(frozen=True, slots=True)
class RemoteStatus:
    """One Hark instance as Vast.ai and (when running) its server see it now."""

    instance_id: int
    label: str | None
    state: str
    """``running``, ``starting``, ``stopping``, ``stopped``, ``exited``/``offline``/``unknown``
    (dead), or ``gone`` (Vast.ai no longer has it)."""
    gpu_name: str | None
    dph_total: float | None
    uptime_s: float | None
    """Since the instance was created or last started (None unless running)."""
    cost_so_far: float | None
    """Dollars, estimated as hours since the record's ``created_at`` × $/hour (a stopped
    instance bills only its disk, so this is an upper bound)."""
    url: str
    record: Deployment | None = field(default=None, repr=False)
    server: ServerStatus | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "instance_id": self.instance_id,
            "label": self.label,
            "state": self.state,
            "gpu_name": self.gpu_name,
            "dph_total": self.dph_total,
            "uptime_s": self.uptime_s,
            "cost_so_far": self.cost_so_far,
            "url": self.url,
            "has_record": self.record is not None,
            "model": self.record.model if self.record else None,
            "created_at": self.record.created_at if self.record else None,
            "server": self.server.to_json() if self.server else None,
        }


@dataclass(frozen=True, slots=True)
class RemoteInstance:
    """A Hark instance as ``RemoteService.list`` gives it: a record, a live instance, or both."""

    instance_id: int
    label: str | None
    state: str
    record: Deployment | None = field(default=None, repr=False)
    instance: Instance | None = field(default=None, repr=False)


def state_of(instance: Instance | None) -> str:
    """One word for where an instance is (see :attr:`RemoteStatus.state`)."""
    if instance is None:
        return "gone"
    status = instance.actual_status
    if status in DEAD_STATES and not instance.is_stopped:
        return status or "unknown"
    if instance.is_stopped:
        return "stopping" if status == "running" else "stopped"
    if instance.is_running:
        return "running"
    return "starting"


class HttpStatusProbe:
    """Reads ``GET /status`` of a deployment over its pinned certificate with the API key.

    ``api_key`` is a callable so the key is read (from the keyring) only when needed.
    """

    def __init__(
        self, api_key: Callable[[], str | None], *, timeout_s: float = DEFAULT_PROBE_TIMEOUT_S
    ) -> None:
        self._api_key = api_key
        self._timeout_s = timeout_s

    async def __call__(self, deployment: Deployment) -> ServerStatus:
        from app.llm.ollama import model_available
        from app.shared.tls import pinned_ssl_context

        if not deployment.url:
            return ServerStatus(False, error="the record has no address yet")
        key = self._api_key()
        if not key:
            return ServerStatus(
                False, error="no server-api-key in the keyring (hark secret set server-api-key)"
            )
        try:
            verify = pinned_ssl_context(deployment.cert_pem)
        except (ValueError, OSError) as exc:
            return ServerStatus(False, error=f"the record's certificate is unusable ({exc})")
        try:
            async with httpx.AsyncClient(verify=verify, timeout=self._timeout_s) as client:
                response = await client.get(
                    deployment.url + STATUS_PATH, headers={AUTH_HEADER: f"{BEARER} {key}"}
                )
        except httpx.HTTPError as exc:
            return ServerStatus(
                False, error=f"{deployment.url} did not answer ({type(exc).__name__})"
            )
        if response.status_code != 200:
            return ServerStatus(
                False, error=f"{deployment.url} answered /status with HTTP {response.status_code}"
            )
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            return ServerStatus(False, error=f"{deployment.url} answered /status without JSON")
        prov = data.get("provisioning") if isinstance(data.get("provisioning"), dict) else {}
        ollama = data.get("ollama") if isinstance(data.get("ollama"), dict) else {}
        models = [str(m) for m in (ollama or {}).get("models") or []]
        idle = data.get("last_request_s_ago")
        return ServerStatus(
            True,
            provisioning=(prov or {}).get("state"),
            detail=(prov or {}).get("detail"),
            model_pulled=model_available(deployment.model, models) if ollama else None,
            idle_s=float(idle) if isinstance(idle, int | float) else None,
            code_sha256=_code_sha(data.get("code")),
        )


def _code_sha(code: object) -> str | None:
    sha = code.get("sha256") if isinstance(code, dict) else None
    return str(sha) if isinstance(sha, str) and sha else None
