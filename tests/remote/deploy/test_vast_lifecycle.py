"""The client against the fake Vast.ai API: search, create, watch, stop/start, destroy, logs."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from remote.vast.client import DEFAULT_RUNTYPE, VastClient
from remote.vast.models import Instance, OfferQuery
from tests.fakes.vast import FakeVast
from tests.support.clocks import Sleeps

ONSTART = "#!/bin/sh\necho hark server starting\n"


async def poll(
    vast: VastClient, instance_id: int, done: Callable[[Instance], bool], limit: int = 20
) -> Instance:
    """Read the instance until ``done`` (the fake steps it on every read: no sleeping)."""
    for _ in range(limit):
        inst = await vast.get_instance(instance_id)
        assert inst is not None
        if done(inst):
            return inst
    raise AssertionError(f"instance {instance_id} never got there")


async def create(vast: VastClient, offer_id: int = 1001, label: str = "hark-test") -> int:
    return await vast.create_instance(
        offer_id,
        image="vastai/base-image:cuda-12.4",
        env={"HARK_API_KEY": "k" * 64, "HARK_CERT_0": "c" * 256},
        ports=[8443],
        onstart=ONSTART,
        disk_gb=32,
        label=label,
    )


async def test_search_returns_only_matching_offers_cheapest_first(
    fake: FakeVast, vast: VastClient
) -> None:
    query = OfferQuery(
        min_gpu_ram_mb=24000, min_reliability=0.99, min_direct_ports=2, min_cuda="12.2",
        max_dph=1.0, min_inet_down=200, min_disk_gb=50, limit=10,
    )  # fmt: skip
    offers = await vast.search_offers(query)
    assert [o.id for o in offers] == [1002, 1001]
    assert [o.dph_total for o in offers] == [0.22, 0.35]
    assert offers[1].gpu_ram_mb == 24564
    assert offers[1].machine_id == 41001
    sent = fake.requests[-1]
    assert (sent.method, sent.path) == ("POST", "/api/v0/bundles/")
    assert sent.body == query.to_api()
    assert sent.headers["authorization"] == "Bearer <redacted>"
    assert sent.key_valid


async def test_search_reads_string_numbers_and_skips_machines(vast: VastClient) -> None:
    offers = await vast.search_offers(OfferQuery(min_gpu_ram_mb=10000, limit=10))
    assert [o.id for o in offers] == [1004, 1002, 1001, 1003]
    assert offers[0].dph_total == 0.08  # sent as the string "0.08"
    assert offers[0].direct_port_count == 1
    skipped = await vast.search_offers(OfferQuery(exclude_machine_ids=(41004, 41002)))
    assert [o.id for o in skipped] == [1001, 1003]


async def test_create_watch_stop_start_destroy(fake: FakeVast, vast: VastClient) -> None:
    instance_id = await create(vast)
    body = fake.instance(instance_id).body
    assert body["env"] == {
        "-p 8443:8443": "1",
        "HARK_API_KEY": "k" * 64,
        "HARK_CERT_0": "c" * 256,
    }
    assert body["cancel_unavail"] is True
    assert body["runtype"] == DEFAULT_RUNTYPE
    assert (body["label"], body["disk"], body["onstart"]) == ("hark-test", 32, ONSTART)

    first = await vast.get_instance(instance_id)
    assert first is not None
    assert first.is_loading
    assert first.ports == {}
    running = await poll(vast, instance_id, lambda i: i.is_running)
    port = running.host_port(8443)
    assert port == int(fake.instance(instance_id).ports["8443/tcp"][0]["HostPort"])  # type: ignore[index]
    assert running.public_ip == "127.0.0.1"
    assert running.label == "hark-test"

    await vast.stop(instance_id)
    stopped = await poll(vast, instance_id, lambda i: i.actual_status == "exited")
    assert stopped.is_stopped
    assert not stopped.is_dead
    assert stopped.host_port(8443) is None

    await vast.start(instance_id)
    again = await poll(vast, instance_id, lambda i: i.is_running)
    assert again.host_port(8443) is not None
    assert again.host_port(8443) != port

    assert await vast.destroy(instance_id) is True
    assert await vast.get_instance(instance_id) is None
    assert await vast.destroy(instance_id) is False  # already gone: not an error
    assert fake.live_instances() == []


async def test_a_dead_instance_reads_as_dead(fake: FakeVast, vast: VastClient) -> None:
    first, second = await create(vast, 1001), await create(vast, 1002)
    await poll(vast, first, lambda i: i.is_running)
    fake.exit_instance(first)
    fake.offline_instance(second)
    for instance_id in (first, second):
        inst = await vast.get_instance(instance_id)
        assert inst is not None
        assert inst.is_dead
        assert not inst.is_running


async def test_list_follows_every_page(fake: FakeVast, vast: VastClient) -> None:
    fake.page_size = 2
    made = []
    for n in range(5):
        fake.add_offer(id=2000 + n, dph_total=0.1 + n / 100)
        made.append(await create(vast, 2000 + n, label=f"hark-{n}" if n % 2 else f"other-{n}"))
    before = len(fake.requests)
    listed = await vast.list_instances()
    assert [i.id for i in listed] == made
    pages = fake.requests[before:]
    assert [r.path for r in pages] == ["/api/v1/instances/"] * 3
    assert "after_token" not in pages[0].query
    assert pages[1].query["after_token"] != pages[2].query["after_token"]
    found = await vast.find_by_label("hark-")
    assert sorted(i.label or "" for i in found) == ["hark-1", "hark-3"]
    assert [i.id for i in await vast.find_by_label("hark-3")] == [made[3]]


async def test_an_unknown_instance_is_none_or_not_found(vast: VastClient) -> None:
    from remote.vast.errors import DeployError

    assert await vast.get_instance(99) is None
    with pytest.raises(DeployError) as caught:
        await vast.stop(99)
    assert caught.value.code == "vast-not-found"


async def test_logs_wait_until_ready_without_the_key(
    fake: FakeVast, vast: VastClient, sleeps: Sleeps
) -> None:
    instance_id = await create(vast)
    await poll(vast, instance_id, lambda i: i.is_running)
    fake.set_logs(instance_id, "line one\nline two\nline three")
    fake.logs_pending_polls = 2
    text = await vast.logs(instance_id, tail=2)
    assert text == "line two\nline three\n"
    assert sleeps.waits == [0.25, 0.25]
    request_logs = [r for r in fake.requests if "request_logs" in r.path]
    assert request_logs[-1].body == {"tail": "2"}
    fetches = [r for r in fake.requests if r.path.startswith("/logs/")]
    assert len(fetches) == 3
    assert all("authorization" not in r.headers for r in fetches)


async def test_logs_that_never_come_fail_clearly(fake: FakeVast, vast: VastClient) -> None:
    from remote.vast.errors import DeployError

    instance_id = await create(vast)
    fake.logs_pending_polls = 100
    with pytest.raises(DeployError) as caught:
        await vast.logs(instance_id)
    assert caught.value.code == "vast-logs-unavailable"


async def test_one_instance_wrapped_in_a_list_is_read(fake: FakeVast, vast: VastClient) -> None:
    row = {"id": 5, "actual_status": "running", "ports": {"8443/tcp": [{"HostPort": "40001"}]}}
    fake.fail_next(r"GET /api/v0/instances/5/", 200, {"instances": [row]})
    fake.fail_next(r"GET /api/v0/instances/5/", 200, {"instances": []})
    inst = await vast.get_instance(5)
    assert inst is not None
    assert inst.host_port(8443) == 40001
    assert await vast.get_instance(5) is None
