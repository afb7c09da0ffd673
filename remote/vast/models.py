"""What the Vast.ai API returns, read into typed values, and the offer filter it takes.

Vast.ai's JSON is loose: numbers sometimes come as strings, fields come and go, ``ports`` is
absent until an instance runs and then holds Docker-style bindings with STRING host ports.
The ``from_api`` readers here accept all of that, ignore fields they do not know, and never
raise on a malformed value (it reads as ``None``); only a missing or unreadable ``id`` makes a
row unusable (``None`` is returned and the caller skips it).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from remote.vast.errors import DeployError, VastCode

log = logging.getLogger(__name__)

RUNNING = "running"
DEAD_STATES = frozenset({"exited", "offline", "unknown"})
"""``actual_status`` values an instance that should run never recovers from."""
MAX_ENV_VALUE = 256
MAX_ONSTART = 4048
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def as_float(value: Any) -> float | None:
    """A number from an int, a float or a numeric string; anything else is ``None``."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if value == value else None  # NaN → None
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
        return number if number == number else None
    return None


def as_int(value: Any) -> int | None:
    """A whole number from an int, an integral float or a numeric string; else ``None``."""
    number = as_float(value)
    if number is None or not number.is_integer():
        return None
    return int(number)


def as_str(value: Any) -> str | None:
    """A non-empty string (stripped), or ``None``."""
    if isinstance(value, str):
        text = value.strip()
        return text or None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def parse_ports(raw: Any) -> dict[int, int]:
    """Docker-style ``ports`` → ``{container_port: host_port}`` for TCP.

    ``{"8443/tcp": [{"HostIp": "0.0.0.0", "HostPort": "41234"}, {"HostIp": "::", ...}]}``
    gives ``{8443: 41234}``: the first binding with a valid host port wins; UDP keys, null
    bindings and unreadable ports are skipped. ``None`` or anything but a mapping gives ``{}``.
    """
    if not isinstance(raw, Mapping):
        return {}
    result: dict[int, int] = {}
    for key, bindings in raw.items():
        name, _, proto = str(key).partition("/")
        if proto and proto.lower() != "tcp":
            continue
        container = as_int(name)
        if container is None or not 0 < container < 65536:
            continue
        if isinstance(bindings, Mapping):
            bindings = [bindings]
        if not isinstance(bindings, list):
            continue
        for binding in bindings:
            if not isinstance(binding, Mapping):
                continue
            host = as_int(binding.get("HostPort"))
            if host is not None and 0 < host < 65536:
                result[container] = host
                break
    return result


@dataclass(frozen=True, slots=True)
class Offer:
    """A machine for rent (an "ask"); ``id`` is what ``create_instance`` takes."""

    id: int
    gpu_name: str | None = None
    num_gpus: int | None = None
    gpu_ram_mb: float | None = None
    dph_total: float | None = None
    """Dollars per hour, all in (GPU, storage at the searched size, bandwidth excluded)."""
    reliability: float | None = None
    cuda_max_good: float | None = None
    direct_port_count: int | None = None
    inet_down_mbps: float | None = None
    inet_up_mbps: float | None = None
    disk_space_gb: float | None = None
    geolocation: str | None = None
    machine_id: int | None = None
    host_id: int | None = None
    verified: bool | None = None

    @classmethod
    def from_api(cls, row: Any) -> Offer | None:
        """Read one row of ``{"offers": [...]}``; ``None`` when it has no usable id."""
        if not isinstance(row, Mapping):
            return None
        offer_id = as_int(row.get("id"))
        if offer_id is None:
            return None
        verified = row.get("verified")
        return cls(
            id=offer_id,
            gpu_name=as_str(row.get("gpu_name")),
            num_gpus=as_int(row.get("num_gpus")),
            gpu_ram_mb=as_float(row.get("gpu_ram")),
            dph_total=as_float(row.get("dph_total")),
            reliability=as_float(row.get("reliability", row.get("reliability2"))),
            cuda_max_good=as_float(row.get("cuda_max_good")),
            direct_port_count=as_int(row.get("direct_port_count")),
            inet_down_mbps=as_float(row.get("inet_down")),
            inet_up_mbps=as_float(row.get("inet_up")),
            disk_space_gb=as_float(row.get("disk_space")),
            geolocation=as_str(row.get("geolocation")),
            machine_id=as_int(row.get("machine_id")),
            host_id=as_int(row.get("host_id")),
            verified=verified if isinstance(verified, bool) else None,
        )


@dataclass(frozen=True, slots=True)
class Instance:
    """One rented machine as Vast.ai reports it right now.

    ``actual_status`` goes ``None`` → ``created``/``loading`` → ``running``; ``exited``,
    ``offline`` and ``unknown`` never recover. ``ports`` is empty until it runs and may change
    after a stop and start: read it again every time.
    """

    id: int
    label: str | None = None
    actual_status: str | None = None
    intended_status: str | None = None
    cur_state: str | None = None
    public_ip: str | None = None
    ports: Mapping[int, int] = field(default_factory=dict)
    dph_total: float | None = None
    gpu_name: str | None = None
    start_date: float | None = None
    """Unix time the instance was created (or last started)."""
    status_msg: str | None = None
    machine_id: int | None = None
    host_id: int | None = None

    @classmethod
    def from_api(cls, row: Any) -> Instance | None:
        """Read one instance object; ``None`` when it is not one (``{"instances": null}``)."""
        if not isinstance(row, Mapping):
            return None
        instance_id = as_int(row.get("id"))
        if instance_id is None:
            return None
        status = as_str(row.get("actual_status"))
        return cls(
            id=instance_id,
            label=as_str(row.get("label")),
            actual_status=status.lower() if status else None,
            intended_status=as_str(row.get("intended_status")),
            cur_state=as_str(row.get("cur_state")),
            public_ip=as_str(row.get("public_ipaddr")),
            ports=parse_ports(row.get("ports")),
            dph_total=as_float(row.get("dph_total")),
            gpu_name=as_str(row.get("gpu_name")),
            start_date=as_float(row.get("start_date")),
            status_msg=as_str(row.get("status_msg")),
            machine_id=as_int(row.get("machine_id")),
            host_id=as_int(row.get("host_id")),
        )

    @property
    def is_running(self) -> bool:
        """Vast.ai says the container runs (its ports may still be closed)."""
        return self.actual_status == RUNNING

    @property
    def is_stopped(self) -> bool:
        """Stopped on purpose (the disk is kept, the GPU is not billed)."""
        return self.intended_status == "stopped" or self.cur_state == "stopped"

    @property
    def is_dead(self) -> bool:
        """Meant to run but in a state it never comes back from: destroy it, try elsewhere."""
        return self.actual_status in DEAD_STATES and not self.is_stopped

    @property
    def is_loading(self) -> bool:
        """On its way up (no status yet, created, or pulling the image)."""
        return not self.is_running and not self.is_dead and not self.is_stopped

    def host_port(self, container_port: int) -> int | None:
        """The public port that reaches ``container_port``, once running; else ``None``."""
        return self.ports.get(container_port)


@dataclass(frozen=True, slots=True)
class OfferQuery:
    """What a machine must have to run Hark's server; ``None`` leaves a filter out.

    Units follow Vast.ai: GPU RAM in MB, bandwidth in Mbit/s, disk in GB, price in $/hour.
    Results come back cheapest first (``dph_total`` ascending), on-demand, rentable, verified
    and not already rented (the official client's defaults).
    """

    min_gpu_ram_mb: float | None = None
    min_reliability: float | None = None
    min_direct_ports: int | None = None
    min_cuda: str | None = None
    """A CUDA version such as ``"12.4"`` (``cuda_max_good`` ≥ it)."""
    max_dph: float | None = None
    min_inet_down: float | None = None
    min_disk_gb: float | None = None
    num_gpus: int | None = 1
    limit: int = 20
    storage_gb: float = 32.0
    """The disk the instance will get: Vast.ai prices offers with it (``allocated_storage``)."""
    verified_only: bool = True
    exclude_machine_ids: tuple[int, ...] = ()
    """Machines to skip (ones that already failed us)."""

    def to_api(self) -> dict[str, Any]:
        """The JSON body of ``POST /api/v0/bundles/``, shaped as the official client sends it."""
        query: dict[str, Any] = {}
        if self.verified_only:
            query["verified"] = {"eq": True}
            query["external"] = {"eq": False}
        query["rentable"] = {"eq": True}
        query["rented"] = {"eq": False}
        if self.num_gpus is not None:
            query["num_gpus"] = {"eq": self.num_gpus}
        if self.min_gpu_ram_mb is not None:
            query["gpu_ram"] = {"gte": self.min_gpu_ram_mb}
        if self.min_reliability is not None:
            query["reliability"] = {"gte": self.min_reliability}
        if self.min_direct_ports is not None:
            query["direct_port_count"] = {"gte": self.min_direct_ports}
        if self.min_cuda is not None:
            query["cuda_max_good"] = {"gte": self.min_cuda}
        if self.max_dph is not None:
            query["dph_total"] = {"lte": self.max_dph}
        if self.min_inet_down is not None:
            query["inet_down"] = {"gte": self.min_inet_down}
        if self.min_disk_gb is not None:
            query["disk_space"] = {"gte": self.min_disk_gb}
        if self.exclude_machine_ids:
            query["machine_id"] = {"notin": list(self.exclude_machine_ids)}
        query["order"] = [["dph_total", "asc"]]
        query["type"] = "on-demand"
        query["limit"] = int(self.limit)
        query["allocated_storage"] = self.storage_gb
        return query


def validate_create(env: Mapping[str, str], ports: list[int], onstart: str, label: str) -> None:
    """Refuse, before anything is sent, a create that Vast.ai's limits would break.

    Names only the offending variable and its length: env values carry secrets.
    """
    for name, value in env.items():
        if not _ENV_NAME.match(name):
            raise DeployError(
                VastCode.INVALID,
                f"environment variable name {name!r} is not valid; use letters, digits and _",
            )
        if not isinstance(value, str):
            raise DeployError(VastCode.INVALID, f"environment variable {name} must be a string")
        if len(value) > MAX_ENV_VALUE:
            raise DeployError(
                VastCode.INVALID,
                f"environment variable {name} is {len(value)} characters; Vast.ai allows "
                f"{MAX_ENV_VALUE} per value — split it into chunks",
            )
    for port in ports:
        if not 0 < port < 65536:
            raise DeployError(VastCode.INVALID, f"port {port} is not a TCP port (1–65535)")
    if len(onstart) > MAX_ONSTART:
        raise DeployError(
            VastCode.INVALID,
            f"the onstart script is {len(onstart)} characters; Vast.ai allows {MAX_ONSTART} — "
            "shorten it or move work into the image",
        )
    if not label.strip():
        raise DeployError(VastCode.INVALID, "an instance needs a label so it can be found again")
