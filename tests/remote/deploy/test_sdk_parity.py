"""Our requests are the official ``vastai`` SDK's requests (the SDK is a test dependency only).

Both clients talk to the same fake; what the fake recorded must match field for field.
"""

from __future__ import annotations

import asyncio

import pytest
from vastai.api import instances as sdk_instances
from vastai.api import offers as sdk_offers
from vastai.api.client import VastClient as SdkClient

from remote.vast.client import DEFAULT_RUNTYPE, VastClient
from remote.vast.models import OfferQuery
from tests.fakes.vast import FakeVast, VastRequest
from tests.remote.deploy.rig import KEY


@pytest.fixture
def sdk(fake: FakeVast) -> SdkClient:
    return SdkClient(api_key=KEY, server_url=fake.url, retry=1, timeout=5)


def last(fake: FakeVast) -> VastRequest:
    return fake.requests[-1]


async def test_search_body_matches_the_sdk(
    fake: FakeVast, vast: VastClient, sdk: SdkClient
) -> None:
    query = OfferQuery(
        min_gpu_ram_mb=24000, min_reliability=0.98, min_direct_ports=2, min_cuda="12.4",
        max_dph=0.6, limit=5, storage_gb=40,
    )  # fmt: skip
    filters = {
        k: v
        for k, v in query.to_api().items()
        if k not in ("order", "type", "limit", "allocated_storage")
    }
    sdk_offers_found = await asyncio.to_thread(
        sdk_offers.search_offers, sdk, query=filters, order=[["dph_total", "asc"]],
        limit=5, storage=40, no_default=True,
    )  # fmt: skip
    theirs = last(fake)
    ours_found = await vast.search_offers(query)
    ours = last(fake)
    assert (ours.method, ours.path) == (theirs.method, theirs.path)
    assert ours.body == theirs.body
    assert [o.id for o in ours_found] == [row["id"] for row in sdk_offers_found]


async def test_create_body_matches_the_sdk(
    fake: FakeVast, vast: VastClient, sdk: SdkClient
) -> None:
    env = {"HARK_API_KEY": "k" * 40}
    await asyncio.to_thread(
        sdk_instances.create_instance, sdk, 1001, image="img:1", disk=32,
        env={"-p 8443:8443": "1", **env}, label="hark-p", onstart_cmd="echo hi",
        cancel_unavail=True, runtype=DEFAULT_RUNTYPE,
    )  # fmt: skip
    theirs = last(fake)
    await vast.create_instance(
        1002, image="img:1", env=env, ports=[8443], onstart="echo hi", disk_gb=32, label="hark-p"
    )
    ours = last(fake)
    assert ours.method == theirs.method == "PUT"
    assert (ours.path, theirs.path) == ("/api/v0/asks/1002/", "/api/v0/asks/1001/")
    assert ours.body == theirs.body


async def test_list_get_stop_destroy_match_the_sdk(
    fake: FakeVast, vast: VastClient, sdk: SdkClient
) -> None:
    instance_id = await vast.create_instance(
        1001, image="img", env={}, ports=[8443], onstart="", disk_gb=10, label="hark-q"
    )
    iid = instance_id
    calls = [
        (lambda: sdk_instances.show_instances(sdk), vast.list_instances),
        (lambda: sdk_instances.show_instance(sdk, iid), lambda: vast.get_instance(iid)),
        (lambda: sdk_instances.stop_instance(sdk, instance_id), lambda: vast.stop(instance_id)),
        (lambda: sdk_instances.start_instance(sdk, instance_id), lambda: vast.start(instance_id)),
    ]  # fmt: skip
    for theirs_call, ours_call in calls:
        await asyncio.to_thread(theirs_call)
        theirs = last(fake)
        await ours_call()
        ours = last(fake)
        assert (ours.method, ours.path, ours.query, ours.body) == (
            theirs.method, theirs.path, theirs.query, theirs.body,
        )  # fmt: skip
    await asyncio.to_thread(sdk_instances.destroy_instance, sdk, instance_id)
    theirs = last(fake)
    assert await vast.destroy(instance_id) is False  # the SDK destroyed it already
    ours = last(fake)
    assert (ours.method, ours.path, ours.body) == (theirs.method, theirs.path, theirs.body)
