"""The tray's Remote server menu against the fake Vast.ai: status, stop, and a destroy that
asks first and leaves nothing billing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.gui.bridge import Bridge
from app.gui.deploy_actions import NO_KEY, run_remote_action
from app.gui.tray import TrayController
from app.settings.secrets import SecretStore
from remote.deploy.deployed import records
from remote.deploy.records import Deployment
from remote.vast.client import VastClient
from remote.vast.settings import VastSettings
from tests.fakes.vast import FakeVast

KEY = "hark-test-vast-key-for-the-tray"


class Hark:
    """The part of the app the menu's actions use."""

    def __init__(self, bridge: Bridge) -> None:
        self.bridge = bridge
        self.engine = None
        self.secrets = SecretStore(env={})
        self.tray = TrayController()
        self.reloaded = 0

    def reload_settings(self) -> None:
        self.reloaded += 1


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeVast]:
    with FakeVast(valid_keys=[KEY], step_on_poll=True) as server:
        monkeypatch.setenv("HARK_VAST__URL", server.url)
        server.add_offer(id=77, gpu_name="RTX 4080", dph_total=0.112)
        yield server


def rented(fake: FakeVast, bridge: Bridge) -> int:
    """An instance on the fake and the record Hark keeps of it."""

    async def create() -> int:
        async with VastClient(KEY, VastSettings(url=fake.url)) as vast:
            return await vast.create_instance(
                77,
                image="vastai/base-image",
                env={},
                ports=[8443],
                onstart="true",
                disk_gb=40,
                label="hark-20261123-test",
            )

    instance_id: int = bridge.engine.submit(create()).result(timeout=30)
    fake.advance_until(instance_id, "running")
    records().save(
        Deployment(
            instance_id,
            "hark-20261123-test",
            77,
            "RTX 4080",
            0.112,
            "llama3.2:3b",
            "2026-11-23T06:00:00+00:00",
            "-----BEGIN CERTIFICATE-----\nX\n",
            "203.0.113.7",
            41234,
            "ready",
        )
    )
    return instance_id


def act(qtbot, hark: Hark, action: str, sure: bool = True) -> tuple[str, bool]:
    told: list[tuple[str, bool]] = []
    run_remote_action(
        action, hark, tell=lambda text, error: told.append((text, error)), sure=lambda: sure
    )
    qtbot.waitUntil(lambda: bool(told), timeout=30_000)
    return told[0]


def test_status_stop_and_a_destroy_that_asks_first(qtbot, bridge: Bridge, fake: FakeVast) -> None:
    hark = Hark(bridge)
    hark.secrets.set("vast-api-key", KEY)
    instance_id = rented(fake, bridge)

    text, error = act(qtbot, hark, "status")
    assert not error
    assert "hark-20261123-test" in text
    assert "running" in text
    assert "hark " not in text  # in the user's words: no command lines

    text, error = act(qtbot, hark, "stop")
    assert not error, text
    assert "stopped" in text
    assert fake.instance(instance_id).intended_status == "stopped"

    told: list[str] = []
    run_remote_action("destroy", hark, tell=lambda text, _e: told.append(text), sure=lambda: False)
    assert told == []  # "Cancel": nothing asked of Vast.ai
    assert not fake.instance(instance_id).destroyed

    text, error = act(qtbot, hark, "destroy")
    assert not error, text
    assert "nothing bills any more" in text
    assert fake.live_instances() == []
    assert records().get(instance_id) is None
    assert hark.reloaded == 1  # Hark goes back to where its settings say the models run


def test_without_a_vast_key_the_menu_says_how_to_get_one(qtbot, bridge: Bridge) -> None:
    hark = Hark(bridge)
    told: list[tuple[str, bool]] = []
    run_remote_action("status", hark, tell=lambda text, error: told.append((text, error)))
    assert told == [(NO_KEY, False)]


class Deploying:
    """A wizard whose deploy is running; cancelling it takes a while (the clean-up)."""

    def __init__(self) -> None:
        self.deploying = True
        self.cancelled = 0

    def cancel_deploy(self) -> None:
        self.cancelled += 1


def test_quitting_waits_for_a_cancelled_deploy_to_clean_up(qtbot) -> None:
    from app.gui.deploy_actions import finish_deploys_then

    wizard, idle = Deploying(), Deploying()
    idle.deploying = False
    left: list[bool] = []
    assert finish_deploys_then([wizard, idle], lambda: left.append(True), every_ms=10)
    assert wizard.cancelled == 1
    assert idle.cancelled == 0
    qtbot.waitUntil(lambda: wizard.cancelled == 1, timeout=1000)
    assert left == []  # still removing what it rented: Hark does not quit under it
    wizard.deploying = False  # the deployer's clean-up is done
    qtbot.waitUntil(lambda: left == [True], timeout=5000)


def test_quitting_with_no_deploy_running_is_at_once() -> None:
    from app.gui.deploy_actions import finish_deploys_then

    left: list[bool] = []
    assert not finish_deploys_then([], lambda: left.append(True))
    assert left == [True]
