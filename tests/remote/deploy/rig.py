"""What the deploy tests share besides their fixtures: the fake Vast.ai's API key and the
model a deploy asks for, quick client settings, renting an instance over the fake's HTTP API
(as a deploy would), and the deployment record Hark keeps for one."""

from __future__ import annotations

from datetime import datetime

import httpx

from remote.deploy.records import Deployment
from remote.deploy.service import SERVER_PORT
from remote.vast.settings import VastSettings
from tests.fakes.vast import FakeVast

KEY = "hark-test-vast-key-7f3a9c1e5b"
MODEL = "llama3.2:3b"


def settings_for(url: str, **overrides: object) -> VastSettings:
    """Quick, deterministic settings: backoff 0.5 s doubling up to 4 s, four retries."""
    values: dict[str, object] = {
        "url": url,
        "retries": 4,
        "backoff_s": 0.5,
        "backoff_factor": 2.0,
        "backoff_max_s": 4.0,
        "retry_after_max_s": 60.0,
        "timeout_s": 5.0,
        "connect_timeout_s": 2.0,
        "create_timeout_s": 5.0,
        "logs_attempts": 5,
        "logs_poll_s": 0.25,
    }
    values.update(overrides)
    return VastSettings.model_validate(values)


def create(fake: FakeVast, offer_id: int = 1001, label: str = "hark-20261123-100000") -> int:
    """Rent ``offer_id`` on the fake over its HTTP API (as a deploy would); returns the id."""
    body = {"image": "hark/server", "env": {f"-p {SERVER_PORT}:{SERVER_PORT}": "1"}, "label": label}
    response = httpx.put(
        f"{fake.url}/api/v0/asks/{offer_id}/",
        json=body,
        headers={"Authorization": f"Bearer {next(iter(fake.valid_keys))}"},
    )
    assert response.status_code == 200, response.text
    return int(response.json()["new_contract"])


def record_for(
    instance_id: int, cert_pem: str, *, created_at: datetime, port: int = 0, label: str = ""
) -> Deployment:
    """The record of a running server on ``instance_id`` with certificate ``cert_pem``."""
    return Deployment(
        instance_id=instance_id,
        label=label or "hark-20261123-100000",
        offer_id=1001,
        gpu_name="RTX 4090",
        dph_total=0.35,
        model=MODEL,
        created_at=created_at.isoformat(timespec="seconds"),
        cert_pem=cert_pem,
        public_ip="127.0.0.1" if port else "",
        port=port,
        state="running",
    )
