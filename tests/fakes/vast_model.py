"""The records of :class:`tests.fakes.vast.FakeVast`: offers, instances, requests, and how the
API shows them. See ``tests/fakes/vast.py`` for what the fake promises."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

DEFAULT_KEY = "test-vast-key"
REDACTED = "<redacted>"
MAX_ENV_VALUE = 256
MAX_ONSTART = 4048
TERMINAL = frozenset({"exited", "offline", "unknown"})
"""Actual states an instance meant to run never recovers from."""


@dataclass
class Offer:
    """One rentable machine. ``strings=True`` sends its numbers as strings, as the service
    sometimes does; ``dud=True`` makes every instance on it a dud (see the module doc)."""

    id: int
    gpu_name: str = "RTX 4090"
    num_gpus: int = 1
    gpu_ram: int = 24564  # MB
    dph_total: float = 0.35
    reliability: float = 0.995
    cuda_max_good: float = 12.8
    direct_port_count: int = 10
    inet_down: float = 800.0
    inet_up: float = 500.0
    disk_space: float = 200.0
    public_ipaddr: str = "127.0.0.1"
    geolocation: str = "Sweden, SE"
    score: float = 100.0
    verified: bool = True
    external: bool = False
    rentable: bool = True
    rented: bool = False
    strings: bool = False
    dud: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The offer as ``/bundles/`` lists it."""
        numbers: dict[str, Any] = {
            "gpu_ram": self.gpu_ram,
            "gpu_total_ram": self.gpu_ram * self.num_gpus,
            "dph_total": self.dph_total,
            "dph_base": round(self.dph_total * 0.9, 6),
            "reliability": self.reliability,
            "reliability2": self.reliability,
            "cuda_max_good": self.cuda_max_good,
            "direct_port_count": self.direct_port_count,
            "inet_down": self.inet_down,
            "inet_up": self.inet_up,
            "disk_space": self.disk_space,
            "score": self.score,
        }
        if self.strings:
            numbers = {k: str(v) for k, v in numbers.items()}
        return {
            "id": self.id,
            "ask_contract_id": self.id,
            "bundle_id": self.id,
            "machine_id": 40000 + self.id,
            "host_id": 9000 + self.id % 97,
            "gpu_name": self.gpu_name,
            "num_gpus": self.num_gpus,
            "public_ipaddr": self.public_ipaddr,
            "geolocation": self.geolocation,
            "verified": self.verified,
            "verification": "verified" if self.verified else "unverified",
            "external": self.external,
            "rentable": self.rentable and not self.rented,
            "rented": self.rented,
            "hosting_type": 0,
            "cpu_cores_effective": 16.0,
            "cpu_ram": 64000,
            "driver_version": "550.54.14",
            **numbers,
            **self.extra,
        }


DEFAULT_OFFERS = (
    Offer(1001),
    Offer(
        1002,
        gpu_name="RTX 3090",
        gpu_ram=24576,
        dph_total=0.22,
        reliability=0.991,
        cuda_max_good=12.2,
        geolocation="Texas, US",
    ),
    Offer(
        1003,
        gpu_name="A100 SXM4",
        gpu_ram=81920,
        dph_total=1.1,
        reliability=0.999,
        inet_down=2000.0,
        geolocation="Germany, DE",
    ),
    Offer(
        1004,
        gpu_name="RTX 3060",
        gpu_ram=12288,
        dph_total=0.08,
        reliability=0.97,
        cuda_max_good=12.0,
        direct_port_count=1,
        inet_down=100.0,
        strings=True,
    ),
)


@dataclass
class FakeInstance:
    """One rented instance as the fake keeps it (``to_json`` is what the API shows)."""

    id: int
    offer: Offer
    image: str
    env: dict[str, str]
    onstart: str | None
    args: Any
    disk: float
    label: str | None
    runtype: str | None
    body: dict[str, Any]
    """The whole create request body as received."""
    start_date: float = field(default_factory=time.time)
    actual_status: str | None = None
    intended_status: str = "running"
    status_msg: str = ""
    ports: dict[str, list[dict[str, str]]] | None = None
    destroyed: bool = False
    dud: bool = False
    dud_ports: bool = True
    frozen: bool = False
    boot_index: int = 0
    running_since: float | None = None
    logs: list[str] = field(default_factory=list)
    history: list[str | None] = field(default_factory=list)
    """Every actual_status it went through, in order."""
    _busy: bool = False
    _placeholders: list[socket.socket] = field(default_factory=list, repr=False)

    @property
    def container_ports(self) -> list[str]:
        """``["8443/tcp", ...]`` from the ``-p`` keys of the env it was created with."""
        found = []
        for key in self.env:
            if key.startswith("-p "):
                inner = key[3:].strip().split(":")[-1]
                found.append(inner if "/" in inner else f"{inner}/tcp")
        return found

    @property
    def live(self) -> bool:
        """Still exists, so still costs money (running or stopped)."""
        return not self.destroyed

    def to_json(self) -> dict[str, Any]:
        offer = self.offer
        uptime = (time.time() - self.running_since) / 60 if self.running_since else 0.0
        row: dict[str, Any] = {
            "id": self.id,
            "machine_id": 40000 + offer.id,
            "host_id": 9000 + offer.id % 97,
            "label": self.label,
            "actual_status": self.actual_status,
            "intended_status": self.intended_status,
            "cur_state": "stopped" if self.intended_status == "stopped" else "running",
            "next_state": "stopped" if self.intended_status == "stopped" else "running",
            "status_msg": self.status_msg,
            "image_uuid": self.image,
            "image_runtype": self.runtype,
            "image_args": self.args if isinstance(self.args, list) else [],
            "onstart": self.onstart,
            "extra_env": [[k, v] for k, v in self.env.items() if not k.startswith("-")],
            "public_ipaddr": offer.public_ipaddr,
            "local_ipaddrs": "10.0.0.2 ",
            "direct_port_start": 40000,
            "direct_port_end": 40100,
            "dph_total": offer.dph_total,
            "gpu_name": offer.gpu_name,
            "num_gpus": offer.num_gpus,
            "gpu_ram": offer.gpu_ram,
            "disk_space": self.disk,
            "inet_up": offer.inet_up,
            "inet_down": offer.inet_down,
            "reliability2": offer.reliability,
            "cuda_max_good": offer.cuda_max_good,
            "geolocation": offer.geolocation,
            "start_date": self.start_date,
            "uptime_mins": round(uptime, 3),
            "ssh_host": None,
            "ssh_port": None,
            "template_id": None,
        }
        if self.ports is not None:
            row["ports"] = self.ports
        return row


def err(error: str, msg: str) -> dict[str, Any]:
    """The service's error body."""
    return {"success": False, "error": error, "msg": msg}


@dataclass
class VastRequest:
    """One request as the fake saw it; the key is replaced by ``<redacted>`` everywhere."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    key_valid: bool
    status: int = 0
    """The status answered; 0 when the connection was dropped instead."""


@dataclass
class Reply:
    status: int
    body: Any = None
    text: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


def port_key(key: Any) -> str:
    text = str(key)
    return text if "/" in text else f"{text}/tcp"


def close_placeholders(inst: FakeInstance) -> None:
    for sock in inst._placeholders:
        sock.close()
    inst._placeholders.clear()


PortHook = Callable[[FakeInstance], Mapping[Any, Any] | None]
"""``on_running``: gets the instance, returns ``{container_port: host_port}`` or None."""
