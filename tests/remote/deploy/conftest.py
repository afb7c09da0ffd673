"""A FakeVast per test and a VastClient pointed at it, with its waits recorded, not slept."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from remote.vast.client import VastClient
from remote.vast.settings import VastSettings
from tests.fakes.ollama import FakeOllama
from tests.fakes.vast import FakeVast
from tests.remote.deploy.box import HarkBox, attached_box

KEY = "hark-test-vast-key-7f3a9c1e5b"


class Waits:
    """An injectable ``sleep`` that records each wait and returns at once."""

    def __init__(self) -> None:
        self.seconds: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.seconds.append(seconds)


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


@pytest.fixture
def fake() -> Iterator[FakeVast]:
    with FakeVast(valid_keys=[KEY], step_on_poll=True) as server:
        yield server


@pytest.fixture
def waits() -> Waits:
    return Waits()


@pytest.fixture
async def vast(fake: FakeVast, waits: Waits) -> AsyncIterator[VastClient]:
    async with VastClient(KEY, settings_for(fake.url), sleep=waits) as client:
        yield client


MODEL = "llama3.2:3b"


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
    async with VastClient(KEY, settings_for(fake.url, timeout_s=60.0), sleep=Waits()) as client:
        yield client
