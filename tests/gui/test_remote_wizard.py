"""The Vast.ai wizard against FakeVast, whose instances run the REAL Hark server stack
(tests/remote/deploy/box.py's HarkBox: Caddy + uvicorn + the server app, FakeOllama upstream).

The deployer is the real one on the real bridge and engine loop; only its waits run on a
simulated clock (no real time passes). Every test ends by checking what is left billing on
the fake.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QWizard

from app.gui.bridge import Bridge
from app.gui.wizards import RemoteWizard
from app.gui.wizards.deploy import USE_DEPLOYMENT
from app.settings.schema import Settings
from app.settings.secrets import SecretStore
from app.shared.errors import ConfigError
from remote.deploy.deployer import Deployer
from remote.deploy.options import DeployProgress
from remote.deploy.records import RecordStore
from remote.vast.client import VastClient
from remote.vast.errors import DeployError
from tests.fakes.ollama import FakeOllama
from tests.fakes.vast import FakeVast
from tests.remote.deploy.box import TIMEOUTS, HarkBox, attached_box
from tests.remote.deploy.rig import KEY, settings_for
from tests.support.clocks import SimClock, Sleeps

MODEL = "llama3.2:3b"
COMMIT = QWizard.WizardButton.CommitButton
NEXT = QWizard.WizardButton.NextButton
CANCEL = QWizard.WizardButton.CancelButton


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeOllama]:
    with FakeOllama(models=[MODEL]) as server:
        yield server


@pytest.fixture
def fake() -> Iterator[FakeVast]:
    with FakeVast(valid_keys=[KEY], step_on_poll=True) as server:
        server.add_offer(
            id=77,
            gpu_name="RTX 4080",
            gpu_ram=16384,
            dph_total=0.05,
            reliability=0.995,
            cuda_max_good=12.8,
            direct_port_count=4,
            inet_down=800.0,
            geolocation="Quebec, CA",
        )
        yield server


@pytest.fixture
def box(tmp_path: Path, upstream: FakeOllama, fake: FakeVast) -> Iterator[HarkBox]:
    with attached_box(fake, tmp_path / "boxes", upstream.url) as hark_box:
        yield hark_box


class Held:
    """The deployer's sleep on a simulated clock; with ``hold_at`` set, the first wait in that
    step never ends (until the deploy is cancelled), so a test can act mid-deploy."""

    def __init__(self, clock: SimClock) -> None:
        self.clock = clock
        self.steps: list[str] = []
        self.hold_at: str | None = None
        self.held = threading.Event()

    async def sleep(self, seconds: float) -> None:
        await self.clock.sleep(seconds)
        if self.hold_at is not None and self.steps and self.steps[-1] == self.hold_at:
            self.held.set()
            await asyncio.Event().wait()


@pytest.fixture
def held(box: HarkBox) -> Held:
    clock = SimClock()
    clock.on_sleep.append(box.step)
    return Held(clock)


class Saved:
    def __init__(self) -> None:
        self.updates: list[dict[str, dict[str, Any]]] = []
        self.error: ConfigError | None = None

    def __call__(self, updates: dict[str, dict[str, Any]]) -> None:
        if self.error is not None:
            raise self.error
        self.updates.append(updates)


@pytest.fixture
def wizard(
    qtbot: Any, bridge: Bridge, fake: FakeVast, held: Held, tmp_path: Path
) -> tuple[RemoteWizard, Saved]:
    def make_vast(key: str) -> VastClient:
        return VastClient(key, settings_for(fake.url, timeout_s=60.0), sleep=Sleeps())

    def make_deployer(vast: VastClient, records: RecordStore, on_progress: Any) -> Deployer:
        def progress(event: DeployProgress) -> None:
            held.steps.append(event.step)
            on_progress(event)

        return Deployer(
            vast,
            records,
            SecretStore(env={}),
            on_progress=progress,
            sleep=held.sleep,
            clock=held.clock,
            timeouts=TIMEOUTS,
            cert_dir=tmp_path / "servers",
        )

    saved = Saved()
    dialog = RemoteWizard(
        bridge,
        SecretStore(env={}),
        Settings.model_validate({"llm": {"model": MODEL}}),
        saved,
        records=RecordStore(tmp_path / "records"),
        make_vast=make_vast,
        make_deployer=make_deployer,
    )
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog, saved


def click(qtbot: Any, wizard: RemoteWizard, which: QWizard.WizardButton) -> None:
    qtbot.mouseClick(wizard.button(which), Qt.MouseButton.LeftButton)


def through_offers(qtbot: Any, wizard: RemoteWizard) -> None:
    wizard.key_page.key.setText(KEY)
    click(qtbot, wizard, NEXT)
    qtbot.waitUntil(lambda: wizard.currentPage() is wizard.offers_page, timeout=10000)


def test_a_refused_key_is_not_kept(qtbot: Any, wizard: tuple[RemoteWizard, Saved]) -> None:
    dialog, _ = wizard
    assert not dialog.button(NEXT).isEnabled()  # no key typed, none stored
    dialog.key_page.key.setText("not-a-vast-key")
    click(qtbot, dialog, NEXT)
    qtbot.waitUntil(lambda: dialog.key_page.status.tone == "error", timeout=10000)
    assert "refused this key" in dialog.key_page.status.text()
    assert dialog.currentPage() is dialog.key_page
    assert SecretStore(env={}).get("vast-api-key") is None


def test_key_offers_deploy_ready(
    qtbot: Any, wizard: tuple[RemoteWizard, Saved], fake: FakeVast, box: HarkBox, tmp_path: Path
) -> None:
    dialog, saved = wizard
    box.states = [
        {"state": "starting", "detail": "installing the Hark server"},
        {"state": "pulling-model", "detail": f"pulling {MODEL}", "progress": 0.4},
        {"state": "ready", "detail": "ready"},
    ]
    through_offers(qtbot, dialog)
    assert SecretStore(env={}).get("vast-api-key") == KEY  # kept once it worked
    table = dialog.offers_page.table
    rows = [
        [table.item(r, c).text() for c in range(table.columnCount())]
        for r in range(table.rowCount())
    ]
    assert rows[0] == ["1× RTX 4080", "16 GB", "0.050", "99.5%", "800 Mb/s", "Quebec, CA"]
    prices = [float(row[2]) for row in rows]
    assert prices == sorted(prices)
    assert "1× A100 SXM4" in [row[0] for row in rows]
    assert "1× RTX 3060" not in [row[0] for row in rows]  # too unreliable for a server
    assert dialog.offers_page.chosen() is not None
    assert dialog.offers_page.chosen().id == 77

    log_threads: list[str] = []
    dialog.deploy_page.log.model().rowsInserted.connect(
        lambda *_: log_threads.append(threading.current_thread().name)
    )
    ready = []
    dialog.deployed.connect(ready.append)
    click(qtbot, dialog, COMMIT)
    qtbot.waitUntil(lambda: dialog.currentPage() is dialog.ready_page, timeout=60000)

    [deployment] = ready
    assert dialog.deployment == deployment
    assert deployment.state == "ready"
    assert deployment.offer_id == 77
    assert dialog.deploy_page.bar.value() == 100
    log = [dialog.deploy_page.log.item(i).text() for i in range(dialog.deploy_page.log.count())]
    assert log[-1] == f"Hark server ready at {deployment.url}"
    assert f"pulling {MODEL}" in log
    assert set(log_threads) == {threading.main_thread().name}
    text = dialog.ready_page.text.text()
    assert deployment.url in text
    assert "$0.050/hour" in text
    assert "Hark will use it" in text
    assert saved.updates == [USE_DEPLOYMENT]
    assert saved.updates[0]["remote"]["use_deployment"] is True
    assert RecordStore(tmp_path / "records").current() == deployment
    assert (
        SecretStore(env={}).get("server-api-key")
        == fake.instance(deployment.instance_id).env["HARK_API_KEY"]
    )
    assert [i.id for i in fake.live_instances()] == [deployment.instance_id]  # on purpose
    assert not dialog.button(CANCEL).isVisible() or not dialog.deploying


def test_a_failed_create_ends_on_the_failure_page_with_nothing_left(
    qtbot: Any, wizard: tuple[RemoteWizard, Saved], fake: FakeVast, box: HarkBox
) -> None:
    dialog, saved = wizard
    through_offers(qtbot, dialog)
    for offer in list(fake.offers):
        fake.fail_create(offer, error="insufficient_credit", msg="Your balance is too low")
    click(qtbot, dialog, COMMIT)
    qtbot.waitUntil(lambda: dialog.currentPage() is dialog.failed_page, timeout=30000)
    text = dialog.failed_page.text.text()
    assert "Your balance is too low" in text
    assert "Nothing Hark rented is left on Vast.ai" in text
    assert fake.live_instances() == []
    assert saved.updates == []
    assert dialog.deployment is None


def test_a_machine_that_never_starts_is_destroyed(
    qtbot: Any, wizard: tuple[RemoteWizard, Saved], fake: FakeVast, box: HarkBox, tmp_path: Path
) -> None:
    dialog, saved = wizard
    box.broken_offers = {77}
    through_offers(qtbot, dialog)
    click(qtbot, dialog, COMMIT)
    qtbot.waitUntil(lambda: dialog.currentPage() is dialog.failed_page, timeout=30000)
    text = dialog.failed_page.text.text()
    assert "each was destroyed" in text
    assert "nothing bills" in text
    assert len(fake.instances) == 1  # one was rented …
    assert fake.live_instances() == []  # … and destroyed
    assert RecordStore(tmp_path / "records").all() == []
    assert saved.updates == []


def test_cancel_mid_deploy_leaves_nothing_billing(
    qtbot: Any, wizard: tuple[RemoteWizard, Saved], fake: FakeVast, box: HarkBox, held: Held
) -> None:
    dialog, saved = wizard
    box.states = [{"state": "pulling-model", "detail": f"pulling {MODEL}", "progress": 0.4}]
    held.hold_at = "provisioning"
    through_offers(qtbot, dialog)
    click(qtbot, dialog, COMMIT)
    qtbot.waitUntil(held.held.is_set, timeout=60000)
    qtbot.waitUntil(lambda: dialog.deploy_page.bar.value() >= 50, timeout=5000)
    assert len(fake.live_instances()) == 1  # it runs, and would bill
    assert dialog.deploying
    qtbot.keyClick(dialog, Qt.Key.Key_Escape)  # a stray Esc does not cancel a paid deploy
    assert dialog.isVisible()
    assert not dialog.deploy_page.status.text()
    click(qtbot, dialog, CANCEL)
    assert dialog.isVisible()  # it waits for the clean-up
    qtbot.waitUntil(lambda: dialog.currentPage() is dialog.failed_page, timeout=30000)
    text = dialog.failed_page.text.text()
    assert "You cancelled the deploy." in text
    assert "nothing bills" in text
    assert fake.live_instances() == []
    assert len(fake.instances) == 1
    assert saved.updates == []
    assert not dialog.deploying
    with qtbot.waitSignal(dialog.finished, timeout=5000):
        click(qtbot, dialog, QWizard.WizardButton.FinishButton)


def test_closing_the_window_mid_deploy_cancels_it(
    qtbot: Any, wizard: tuple[RemoteWizard, Saved], fake: FakeVast, box: HarkBox, held: Held
) -> None:
    dialog, _ = wizard
    held.hold_at = "booting"
    through_offers(qtbot, dialog)
    click(qtbot, dialog, COMMIT)
    qtbot.waitUntil(held.held.is_set, timeout=30000)
    dialog.close()
    assert dialog.isVisible()
    qtbot.waitUntil(lambda: dialog.currentPage() is dialog.failed_page, timeout=30000)
    assert fake.live_instances() == []
    assert "You cancelled the deploy." in dialog.failed_page.text.text()


def test_a_ready_server_whose_setting_cannot_be_saved_says_so(
    qtbot: Any, wizard: tuple[RemoteWizard, Saved], fake: FakeVast, box: HarkBox
) -> None:
    dialog, saved = wizard
    saved.error = ConfigError("config-write", "cannot write the settings file")
    through_offers(qtbot, dialog)
    click(qtbot, dialog, COMMIT)
    qtbot.waitUntil(lambda: dialog.currentPage() is dialog.ready_page, timeout=60000)
    assert dialog.ready_page.status.tone == "error"
    assert "cannot write the settings file" in dialog.ready_page.status.text()
    assert len(fake.live_instances()) == 1


def close_modal_when_open(kind: type, seen: list[object]) -> None:
    """Reject the modal dialog of ``kind`` once ``exec`` shows it (tests drive ``ask``)."""

    def look() -> None:
        modal = QApplication.activeModalWidget()
        if isinstance(modal, kind):
            seen.append(modal)
            modal.reject()
        else:
            QTimer.singleShot(10, look)

    QTimer.singleShot(0, look)


def test_ask_runs_modally_and_answers_none_when_closed(
    qtbot: Any, bridge: Bridge, fake: FakeVast, tmp_path: Path
) -> None:
    seen: list[object] = []
    close_modal_when_open(RemoteWizard, seen)
    saved = Saved()
    answer = RemoteWizard.ask(
        bridge,
        SecretStore(env={}),
        Settings(),
        saved,
        records=RecordStore(tmp_path / "records"),
    )
    assert answer is None
    assert len(seen) == 1
    assert saved.updates == []
    assert fake.live_instances() == []


async def test_the_default_client_checks_the_key_where_vast_url_points(
    fake: FakeVast, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.gui.wizards.deploy_parts import default_make_vast

    monkeypatch.setenv("HARK_VAST__URL", fake.url)
    async with default_make_vast(KEY) as vast:
        assert await vast.list_instances() == []
    async with default_make_vast("wrong-key") as vast:
        with pytest.raises(DeployError) as caught:
            await vast.list_instances()
    assert caught.value.code == "vast-auth"
