"""Deployment records: what Hark created on Vast.ai, kept on this computer.

One JSON file per deployment under ``<user data dir>/deployments/`` (0600), holding what Hark
needs to reach and manage the server again: the instance id and label, the offer, the address,
the pinned certificate, the price and when it was made. No secret is stored here: the server's
API key lives in the keyring (``server-api-key``), the certificate is public by nature.

If a record is lost, ``hark remote`` still finds Hark's instances by their ``hark-`` label.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

LABEL_PREFIX = "hark-"


def records_folder() -> Path:
    """Where deployment records live: ``<user data dir>/deployments``."""
    from app.shared.paths import data_dir

    return data_dir() / "deployments"


@dataclass(frozen=True, slots=True)
class Deployment:
    """A Hark server Hark created; ``public_ip``/``port`` are empty until it runs."""

    instance_id: int
    label: str
    offer_id: int
    gpu_name: str
    dph_total: float
    model: str
    created_at: str
    cert_pem: str
    public_ip: str = ""
    port: int = 0
    state: str = "creating"

    @property
    def url(self) -> str:
        return f"https://{self.public_ip}:{self.port}" if self.public_ip and self.port else ""

    def with_address(self, public_ip: str, port: int) -> Deployment:
        return replace(self, public_ip=public_ip, port=port)

    def with_state(self, state: str) -> Deployment:
        return replace(self, state=state)

    def hours_so_far(self, now: datetime | None = None) -> float:
        started = datetime.fromisoformat(self.created_at)
        return max(0.0, ((now or datetime.now(UTC)) - started).total_seconds() / 3600)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Deployment:
        fields = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**fields)


def new_label(now: datetime | None = None) -> str:
    """``hark-YYYYmmdd-HHMMSS``: unique enough per user, and findable by prefix."""
    return LABEL_PREFIX + (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")


def utc_now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class RecordStore:
    """The deployment records in one folder; every write is atomic and private (0600)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _path(self, instance_id: int) -> Path:
        return self.folder / f"{instance_id}.json"

    def save(self, deployment: Deployment) -> None:
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self._path(deployment.instance_id)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(deployment.to_json(), f, indent=2)
        os.replace(tmp, path)

    def remove(self, instance_id: int) -> None:
        self._path(instance_id).unlink(missing_ok=True)

    def get(self, instance_id: int) -> Deployment | None:
        path = self._path(instance_id)
        try:
            return Deployment.from_json(json.loads(path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            return None
        except (ValueError, TypeError, KeyError) as exc:
            log.warning("ignoring unreadable deployment record %s: %s", path, exc)
            return None

    def all(self) -> list[Deployment]:
        if not self.folder.is_dir():
            return []
        found = (self.get(int(p.stem)) for p in self.folder.glob("*.json") if p.stem.isdigit())
        return sorted((d for d in found if d is not None), key=lambda d: d.created_at)

    def current(self) -> Deployment | None:
        """The newest deployment, the one Hark uses by default."""
        records = self.all()
        return records[-1] if records else None
