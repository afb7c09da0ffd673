"""A FakeVast per test and a VastClient pointed at it, with its waits recorded, not slept; the
Hark server stack for each instance it starts; a deployer on simulated time."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from remote.deploy.deployer import Deployer
from remote.deploy.options import DeployProgress
from remote.vast.client import VastClient
from tests.fakes.ollama import FakeOllama
from tests.fakes.vast import FakeVast
from tests.remote.deploy.box import HarkBox, attached_box, make_deployer
from tests.remote.deploy.rig import KEY, MODEL, settings_for
from tests.support.clocks import SimClock, Sleeps


@pytest.fixture
def fake() -> Iterator[FakeVast]:
    with FakeVast(valid_keys=[KEY], step_on_poll=True) as server:
        yield server


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
async def vast(fake: FakeVast, sleeps: Sleeps) -> AsyncIterator[VastClient]:
    async with VastClient(KEY, settings_for(fake.url), sleep=sleeps) as client:
        yield client


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeOllama]:
    """The Ollama behind every box's Hark server."""
    with FakeOllama(models=[MODEL]) as server:
        yield server


@pytest.fixture
def box(tmp_path: Path, upstream: FakeOllama, fake: FakeVast) -> Iterator[HarkBox]:
    """The real Hark server stack for each instance the fake starts."""
    with attached_box(fake, tmp_path / "boxes", upstream.url) as hark_box:
        yield hark_box


@pytest.fixture
async def patient_vast(fake: FakeVast) -> AsyncIterator[VastClient]:
    """A client that waits long enough for a GET that starts a whole server stack."""
    async with VastClient(KEY, settings_for(fake.url, timeout_s=60.0), sleep=Sleeps()) as client:
        yield client


@pytest.fixture
def clock(box: HarkBox) -> SimClock:
    """Simulated time for the deployer: each of its sleeps moves every box one step on."""
    sim = SimClock()
    sim.on_sleep.append(box.step)
    return sim


@pytest.fixture
def progress() -> list[DeployProgress]:
    """What the deployer reported, in order."""
    return []


@pytest.fixture
def deployer(
    patient_vast: VastClient, clock: SimClock, progress: list[DeployProgress], tmp_path: Path
) -> Deployer:
    """A deployer on ``patient_vast`` and simulated time, its records under ``tmp_path``."""
    return make_deployer(patient_vast, tmp_path, clock, progress.append)
