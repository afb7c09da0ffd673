"""A FakeVast per test and a VastClient pointed at it, with its waits recorded, not slept."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from remote.deploy.settings import VastSettings
from remote.deploy.vast import VastClient
from tests.fakes.vast import FakeVast

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
