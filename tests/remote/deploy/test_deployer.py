"""The deployer's failure handling against FakeVast (and the real server where one must answer).

Every case ends with the instances the user did not keep destroyed (``fake.live_instances()``)
and their records gone. Waits run on a simulated clock: the deployer's sleep returns at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from app.settings.secrets import SecretStore
from remote.deploy.deployer import Deployer
from remote.deploy.errors import DeployCode
from remote.deploy.options import DeployOptions, DeployProgress, DeployTimeouts
from remote.deploy.records import RecordStore
from remote.vast.client import VastClient
from remote.vast.errors import DeployError, VastCode
from tests.fakes.vast import FakeInstance, FakeVast
from tests.remote.deploy.box import TIMEOUTS, HarkBox
from tests.remote.deploy.rig import MODEL
from tests.support.clocks import SimClock


@pytest.fixture(autouse=True)
def offers(fake: FakeVast) -> None:
    """Three cheap offers, tried cheapest first: 70, 71, 72."""
    for offer_id, price in ((70, 0.01), (71, 0.02), (72, 0.03)):
        fake.add_offer(id=offer_id, dph_total=price)


@pytest.fixture
def records(tmp_path: Path) -> RecordStore:
    return RecordStore(tmp_path / "records")


def on_offer(fake: FakeVast, offer_id: int) -> list[FakeInstance]:
    return [i for i in list(fake.instances.values()) if i.offer.id == offer_id]


def once(hooks: list[Callable[[], None]], condition: Callable[[], bool], act: Callable[[], None]):
    """Run ``act`` at the first sleep where ``condition`` holds."""
    done: list[bool] = []

    def hook() -> None:
        if not done and condition():
            done.append(True)
            act()

    hooks.append(hook)


async def test_no_offer_under_the_price_cap(fake: FakeVast, box: HarkBox, deployer: Deployer):
    with pytest.raises(DeployError) as caught:
        await deployer.deploy(DeployOptions(model=MODEL, max_dph=0.001))
    assert caught.value.code == DeployCode.DEPLOY_NO_OFFERS
    assert "--max-price" in caught.value.message
    assert fake.instances == {}


async def test_an_offer_taken_meanwhile_is_skipped(
    fake: FakeVast, box: HarkBox, deployer: Deployer, records: RecordStore
):
    fake.fail_create(70)  # no_such_ask
    deployment = await deployer.deploy(DeployOptions(model=MODEL))
    assert deployment.offer_id == 71
    assert on_offer(fake, 70) == []
    assert [i.id for i in fake.live_instances()] == [deployment.instance_id]
    assert [r.instance_id for r in records.all()] == [deployment.instance_id]


async def test_an_instance_that_exits_is_destroyed_and_the_next_offer_tried(
    fake: FakeVast, box: HarkBox, deployer: Deployer, records: RecordStore
):
    box.broken_offers.add(70)
    deployment = await deployer.deploy(DeployOptions(model=MODEL))
    assert deployment.offer_id == 71
    (first,) = on_offer(fake, 70)
    assert "exited" in first.history
    assert first.destroyed
    assert [i.id for i in fake.live_instances()] == [deployment.instance_id]
    assert [r.instance_id for r in records.all()] == [deployment.instance_id]


async def test_a_dud_that_never_opens_its_port_is_given_up_after_the_limit(
    fake: FakeVast, box: HarkBox, deployer: Deployer, clock: SimClock
):
    fake.add_offer(id=70, dph_total=0.01, dud=True)
    deployment = await deployer.deploy(DeployOptions(model=MODEL))
    assert deployment.offer_id == 71
    (dud,) = on_offer(fake, 70)
    assert dud.destroyed
    assert clock.now >= TIMEOUTS.tls_s
    assert [i.id for i in fake.live_instances()] == [deployment.instance_id]


async def test_a_dud_that_never_shows_its_port(
    fake: FakeVast, box: HarkBox, deployer: Deployer, clock: SimClock
):
    once(
        clock.on_sleep,
        lambda: bool(on_offer(fake, 70)),
        lambda: fake.dud(on_offer(fake, 70)[0].id, ports=False),
    )
    deployment = await deployer.deploy(DeployOptions(model=MODEL))
    assert deployment.offer_id == 71
    assert on_offer(fake, 70)[0].destroyed
    assert [i.id for i in fake.live_instances()] == [deployment.instance_id]


async def test_a_machine_that_goes_offline_while_pulling(
    fake: FakeVast, box: HarkBox, deployer: Deployer, clock: SimClock, progress
):
    box.states = [{"state": "pulling-model", "detail": "pulling", "progress": 0.1}] * 8
    box.states.append({"state": "ready"})
    once(
        clock.on_sleep,
        lambda: bool(progress) and progress[-1].step == "provisioning",
        lambda: fake.offline_instance(on_offer(fake, 70)[0].id),
    )
    deployment = await deployer.deploy(DeployOptions(model=MODEL))
    assert deployment.offer_id == 71
    assert on_offer(fake, 70)[0].destroyed
    assert [i.id for i in fake.live_instances()] == [deployment.instance_id]


async def test_when_every_machine_fails_nothing_is_left(
    fake: FakeVast, box: HarkBox, deployer: Deployer, records: RecordStore
):
    box.broken_offers.update({70, 71, 72})
    with pytest.raises(DeployError) as caught:
        await deployer.deploy(DeployOptions(model=MODEL))
    assert caught.value.code == DeployCode.DEPLOY_FAILED
    assert "3 machine(s)" in caught.value.message
    assert len(fake.instances) == 3  # max_offers
    assert fake.live_instances() == []
    assert records.all() == []


async def test_keep_leaves_a_failed_instance_and_what_reaches_it(
    fake: FakeVast, box: HarkBox, deployer: Deployer, records: RecordStore
):
    box.broken_offers.add(70)
    with pytest.raises(DeployError) as caught:
        await deployer.deploy(DeployOptions(model=MODEL, keep=True))
    assert caught.value.code == DeployCode.DEPLOY_KEPT
    (kept,) = fake.live_instances()
    assert kept.offer.id == 70
    assert str(kept.id) in caught.value.message
    (record,) = records.all()
    assert record.instance_id == kept.id
    assert record.state == "failed"
    assert SecretStore(env={}).get("server-api-key") == kept.env["HARK_API_KEY"]
    assert deployer.cert_path(kept.id).is_file()


async def test_ctrl_c_destroys_what_was_created(
    fake: FakeVast,
    box: HarkBox,
    patient_vast: VastClient,
    clock: SimClock,
    tmp_path: Path,
    records: RecordStore,
):
    box.states = [{"state": "pulling-model", "detail": "pulling", "progress": 0.5}] * 5
    tasks: list[asyncio.Task[object]] = []

    def cancel_when_pulling(event: DeployProgress) -> None:
        if event.step == "provisioning" and event.fraction is not None:
            tasks[0].cancel()

    deployer = Deployer(
        patient_vast,
        records,
        SecretStore(env={}),
        on_progress=cancel_when_pulling,
        sleep=clock.sleep,
        clock=clock,
        timeouts=TIMEOUTS,
        cert_dir=tmp_path / "servers",
    )
    tasks.append(asyncio.ensure_future(deployer.deploy(DeployOptions(model=MODEL))))
    with pytest.raises(asyncio.CancelledError):
        await tasks[0]
    assert len(fake.instances) == 1
    assert fake.live_instances() == []
    assert records.all() == []
    assert SecretStore(env={}).get("server-api-key") is None


async def test_a_lost_create_answer_is_cleaned_up_by_label(
    fake: FakeVast, box: HarkBox, deployer: Deployer, records: RecordStore
):
    fake.fail_next(r"PUT /api/v0/asks/", lose_response=True)
    with pytest.raises(DeployError) as caught:
        await deployer.deploy(DeployOptions(model=MODEL))
    assert caught.value.code == VastCode.CREATE_UNCERTAIN
    assert "destroyed 1" in caught.value.message
    assert len(fake.instances) == 1
    assert fake.live_instances() == []
    assert records.all() == []


async def test_a_failed_provisioning_is_a_clean_error(
    fake: FakeVast, box: HarkBox, deployer: Deployer, records: RecordStore
):
    box.states = [{"state": "failed", "detail": "could not pull nosuch:model"}]
    with pytest.raises(DeployError) as caught:
        await deployer.deploy(DeployOptions(model=MODEL))
    assert caught.value.code == DeployCode.DEPLOY_PROVISIONING_FAILED
    assert "nosuch:model" in caught.value.message
    assert fake.live_instances() == []
    assert records.all() == []


async def test_vast_failing_while_waiting_still_destroys(
    fake: FakeVast, box: HarkBox, deployer: Deployer, clock: SimClock, records: RecordStore
):
    once(
        clock.on_sleep,
        lambda: bool(fake.instances),
        lambda: fake.fail_next(r"GET /api/v0/instances/", 500, count=5),
    )
    with pytest.raises(DeployError) as caught:
        await deployer.deploy(DeployOptions(model=MODEL))
    assert caught.value.code == VastCode.SERVER
    assert len(fake.instances) == 1
    assert fake.live_instances() == []
    assert records.all() == []


async def test_an_instance_hark_cannot_destroy_is_reported_and_recorded(
    fake: FakeVast, box: HarkBox, deployer: Deployer, clock: SimClock, records: RecordStore
):
    def vast_down() -> None:
        fake.fail_next(r"GET /api/v0/instances/", 500, count=5)
        fake.fail_next(r"DELETE /api/v0/instances/", 500, count=15)

    once(clock.on_sleep, lambda: bool(fake.instances), vast_down)
    with pytest.raises(DeployError) as caught:
        await deployer.deploy(DeployOptions(model=MODEL))
    (left,) = fake.live_instances()
    assert caught.value.code == DeployCode.DEPLOY_DESTROY_FAILED
    assert f"hark remote destroy {left.id}" in caught.value.message
    (record,) = records.all()
    assert record.instance_id == left.id
    assert record.state == "destroy-failed"


async def test_a_broken_progress_display_does_not_strand_the_deploy(
    fake: FakeVast, box: HarkBox, patient_vast: VastClient, clock: SimClock, tmp_path: Path
):
    def broken(event: DeployProgress) -> None:
        raise RuntimeError("display gone")

    deployer = Deployer(
        patient_vast,
        RecordStore(tmp_path / "records"),
        SecretStore(env={}),
        on_progress=broken,
        sleep=clock.sleep,
        clock=clock,
        timeouts=DeployTimeouts(poll_s=1, max_offers=1),
        cert_dir=tmp_path / "servers",
    )
    deployment = await deployer.deploy(DeployOptions(model=MODEL))
    assert deployment.state == "ready"


@pytest.mark.parametrize(
    "bad", [{"tls_s": 0}, {"poll_s": -1}, {"max_offers": 0}, {"destroy_attempts": 0}]
)
def test_timeouts_that_cannot_work_are_refused(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must be"):
        DeployTimeouts(**bad)  # type: ignore[arg-type]


async def test_ctrl_c_while_the_create_is_on_its_way_destroys_what_it_made(
    fake: FakeVast,
    box: HarkBox,
    patient_vast: VastClient,
    clock: SimClock,
    tmp_path: Path,
    records: RecordStore,
):
    fake.slow_next(r"PUT /api/v0/asks/", 0.3)  # the create is held; it still creates
    tasks: list[asyncio.Task[object]] = []

    def cancel_when_renting(event: DeployProgress) -> None:
        if event.message.startswith("renting"):
            tasks[0].get_loop().call_soon(tasks[0].cancel)

    deployer = Deployer(
        patient_vast,
        records,
        SecretStore(env={}),
        on_progress=cancel_when_renting,
        sleep=clock.sleep,
        clock=clock,
        timeouts=TIMEOUTS,
        cert_dir=tmp_path / "servers",
    )
    tasks.append(asyncio.ensure_future(deployer.deploy(DeployOptions(model=MODEL))))
    with pytest.raises(asyncio.CancelledError):
        await tasks[0]
    assert len(fake.instances) == 1  # the create went through after the cancel...
    assert fake.live_instances() == []  # ...and was destroyed
    assert records.all() == []
