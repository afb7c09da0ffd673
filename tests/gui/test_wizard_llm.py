"""The first-run wizard's language model page, against the fake Ollama: it checks at once, lists
the models, and when nothing answers offers the ways forward (a server of your own, a Vast.ai
GPU, installing Ollama here); and an OpenAI-compatible server (the fake's ``/v1``) with the
API key typed on the page, which Finish puts in the keyring."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWizard

from app.audio.capture import WavFileSource
from app.google.scopes import AccountStatus
from app.gui.bridge import Bridge
from app.gui.context import GuiContext
from app.gui.wizards import FirstRunWizard
from app.gui.wizards.server_page import EXISTING
from app.llm.catalog import OLLAMA_DOWNLOAD
from app.settings.schema import Settings
from app.settings.secrets import SecretStore
from tests.fakes.ollama import FakeOllama
from tests.gui.drive import replace_text
from tests.gui.test_llm_kind import pick_kind
from tests.gui.wizard_rig import MIC, Recorder, ScriptedServices
from tests.support.speech import silence, write_wav

NEXT = QWizard.WizardButton.NextButton
FINISH = QWizard.WizardButton.FinishButton
MODEL = "llama3.2:3b"


@pytest.fixture
def ollama() -> Iterator[FakeOllama]:
    with FakeOllama(models=[MODEL, "qwen2.5:7b"]) as fake:
        yield fake


@pytest.fixture
def nowhere() -> str:
    """An address on which nothing listens."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


class Opened:
    """The wizard's ways out: web pages opened, Vast.ai wizards asked for."""

    def __init__(self) -> None:
        self.urls: list[str] = []
        self.deploys: list[object] = []
        self.deploy_works = True

    def url(self, url: str) -> bool:
        self.urls.append(url)
        return True

    def deploy(self, parent: object) -> bool:
        self.deploys.append(parent)
        return self.deploy_works


@pytest.fixture
def opened() -> Opened:
    return Opened()


def make_wizard(
    qtbot: Any, bridge: Bridge, tmp_path: Path, host: str, opened: Opened, rec: Recorder
) -> FirstRunWizard:
    wav = write_wav(tmp_path / "quiet.wav", silence(0.5))
    wizard = FirstRunWizard(
        GuiContext(
            Settings.model_validate({"llm": {"model": MODEL, "host": host}}),
            ScriptedServices(AccountStatus(connected=False)),
            bridge,
            SecretStore(env={}),
        ),
        rec.save,
        list_inputs=lambda: [MIC],
        open_source=lambda device: WavFileSource(wav),
        speak=rec.speak,
        open_deploy=opened.deploy,
        open_url=opened.url,
    )
    qtbot.addWidget(wizard)
    wizard.show()
    qtbot.waitUntil(wizard.mic.isComplete, timeout=5000)
    return wizard


def next_page(qtbot: Any, wizard: FirstRunWizard, page: object) -> None:
    qtbot.mouseClick(wizard.button(NEXT), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: wizard.currentPage() is page, timeout=10_000)


def to_llm_page(qtbot: Any, wizard: FirstRunWizard) -> None:
    next_page(qtbot, wizard, wizard.server)
    next_page(qtbot, wizard, wizard.llm)
    qtbot.waitUntil(lambda: wizard.llm.chooser.probe is not None, timeout=15_000)


def test_a_working_ollama_is_checked_at_once_and_its_models_listed(
    qtbot: Any, bridge: Bridge, tmp_path: Path, ollama: FakeOllama, opened: Opened
) -> None:
    rec = Recorder()
    wizard = make_wizard(qtbot, bridge, tmp_path, ollama.url, opened, rec)
    to_llm_page(qtbot, wizard)
    page = wizard.llm
    assert page.status.tone == "ok"
    assert f"{MODEL} is ready on {ollama.url}" in page.status.text()
    assert not page.ways.isVisibleTo(page)  # nothing to fix: no ways forward shown
    models = page.chooser.model
    assert [models.itemText(i) for i in range(models.count())] == [MODEL, "qwen2.5:7b"]
    models.setCurrentIndex(1)
    next_page(qtbot, wizard, wizard.voice)
    assert wizard.updates()["llm"] == {"model": "qwen2.5:7b"}


def test_nothing_answering_shows_the_ways_forward(
    qtbot: Any, bridge: Bridge, tmp_path: Path, nowhere: str, opened: Opened
) -> None:
    wizard = make_wizard(qtbot, bridge, tmp_path, nowhere, opened, Recorder())
    to_llm_page(qtbot, wizard)
    page = wizard.llm
    assert page.status.tone == "error"
    assert f"Nothing answers at {nowhere}" in page.status.text()
    assert page.ways.isVisibleTo(page)
    titles = [page.own.text(), page.vast.text(), page.install.text()]
    assert titles == [
        "Use a server I already have",
        "Rent a GPU on Vast.ai",
        "Install Ollama on this computer",
    ]
    assert page.command.text() == f"Get the model: ollama pull {MODEL}"
    qtbot.mouseClick(page.install, Qt.MouseButton.LeftButton)
    assert opened.urls == [OLLAMA_DOWNLOAD]
    assert "then press Check" in page.later.text()
    assert wizard.button(NEXT).isEnabled()  # Hark can start without it, and keeps trying
    next_page(qtbot, wizard, wizard.voice)
    assert "llm" not in wizard.updates()  # nothing changed, nothing written


def test_a_server_of_your_own_is_checked_and_saved(
    qtbot: Any, bridge: Bridge, tmp_path: Path, nowhere: str, ollama: FakeOllama, opened: Opened
) -> None:
    rec = Recorder()
    wizard = make_wizard(qtbot, bridge, tmp_path, nowhere, opened, rec)
    to_llm_page(qtbot, wizard)
    page = wizard.llm
    qtbot.mouseClick(page.own, Qt.MouseButton.LeftButton)
    assert page.chooser.address.hasFocus()
    page.chooser.address.clear()
    qtbot.keyClicks(page.chooser.address, ollama.url)
    qtbot.mouseClick(page.chooser.check_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.status.tone == "ok", timeout=10_000)
    assert not page.ways.isVisibleTo(page)
    next_page(qtbot, wizard, wizard.voice)
    wizard.voice.local.setChecked(True)
    next_page(qtbot, wizard, wizard.google)
    with qtbot.waitSignal(wizard.finished, timeout=5000):
        qtbot.mouseClick(wizard.button(FINISH), Qt.MouseButton.LeftButton)
    [saved] = rec.saved
    assert saved["llm"] == {"host": ollama.url}


def test_renting_a_gpu_on_vast_ai_uses_that_server(
    qtbot: Any, bridge: Bridge, tmp_path: Path, nowhere: str, opened: Opened
) -> None:
    wizard = make_wizard(qtbot, bridge, tmp_path, nowhere, opened, Recorder())
    to_llm_page(qtbot, wizard)
    page = wizard.llm
    qtbot.mouseClick(page.vast, Qt.MouseButton.LeftButton)
    assert opened.deploys == [page]  # the Vast.ai wizard opens over this page
    assert page.status.tone == "ok"
    assert "Vast.ai server is ready" in page.status.text()
    next_page(qtbot, wizard, wizard.voice)
    assert wizard.updates()["remote"] == {"url": None, "ca_cert": None, "use_deployment": True}


def test_an_address_that_is_no_url_stops_next_with_words_for_it(
    qtbot: Any, bridge: Bridge, tmp_path: Path, ollama: FakeOllama, opened: Opened
) -> None:
    wizard = make_wizard(qtbot, bridge, tmp_path, ollama.url, opened, Recorder())
    to_llm_page(qtbot, wizard)
    page = wizard.llm
    page.chooser.address.setText("my-server:11434")
    qtbot.mouseClick(wizard.button(NEXT), Qt.MouseButton.LeftButton)
    assert wizard.currentPage() is page
    assert "is not an address Hark can use" in page.status.text()


def test_with_a_hark_server_the_page_is_skipped(
    qtbot: Any, bridge: Bridge, tmp_path: Path, ollama: FakeOllama, opened: Opened
) -> None:
    wizard = make_wizard(qtbot, bridge, tmp_path, ollama.url, opened, Recorder())
    next_page(qtbot, wizard, wizard.server)
    wizard.server.choice.button(EXISTING).setChecked(True)
    assert wizard.nextId() == wizard.pageIds()[3]  # the voice page, not the language model
    assert "llm" not in wizard.updates()


KEY = "sk-local-7f3a"


def check_openai(qtbot: Any, wizard: FirstRunWizard, host: str, key: str) -> None:
    """On the language model page: pick the OpenAI-compatible kind, type the base URL and the
    key, press Check and wait for the answer."""
    page = wizard.llm
    pick_kind(qtbot, page.chooser.kind, "openai")
    replace_text(qtbot, page.chooser.address, host)
    replace_text(qtbot, page.key, key)
    with qtbot.waitSignal(page.chooser.probe_finished, timeout=10_000):
        qtbot.mouseClick(page.chooser.check_button, Qt.MouseButton.LeftButton)


def test_an_openai_compatible_server_and_its_key_are_saved_at_finish(
    qtbot: Any, bridge: Bridge, tmp_path: Path, nowhere: str, opened: Opened
) -> None:
    rec = Recorder()
    with FakeOllama(models=[MODEL], token=KEY) as fake:
        wizard = make_wizard(qtbot, bridge, tmp_path, nowhere, opened, rec)
        to_llm_page(qtbot, wizard)
        page = wizard.llm
        assert not page.key.isVisibleTo(page)  # Ollama: no API key asked
        assert page.install.isVisibleTo(page)
        host = f"{fake.url}/v1"
        check_openai(qtbot, wizard, host, KEY)
        assert page.key.accessibleName() == "API key (if the server needs one)"
        assert page.key.isVisibleTo(page)
        assert page.status.tone == "ok"
        assert page.status.text() == f"✓ The language model answers: {MODEL} is ready on {host}."
        assert fake.headers[-1]["authorization"] == f"Bearer {KEY}"
        next_page(qtbot, wizard, wizard.voice)
        wizard.voice.local.setChecked(True)
        next_page(qtbot, wizard, wizard.google)
        with qtbot.waitSignal(wizard.finished, timeout=5000):
            qtbot.mouseClick(wizard.button(FINISH), Qt.MouseButton.LeftButton)
    [saved] = rec.saved
    assert saved["llm"] == {"provider": "openai", "host": host}
    assert KEY not in repr(saved)  # the key goes to the keyring, never the settings
    assert SecretStore(env={}).get("llm-api-key") == KEY


def test_a_wrong_key_is_refused_and_only_the_ways_that_fit_are_offered(
    qtbot: Any, bridge: Bridge, tmp_path: Path, ollama: FakeOllama, opened: Opened
) -> None:
    with FakeOllama(models=[MODEL], token=KEY) as fake:
        wizard = make_wizard(qtbot, bridge, tmp_path, ollama.url, opened, Recorder())
        to_llm_page(qtbot, wizard)
        page = wizard.llm
        check_openai(qtbot, wizard, f"{fake.url}/v1", "sk-wrong")
    assert page.status.tone == "error"
    assert "refused the API key" in page.status.text()
    assert page.ways.isVisibleTo(page)
    assert page.own.isVisibleTo(page)
    assert page.vast.isVisibleTo(page)
    assert "its API key if it needs one" in page.own.description()
    assert not page.install.isVisibleTo(page)  # installing Ollama is no way to this server
    assert not page.command.isVisibleTo(page)
    pick_kind(qtbot, page.chooser.kind, "ollama")
    assert not page.ways.isVisibleTo(page)  # nothing said about Ollama until it is checked
    assert not page.install.isHidden()  # offered again once the check finds no Ollama
    assert not page.command.isHidden()
    assert page.secrets() == {}  # a key typed for the other kind is not kept
