"""Retries, error shapes, the never-retried create, and the key that never leaks."""

from __future__ import annotations

import logging

import pytest

from remote.vast.client import VastClient
from remote.vast.errors import DeployError
from remote.vast.models import OfferQuery
from tests.fakes.vast import FakeVast
from tests.remote.deploy.rig import KEY, settings_for
from tests.support.clocks import Sleeps
from tests.support.servers import free_port

CREATE = "PUT /api/v0/asks/"


async def create(vast: VastClient, **changes: object) -> int:
    args: dict[str, object] = {
        "image": "vastai/base-image:cuda-12.4",
        "env": {"HARK_API_KEY": "k" * 64},
        "ports": [8443],
        "onstart": "echo hi",
        "disk_gb": 32,
        "label": "hark-fault",
    }
    args.update(changes)
    return await vast.create_instance(1001, **args)  # type: ignore[arg-type]


def creates(fake: FakeVast) -> int:
    return sum(1 for r in fake.requests if r.method == "PUT" and r.path.startswith("/api/v0/asks"))


# --- retries -----------------------------------------------------------------------------------


async def test_a_429_burst_is_waited_out(fake: FakeVast, vast: VastClient, sleeps: Sleeps) -> None:
    fake.fail_next("POST /api/v0/bundles/", 429, text="slow down", headers={"Retry-After": "3"},
                   count=2)  # fmt: skip
    fake.fail_next("POST /api/v0/bundles/", 429)  # JSON, no Retry-After: backoff
    offers = await vast.search_offers(OfferQuery())
    assert offers
    assert sleeps.waits == [3.0, 3.0, 2.0]  # Retry-After honoured, then 0.5 → 1 → 2 backoff
    assert [r.status for r in fake.requests] == [429, 429, 429, 200]


async def test_a_429_that_never_ends_is_rate_limited(
    fake: FakeVast, vast: VastClient, sleeps: Sleeps
) -> None:
    fake.fail_next("GET /api/v1/instances/", 429, count=10)
    with pytest.raises(DeployError) as caught:
        await vast.list_instances()
    assert caught.value.code == "vast-rate-limited"
    assert len(fake.requests) == 5  # 1 + 4 retries
    assert sleeps.waits == [0.5, 1.0, 2.0, 4.0]


async def test_a_long_retry_after_fails_at_once(
    fake: FakeVast, vast: VastClient, sleeps: Sleeps
) -> None:
    fake.fail_next("", 429, text="daily limit", headers={"Retry-After": "3600"})
    with pytest.raises(DeployError) as caught:
        await vast.search_offers(OfferQuery())
    assert caught.value.code == "vast-rate-limited"
    assert caught.value.retry_after == 3600.0
    assert sleeps.waits == []
    assert len(fake.requests) == 1


async def test_a_daily_search_quota_is_not_retried(
    fake: FakeVast, vast: VastClient, sleeps: Sleeps
) -> None:
    body = {"success": False, "error": "search_quota_exceeded", "msg": "resets at midnight UTC"}
    fake.fail_next("POST /api/v0/bundles/", 429, body)
    with pytest.raises(DeployError) as caught:
        await vast.search_offers(OfferQuery())
    assert caught.value.code == "vast-rate-limited"
    assert "midnight" in caught.value.message
    assert sleeps.waits == []
    assert len(fake.requests) == 1


async def test_5xx_and_dropped_connections_are_retried(
    fake: FakeVast, vast: VastClient, sleeps: Sleeps
) -> None:
    instance_id = await create(vast)
    fake.fail_next(r"GET /api/v0/instances/\d+/", 502, text="<html>bad gateway</html>")
    fake.fail_next(r"GET /api/v0/instances/\d+/", 500)
    fake.fail_next(r"GET /api/v0/instances/\d+/", drop=True)
    inst = await vast.get_instance(instance_id)
    assert inst is not None
    assert inst.id == instance_id
    assert sleeps.waits == [0.5, 1.0, 2.0]


async def test_5xx_that_never_ends_is_a_server_error(fake: FakeVast, vast: VastClient) -> None:
    fake.fail_next("DELETE", 503, count=10)
    with pytest.raises(DeployError) as caught:
        await vast.destroy(123)
    assert caught.value.code == "vast-server"
    assert caught.value.status == 503


async def test_no_connection_is_unreachable(sleeps: Sleeps) -> None:
    settings = settings_for(f"http://127.0.0.1:{free_port()}", retries=2)
    async with VastClient(KEY, settings, sleep=sleeps) as vast:
        with pytest.raises(DeployError) as caught:
            await vast.list_instances()
    assert caught.value.code == "vast-unreachable"
    assert sleeps.waits == [0.5, 1.0]


# --- error shapes ------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [401, 404])
async def test_a_refused_key_is_an_auth_error(fake: FakeVast, sleeps: Sleeps, status: int) -> None:
    fake.bad_key_status = status
    wrong = "not-the-right-key-0123456789"
    async with VastClient(wrong, settings_for(fake.url), sleep=sleeps) as vast:
        with pytest.raises(DeployError) as caught:
            await vast.list_instances()
    assert caught.value.code == "vast-auth"
    assert "cloud.vast.ai → Account → API keys" in caught.value.message
    assert wrong not in str(caught.value)
    assert len(fake.requests) == 1
    assert sleeps.waits == []


async def test_a_bad_request_keeps_vasts_message(fake: FakeVast, vast: VastClient) -> None:
    body = {"success": False, "error": "invalid_args", "msg": "state must be a word"}
    fake.fail_next("PUT /api/v0/instances/", 400, body)
    with pytest.raises(DeployError) as caught:
        await vast.stop(1)
    assert caught.value.code == "vast-bad-request"
    assert caught.value.vast_error == "invalid_args"
    assert "state must be a word" in caught.value.message


def test_an_empty_key_is_refused() -> None:
    with pytest.raises(DeployError) as caught:
        VastClient("  ", settings_for("http://127.0.0.1:1"))
    assert caught.value.code == "vast-auth"


# --- create: checked first, never retried ------------------------------------------------------


async def test_a_long_env_value_is_refused_before_sending(fake: FakeVast, vast: VastClient) -> None:
    with pytest.raises(DeployError) as caught:
        await create(vast, env={"HARK_CERT_0": "c" * 257})
    assert caught.value.code == "vast-invalid"
    assert "HARK_CERT_0" in caught.value.message
    with pytest.raises(DeployError, match="onstart"):
        await create(vast, onstart="x" * 4097)
    assert fake.requests == []


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_create_is_not_retried_on_5xx(
    fake: FakeVast, vast: VastClient, sleeps: Sleeps, status: int
) -> None:
    fake.fail_next(CREATE, status)
    with pytest.raises(DeployError) as caught:
        await create(vast)
    assert caught.value.code == "vast-create-uncertain"
    assert "hark-fault" in caught.value.message
    assert creates(fake) == 1
    assert sleeps.waits == []


async def test_create_is_not_retried_on_429(fake: FakeVast, vast: VastClient) -> None:
    fake.fail_next(CREATE, 429, headers={"Retry-After": "1"})
    with pytest.raises(DeployError) as caught:
        await create(vast)
    assert caught.value.code == "vast-rate-limited"
    assert creates(fake) == 1
    assert fake.live_instances() == []


async def test_a_lost_create_reply_is_uncertain_and_found_by_label(
    fake: FakeVast, vast: VastClient, sleeps: Sleeps
) -> None:
    fake.fail_next(CREATE, lose_response=True)
    with pytest.raises(DeployError) as caught:
        await create(vast, label="hark-lost-1")
    assert caught.value.code == "vast-create-uncertain"
    assert creates(fake) == 1
    assert sleeps.waits == []
    found = await vast.find_by_label("hark-lost-1")
    assert [i.id for i in found] == [i.id for i in fake.live_instances()]
    assert len(found) == 1
    assert await vast.destroy(found[0].id)
    assert fake.live_instances() == []


async def test_a_dropped_create_is_uncertain(fake: FakeVast, vast: VastClient) -> None:
    fake.fail_next(CREATE, drop=True)
    with pytest.raises(DeployError) as caught:
        await create(vast)
    assert caught.value.code == "vast-create-uncertain"
    assert creates(fake) == 1


async def test_a_create_timeout_is_uncertain(fake: FakeVast, sleeps: Sleeps) -> None:
    fake.slow_next(CREATE, 5.0)
    settings = settings_for(fake.url, create_timeout_s=0.3)
    async with VastClient(KEY, settings, sleep=sleeps) as vast:
        with pytest.raises(DeployError) as caught:
            await create(vast)
    assert caught.value.code == "vast-create-uncertain"
    assert creates(fake) == 1
    assert sleeps.waits == []


async def test_a_create_that_cannot_connect_created_nothing(sleeps: Sleeps) -> None:
    settings = settings_for(f"http://127.0.0.1:{free_port()}")
    async with VastClient(KEY, settings, sleep=sleeps) as vast:
        with pytest.raises(DeployError) as caught:
            await create(vast)
    assert caught.value.code == "vast-unreachable"
    assert "nothing was created" in caught.value.message
    assert sleeps.waits == []


@pytest.mark.parametrize(
    ("offer_id", "status", "code"),
    [(1001, 400, "vast-bad-request"), (424242, 404, "vast-not-found")],
)
async def test_an_unavailable_offer_is_a_clear_error(
    fake: FakeVast, vast: VastClient, offer_id: int, status: int, code: str
) -> None:
    if offer_id == 1001:
        fake.fail_create(1001)
    with pytest.raises(DeployError) as caught:
        await vast.create_instance(
            offer_id, image="img", env={}, ports=[8443], onstart="", disk_gb=10, label="hark-x"
        )
    assert caught.value.code == code
    assert caught.value.status == status
    assert caught.value.vast_error == "no_such_ask"
    assert "not available" in caught.value.message
    assert fake.live_instances() == []


# --- the key -----------------------------------------------------------------------------------


async def test_the_key_never_shows_in_errors_or_logs(
    fake: FakeVast, vast: VastClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake.fail_next("", 429, text=f"slow down {KEY}", count=2)
    fake.fail_next("", 500, {"success": False, "error": "server_error", "msg": f"bad {KEY}"},
                   count=3)  # fmt: skip
    messages = []
    with pytest.raises(DeployError) as caught:
        await vast.list_instances()  # 429, 429, 500, 500, 500: out of retries
    assert caught.value.code == "vast-server"
    messages.append(str(caught.value))
    fake.fail_next(CREATE, lose_response=True)
    with pytest.raises(DeployError) as caught:
        await create(vast)
    assert caught.value.code == "vast-create-uncertain"
    messages.append(str(caught.value))
    fake.fail_next("", 400, {"success": False, "error": "invalid_args", "msg": f"no {KEY}"})
    with pytest.raises(DeployError) as caught:
        await vast.stop(1)
    assert caught.value.code == "vast-bad-request"
    messages.append(str(caught.value))
    assert "no ***" in messages[-1]
    assert "bad ***" in messages[0]
    assert caplog.records  # the retries and the create were logged
    assert KEY not in caplog.text
    for message in messages:
        assert KEY not in message
