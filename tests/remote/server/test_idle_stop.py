"""Idle stop: an unused rented server stops its own Vast.ai instance (and only then)."""

from __future__ import annotations

from pathlib import Path

import pytest

from remote.server.app import create_app
from remote.server.idle import Activity, IdleStop, vast_self_stop
from remote.vast.client import VastClient
from remote.vast.settings import VastSettings
from tests.fakes.vast import FakeVast
from tests.remote.server.harness import make_settings
from tests.support.clocks import SimClock


async def test_stops_after_the_idle_time_and_not_before() -> None:
    t = SimClock(1000.0)
    activity = Activity(t)
    stops: list[float] = []

    async def stop() -> None:
        stops.append(t.now)

    watcher = IdleStop(activity, 600, stop, started_at=t.now, check_every_s=30, sleep=t.sleep)
    await watcher.run()
    assert stops == [1600.0]  # ten minutes after start, checked every 30 s
    assert watcher.stopped


async def test_requests_keep_it_running() -> None:
    t = SimClock(1000.0)
    activity = Activity(t)
    stops: list[float] = []

    async def stop() -> None:
        stops.append(t.now)

    async def busy_sleep(seconds: float) -> None:
        await t.sleep(seconds)
        if t.now < 3000:
            activity.touch()  # someone keeps talking to Hark until t = 3000

    watcher = IdleStop(activity, 600, stop, started_at=t.now, check_every_s=30, sleep=busy_sleep)
    await watcher.run()
    assert stops == [2980.0 + 600]  # the last request came at t = 2980


async def test_a_failed_stop_is_tried_again() -> None:
    t = SimClock(1000.0)
    calls: list[float] = []

    async def flaky_stop() -> None:
        calls.append(t.now)
        if len(calls) == 1:
            raise ConnectionError("Vast.ai unreachable")

    watcher = IdleStop(Activity(t), 60, flaky_stop, started_at=t.now, sleep=t.sleep)
    await watcher.run()
    assert len(calls) == 2
    assert watcher.stopped


async def test_the_instance_stops_itself_through_vast(tmp_path: Path) -> None:
    with FakeVast(valid_keys=["instance-key"], step_on_poll=True) as fake:
        async with VastClient("instance-key", VastSettings(url=fake.url)) as vast:
            instance_id = await vast.create_instance(
                1001,
                image="img",
                env={},
                ports=[8443],
                onstart="true",
                disk_gb=32,
                label="hark-idle",
            )
        fake.advance_until(instance_id, "running")
        settings = make_settings(
            tmp_path,
            "http://127.0.0.1:9",
            idle_stop_minutes=1,
            vast_instance_id=instance_id,
            vast_instance_key="instance-key",
            vast_url=fake.url,
        )
        stop = vast_self_stop(settings)
        assert stop is not None
        await stop()
        record = fake.instances[instance_id]
        assert record.intended_status == "stopped"
        assert not record.destroyed  # stopped keeps the disk
        put = [
            r for r in fake.requests if r.method == "PUT" and r.path.endswith(f"/{instance_id}/")
        ]
        assert put[-1].body == {"state": "stopped"}


def test_the_app_watches_only_when_it_can_stop_itself(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def stop() -> None:
        return None

    off = create_app(make_settings(tmp_path, "http://127.0.0.1:9"))
    assert off.state.hark.idle_stop is None
    not_vast = create_app(make_settings(tmp_path, "http://127.0.0.1:9", idle_stop_minutes=5))
    assert not_vast.state.hark.idle_stop is None
    assert "stays running" in caplog.text
    on = create_app(
        make_settings(tmp_path, "http://127.0.0.1:9", idle_stop_minutes=5), stop_self=stop
    )
    assert isinstance(on.state.hark.idle_stop, IdleStop)
