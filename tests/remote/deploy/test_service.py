"""RemoteService against the fake Vast.ai, with a real TLS server answering ``/status``."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from remote.deploy.errors import DeployCode
from remote.deploy.records import RecordStore
from remote.deploy.service import SERVER_PORT, RemoteService
from remote.deploy.status import HttpStatusProbe
from remote.vast.client import VastClient
from remote.vast.errors import DeployError
from tests.fakes.vast import FakeVast
from tests.remote.deploy.rig import KEY, MODEL, create, record_for
from tests.support.clocks import SimClock
from tests.support.servers import serve
from tests.support.tls import CertPair, self_signed

SERVER_KEY = "hark-server-test-key-31c9"
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def status_app(seen_keys: list[str]) -> Starlette:
    """A stand-in for the Hark server's ``/status``: ready, the model pulled, idle 42 s."""

    async def status(request: Request) -> JSONResponse:
        seen_keys.append(request.headers.get("authorization", ""))
        if request.headers.get("authorization") != f"Bearer {SERVER_KEY}":
            return JSONResponse({"error": {"code": "unauthorized"}}, status_code=401)
        return JSONResponse(
            {
                "last_request_s_ago": 42.0,
                "ollama": {"reachable": True, "models": [MODEL]},
                "provisioning": {"state": "ready", "detail": None, "progress": None},
            }
        )

    return Starlette(routes=[Route("/status", status)])


@pytest.fixture
def cert() -> CertPair:
    return self_signed(ip="127.0.0.1")


@pytest.fixture
def server(cert: CertPair, tmp_path: Path) -> Iterator[tuple[int, list[str]]]:
    """A TLS server with the ``cert`` answering ``/status``; yields its port and seen keys."""
    seen: list[str] = []
    cert_file, key_file = cert.write(tmp_path, "server")
    with serve(status_app(seen), cert_file, key_file) as url:
        yield int(url.rsplit(":", 1)[1]), seen


@pytest.fixture
def records(tmp_path: Path) -> RecordStore:
    return RecordStore(tmp_path / "deployments")


def service_for(
    vast: VastClient, records: RecordStore, ticker: SimClock | None = None, **kw: Any
) -> RemoteService:
    ticker = ticker or SimClock()
    return RemoteService(
        vast, records, clock=lambda: NOW, sleep=ticker.sleep, monotonic=ticker, **kw
    )


async def test_status_of_a_running_server_reads_vast_and_the_pinned_server(
    fake: FakeVast,
    vast: VastClient,
    records: RecordStore,
    cert: CertPair,
    server: tuple[int, list[str]],
) -> None:
    port, seen = server
    fake.on_running = lambda inst: {SERVER_PORT: port}
    instance_id = create(fake)
    fake.advance_until(instance_id)
    records.save(record_for(instance_id, cert.cert_pem, created_at=NOW - timedelta(hours=2)))
    probe = HttpStatusProbe(lambda: SERVER_KEY)

    status = await service_for(vast, records, probe=probe).status()

    assert status.instance_id == instance_id
    assert status.state == "running"
    assert status.url == f"https://127.0.0.1:{port}"
    assert status.dph_total == pytest.approx(0.35)
    assert status.cost_so_far == pytest.approx(0.70)
    assert status.uptime_s is not None
    assert status.uptime_s >= 0
    assert status.server is not None
    assert status.server.reachable, status.server
    assert status.server.ready
    assert status.server.model_pulled is True
    assert status.server.idle_s == pytest.approx(42.0)
    assert seen == [f"Bearer {SERVER_KEY}"]
    assert status.to_json()["server"]["ready"] is True


async def test_the_probe_refuses_a_server_with_another_certificate(
    fake: FakeVast, vast: VastClient, records: RecordStore, server: tuple[int, list[str]]
) -> None:
    port, seen = server
    fake.on_running = lambda inst: {SERVER_PORT: port}
    instance_id = create(fake)
    fake.advance_until(instance_id)
    other = self_signed(ip="127.0.0.1")
    records.save(record_for(instance_id, other.cert_pem, created_at=NOW))

    status = await service_for(vast, records, probe=HttpStatusProbe(lambda: SERVER_KEY)).status()

    assert status.server is not None
    assert not status.server.reachable
    assert seen == []  # the key never went to a server that does not hold the pinned cert


async def test_a_lost_record_is_found_by_its_label(
    fake: FakeVast, vast: VastClient, records: RecordStore
) -> None:
    instance_id = create(fake, label="hark-20261101-080000")
    fake.advance_until(instance_id)
    create(fake, offer_id=1002, label="someone-elses-box")

    status = await service_for(vast, records).status()
    listed = await service_for(vast, records).list()

    assert status.instance_id == instance_id
    assert status.record is None
    assert status.state == "running"
    assert status.cost_so_far is not None
    assert [(i.instance_id, i.record) for i in listed] == [(instance_id, None)]


async def test_no_instance_or_several_give_clear_errors(
    fake: FakeVast, vast: VastClient, records: RecordStore
) -> None:
    service = service_for(vast, records)
    with pytest.raises(DeployError) as none:
        await service.status()
    assert none.value.code == DeployCode.REMOTE_NONE
    assert "hark remote deploy" in none.value.message
    first = create(fake, label="hark-a")
    second = create(fake, offer_id=1002, label="hark-b")
    with pytest.raises(DeployError) as several:
        await service.status()
    assert several.value.code == DeployCode.REMOTE_AMBIGUOUS
    assert str(first) in several.value.message
    assert str(second) in several.value.message


async def test_stop_then_start_reads_the_new_ports_into_the_record(
    fake: FakeVast, vast: VastClient, records: RecordStore, cert: CertPair
) -> None:
    instance_id = create(fake)
    fake.advance_until(instance_id)
    first_port = (await vast.get_instance(instance_id)).ports[SERVER_PORT]  # type: ignore[union-attr]
    records.save(record_for(instance_id, cert.cert_pem, created_at=NOW, port=first_port))
    service = service_for(vast, records)

    await service.stop()
    assert records.get(instance_id).state == "stopped"  # type: ignore[union-attr]
    fake.advance_until(instance_id, "exited")
    assert (await service.status()).state == "stopped"
    said: list[str] = []
    updated = await service.start(on_progress=said.append)

    live = await vast.get_instance(instance_id)
    assert live is not None
    assert live.is_running
    new_port = live.ports[SERVER_PORT]
    assert new_port != first_port
    assert updated is not None
    assert updated.port == new_port
    saved = records.get(instance_id)
    assert saved is not None
    assert saved.port == new_port
    assert saved.state == "starting"
    assert any("running at" in line for line in said), said


async def test_start_gives_up_after_its_limit(
    fake: FakeVast, vast: VastClient, records: RecordStore
) -> None:
    instance_id = create(fake)
    fake.advance_until(instance_id)
    await vast.stop(instance_id)
    fake.advance_until(instance_id, "exited")
    fake.step_on_poll = False
    ticker = SimClock()
    with pytest.raises(DeployError) as stuck:
        await service_for(vast, records, ticker).start(instance_id, timeout_s=30, poll_s=5)
    assert stuck.value.code == DeployCode.REMOTE_START_TIMEOUT
    assert "--timeout" in stuck.value.message
    assert sum(ticker.waits) == pytest.approx(30)


async def test_start_fails_when_the_instance_dies(
    fake: FakeVast, vast: VastClient, records: RecordStore
) -> None:
    instance_id = create(fake)
    fake.advance_until(instance_id)
    await vast.stop(instance_id)
    fake.advance_until(instance_id, "exited")
    fake.step_on_poll = False
    ticker = SimClock()
    ticker.on_sleep.append(lambda: fake.exit_instance(instance_id))  # dies once seen booting
    with pytest.raises(DeployError) as died:
        await service_for(vast, records, ticker).start(instance_id, timeout_s=30, poll_s=5)
    assert died.value.code == DeployCode.REMOTE_START_FAILED
    assert "exited" in died.value.message
    assert ticker.waits == [5]


async def test_destroy_removes_instance_and_record(
    fake: FakeVast, vast: VastClient, records: RecordStore, cert: CertPair
) -> None:
    instance_id = create(fake)
    records.save(record_for(instance_id, cert.cert_pem, created_at=NOW))
    service = service_for(vast, records)

    assert await service.destroy() is True
    assert fake.live_instances() == []
    assert records.get(instance_id) is None
    assert await service.destroy(instance_id) is False


async def test_logs_and_list_merge_records_with_labels(
    fake: FakeVast, vast: VastClient, records: RecordStore, cert: CertPair
) -> None:
    kept = create(fake)
    lost = create(fake, offer_id=1002, label="hark-lost")
    gone = 999
    records.save(record_for(kept, cert.cert_pem, created_at=NOW))
    records.save(record_for(gone, cert.cert_pem, created_at=NOW - timedelta(days=1)))
    fake.set_logs(kept, "ollama: pulled llama3.2:3b\nHark server ready")
    service = service_for(vast, records)

    listed = {i.instance_id: i for i in await service.list()}
    text = await service.logs(kept, tail=10)

    assert set(listed) == {kept, lost, gone}
    assert listed[gone].state == "gone"
    assert listed[lost].record is None
    assert listed[kept].record is not None
    assert "Hark server ready" in text
    assert KEY not in text
