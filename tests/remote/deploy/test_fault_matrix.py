"""Every scripted fault at every step of a deploy: a working server or a clean error, no orphan.

Each cell runs a whole deploy against a fresh FakeVast whose instances run the real Hark server
(:class:`tests.remote.deploy.box.HarkBox`). A fault at ``search`` or ``create`` is scripted
before the deploy; one at a later step is injected when the deployer announces that step (its
progress callback). "dud" means the machine never gets past that step: stuck loading (boot),
no port shown (address), a port that refuses connections (tls), a model that never finishes
pulling (provisioning). After each cell the only live instance may be the working server.

``pytest -s`` prints the matrix; the outcomes and their counts are asserted.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from remote.deploy.options import DeployOptions, DeployProgress
from remote.deploy.records import RecordStore
from remote.vast.client import VastClient
from remote.vast.errors import DeployError, VastCode
from tests.fakes.ollama import FakeOllama
from tests.fakes.vast import FakeVast
from tests.remote.deploy.box import HarkBox, make_deployer
from tests.remote.deploy.rig import KEY, settings_for
from tests.support.clocks import SimClock, Sleeps

MODEL = "llama3.2:3b"
FAULTS = ("429 burst", "5xx burst", "exit", "offline", "dud", "create failure", "lost create")
STEPS = ("search", "create", "boot", "address", "tls", "provisioning")
PROGRESS_STEP = {
    "boot": "booting",
    "address": "address",
    "tls": "tls",
    "provisioning": "provisioning",
}
SERVER = "server"
NA = "n/a"
FIRST, SECOND = 70, 71

EXPECTED: dict[tuple[str, str], str] = {}
for _fault in FAULTS:
    for _step in STEPS:
        EXPECTED[_fault, _step] = NA
for _step in STEPS:
    EXPECTED["429 burst", _step] = SERVER  # retried with backoff
    EXPECTED["5xx burst", _step] = SERVER
EXPECTED["429 burst", "create"] = VastCode.RATE_LIMITED  # a create is never retried blindly
EXPECTED["5xx burst", "create"] = VastCode.CREATE_UNCERTAIN  # looked for by label, nothing left
for _step in ("boot", "address", "tls", "provisioning"):
    EXPECTED["exit", _step] = SERVER  # destroyed; the next offer serves
    EXPECTED["offline", _step] = SERVER
    EXPECTED["dud", _step] = SERVER
EXPECTED["create failure", "create"] = SERVER  # no_such_ask: the next offer
EXPECTED["lost create", "create"] = VastCode.CREATE_UNCERTAIN


def _latest(fake: FakeVast) -> int:
    return max(fake.instances)


def _script(fault: str, step: str, fake: FakeVast, box: HarkBox) -> Callable[[], None] | None:
    """Script ``fault`` now (search/create), or return what to do when ``step`` begins."""
    api = {"search": r"POST /api/v0/bundles/", "create": r"PUT /api/v0/asks/"}
    wait_api = r"GET /api/v0/instances/"
    if fault in ("429 burst", "5xx burst"):
        status, count = (429, 3) if fault == "429 burst" else (503, 3)
        if step in api:
            fake.fail_next(api[step], status, count=count)
            return None
        return lambda: fake.fail_next(wait_api, status, count=count)
    if fault == "create failure":
        fake.fail_create(FIRST)
        return None
    if fault == "lost create":
        fake.fail_next(api["create"], lose_response=True)
        return None
    if fault == "exit":
        return lambda: fake.exit_instance(_latest(fake))
    if fault == "offline":
        return lambda: fake.offline_instance(_latest(fake))
    # dud: the first machine never gets past this step
    if step == "boot":
        return lambda: fake.freeze(_latest(fake))
    if step == "address":
        return lambda: fake.dud(_latest(fake), ports=False)
    if step == "tls":
        fake.add_offer(id=FIRST, dph_total=0.01, dud=True)  # its ports refuse connections
        return None
    box.stuck_offers.add(FIRST)
    return None


async def _cell(fault: str, step: str, upstream: FakeOllama, folder: Path) -> str:
    if EXPECTED[fault, step] == NA:
        return NA
    with FakeVast(valid_keys=[KEY], step_on_poll=True, default_offers=False) as fake:
        box = HarkBox(folder / "boxes", upstream.url)
        fake.on_running = box.on_running
        fake.add_offer(id=FIRST, dph_total=0.01)
        fake.add_offer(id=SECOND, dph_total=0.02)
        try:
            trigger = _script(fault, step, fake, box)
            fired: list[bool] = []
            progress: list[DeployProgress] = []

            def on_progress(event: DeployProgress) -> None:
                progress.append(event)
                wanted = PROGRESS_STEP.get(step)
                if trigger and not fired and event.step == wanted and fake.instances:
                    fired.append(True)
                    trigger()

            clock = SimClock()
            clock.on_sleep.append(box.step)
            settings = settings_for(fake.url, timeout_s=60.0)
            async with VastClient(KEY, settings, sleep=Sleeps()) as vast:
                deployer = make_deployer(vast, folder, clock, on_progress)
                try:
                    deployment = await deployer.deploy(DeployOptions(model=MODEL))
                except DeployError as exc:
                    outcome = exc.code
                    assert fake.live_instances() == [], (fault, step, "orphan after error")
                    assert RecordStore(folder / "records").all() == []
                else:
                    outcome = SERVER
                    live = [i.id for i in fake.live_instances()]
                    assert live == [deployment.instance_id], (fault, step, "orphan")
                    assert deployment.url == box.started[deployment.instance_id]
                    kept = [r.instance_id for r in RecordStore(folder / "records").all()]
                    assert kept == [deployment.instance_id]
            if PROGRESS_STEP.get(step) and trigger is not None:
                assert fired, (fault, step, "the fault was never injected")
            return outcome
        finally:
            fake.on_running = None
            box.close()


@pytest.mark.slow
async def test_fault_matrix(tmp_path: Path) -> None:
    results: dict[tuple[str, str], str] = {}
    with FakeOllama(models=[MODEL]) as upstream:
        for n, (fault, step) in enumerate(EXPECTED):
            results[fault, step] = await _cell(fault, step, upstream, tmp_path / f"cell{n}")
    width = max(len(v) for v in results.values()) + 2
    lines = ["fault \\ step".ljust(16) + "".join(s.ljust(width) for s in STEPS)]
    for fault in FAULTS:
        lines.append(fault.ljust(16) + "".join(results[fault, s].ljust(width) for s in STEPS))
    counts = Counter(
        "n/a" if v == NA else "server" if v == SERVER else "clean error" for v in results.values()
    )
    lines.append(f"counts: {dict(sorted(counts.items()))}; orphans: 0")
    print("\n" + "\n".join(lines))
    assert results == EXPECTED
    assert counts == {"server": 23, "clean error": 3, "n/a": 16}
