"""The first-run wizard, end to end offscreen: real pages, the real bridge and engine loop, a
real Hark server (Caddy + uvicorn, pinned TLS) for the server check, speech frames from a WAV
file for the level, the file keyring from tests/conftest.py. Only ``save``, ``speak`` and the
Google sign-in are scripted (they are the wizard's injected edges)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QWizard

from app.audio.capture import WavFileSource
from app.audio.devices import DeviceInfo
from app.google.scopes import AccountStatus
from app.gui.bridge import Bridge
from app.gui.context import GuiContext
from app.gui.wizards import FirstRunWizard, VoiceChoice
from app.gui.wizards.mic_page import SPOKEN_LEVEL
from app.gui.wizards.server_page import DEPLOY, EXISTING, LOCAL
from app.settings.schema import Settings
from app.settings.secrets import SecretStore
from app.shared.errors import ConfigError, GoogleError, HarkError
from tests.fakes.ollama import FakeOllama
from tests.gui.wizard_rig import MIC, Recorder, ScriptedServices
from tests.remote.load.edge import Edge, running_edge
from tests.support.speech import silence, speech_clip, write_wav

MODEL = "llama3.2:3b"
LAPTOP = DeviceInfo(5, "Laptop Mic", "ALSA", 2, 0, 48000.0)
NEXT = QWizard.WizardButton.NextButton
FINISH = QWizard.WizardButton.FinishButton


@pytest.fixture(scope="module")
def speech_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    clip = speech_clip("Hello Hark, can you hear me?", lead_silence_s=0.2, trail_silence_s=0.2)
    return write_wav(tmp_path_factory.mktemp("speech") / "hello.wav", clip.pcm)


@pytest.fixture(scope="module")
def quiet_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_wav(tmp_path_factory.mktemp("quiet") / "quiet.wav", silence(1.0))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Edge]:
    with (
        FakeOllama(models=[MODEL]) as ollama,
        running_edge(tmp_path_factory.mktemp("edge"), ollama.url) as edge,
    ):
        yield edge


@pytest.fixture
def rec() -> Recorder:
    return Recorder()


def make_wizard(
    qtbot: Any,
    bridge: Bridge,
    rec: Recorder,
    wav: Path,
    *,
    devices: list[DeviceInfo] | None = None,
    services: ScriptedServices | None = None,
    opened: list[object] | None = None,
    open_deploy: Any = None,
    levels: list[int] | None = None,
) -> FirstRunWizard:
    def open_source(device: object) -> WavFileSource:
        if opened is not None:
            opened.append(device)
        return WavFileSource(wav)

    wizard = FirstRunWizard(
        GuiContext(
            Settings.model_validate({"llm": {"model": MODEL}}),
            services or ScriptedServices(AccountStatus(connected=True, email="ada@example.org")),
            bridge,
            SecretStore(env={}),
        ),
        rec.save,
        list_inputs=lambda: [MIC, LAPTOP] if devices is None else devices,
        open_source=open_source,
        speak=rec.speak,
        open_deploy=open_deploy,
    )
    qtbot.addWidget(wizard)
    if levels is not None:
        wizard.mic.level_changed.connect(levels.append)
    wizard.show()
    qtbot.waitUntil(wizard.mic.isComplete, timeout=5000)
    return wizard


def click(qtbot: Any, wizard: FirstRunWizard, which: QWizard.WizardButton) -> None:
    qtbot.mouseClick(wizard.button(which), Qt.MouseButton.LeftButton)


def to_page(qtbot: Any, wizard: FirstRunWizard, page: object) -> None:
    click(qtbot, wizard, NEXT)
    if page is not wizard.llm:  # the language model page comes first when Hark runs here
        qtbot.waitUntil(lambda: wizard.currentPage() in (page, wizard.llm), timeout=15000)
        if wizard.currentPage() is wizard.llm:
            click(qtbot, wizard, NEXT)
    qtbot.waitUntil(lambda: wizard.currentPage() is page, timeout=15000)


# --- microphone -------------------------------------------------------------------------------


def test_the_level_moves_with_speech(qtbot: Any, bridge: Bridge, rec: Recorder, speech_wav: Path):
    opened: list[object] = []
    levels: list[int] = []
    wizard = make_wizard(qtbot, bridge, rec, speech_wav, opened=opened, levels=levels)
    qtbot.waitUntil(lambda: wizard.mic.peak >= SPOKEN_LEVEL, timeout=10000)
    assert max(levels) >= SPOKEN_LEVEL
    assert min(levels) < 10  # the silence around the sentence
    names = [wizard.mic.devices.itemText(i) for i in range(wizard.mic.devices.count())]
    assert names == ["System default", "USB Microphone (default)", "Laptop Mic"]
    assert opened[0] is None  # the system default first
    assert wizard.mic.status.tone == "ok"
    assert wizard.mic.status.text().endswith("Hark hears you.")
    assert wizard.mic.level.value() == levels[-1]
    # Picking another microphone listens to it instead; Next keeps it.
    wizard.mic.devices.setCurrentIndex(2)
    qtbot.waitUntil(lambda: opened[-1] == "Laptop Mic" and wizard.mic.peak >= SPOKEN_LEVEL)
    assert wizard.mic.updates() == {"audio": {"input_device": "Laptop Mic"}}


def test_silence_keeps_the_level_low(qtbot: Any, bridge: Bridge, rec: Recorder, quiet_wav: Path):
    levels: list[int] = []
    wizard = make_wizard(qtbot, bridge, rec, quiet_wav, levels=levels)
    frames = 1000 // 30  # one second of 30 ms frames, the last one padded
    qtbot.waitUntil(lambda: len(levels) >= frames - 2, timeout=10000)
    assert max(levels) < 10
    assert wizard.mic.status.tone != "ok"


def test_no_microphone_says_so_and_lets_you_go_on(
    qtbot: Any, bridge: Bridge, rec: Recorder, quiet_wav: Path
):
    wizard = make_wizard(qtbot, bridge, rec, quiet_wav, devices=[])
    assert wizard.mic.status.tone == "error"
    assert "No microphone found" in wizard.mic.status.text()
    to_page(qtbot, wizard, wizard.server)


# --- server -----------------------------------------------------------------------------------


def test_a_bad_url_shows_a_message_and_blocks_next(
    qtbot: Any, bridge: Bridge, rec: Recorder, quiet_wav: Path
):
    wizard = make_wizard(qtbot, bridge, rec, quiet_wav)
    to_page(qtbot, wizard, wizard.server)
    wizard.server.existing.setChecked(True)
    assert not wizard.button(NEXT).isEnabled()  # no address or key yet
    wizard.server.url.setText("ftp://example.org")
    wizard.server.key.setText("some-key")
    click(qtbot, wizard, NEXT)
    assert wizard.currentPage() is wizard.server
    assert wizard.server.status.tone == "error"
    assert "not an http(s) URL" in wizard.server.status.text()
    wizard.server.url.setText("https://127.0.0.1:9")
    wizard.server.cert.setText("/nowhere/server.pem")
    click(qtbot, wizard, NEXT)
    assert wizard.currentPage() is wizard.server
    assert "no certificate file" in wizard.server.status.text()


def test_an_existing_server_is_checked_with_its_key_and_pin(
    qtbot: Any, bridge: Bridge, rec: Recorder, quiet_wav: Path, server: Edge
):
    wizard = make_wizard(qtbot, bridge, rec, quiet_wav)
    to_page(qtbot, wizard, wizard.server)
    page = wizard.server
    page.existing.setChecked(True)
    page.url.setText(server.url)
    page.cert.setText(str(server.cert))
    page.key.setText("not-the-key-not-the-key")
    click(qtbot, wizard, NEXT)
    qtbot.waitUntil(lambda: not page.busy and page.status.tone == "error", timeout=15000)
    assert "refused the API key" in page.status.text()
    assert wizard.currentPage() is page
    page.key.setText(server.key)
    to_page(qtbot, wizard, wizard.voice)
    assert page.updates() == {
        "remote": {"url": server.url, "ca_cert": str(server.cert), "use_deployment": False}
    }
    assert page.secrets() == {"server-api-key": server.key}
    assert SecretStore(env={}).get("server-api-key") is None  # only written at Finish


# --- the whole way ----------------------------------------------------------------------------


def test_the_local_path_finishes_and_saves_everything(
    qtbot: Any, bridge: Bridge, rec: Recorder, quiet_wav: Path
):
    services = ScriptedServices(AccountStatus(connected=True, email="ada@example.org"))
    wizard = make_wizard(qtbot, bridge, rec, quiet_wav, services=services)
    saved: list[object] = []
    wizard.setup_saved.connect(saved.append)
    to_page(qtbot, wizard, wizard.server)
    assert wizard.server.chosen() == LOCAL
    to_page(qtbot, wizard, wizard.voice)
    wizard.voice.local.setChecked(True)
    qtbot.mouseClick(wizard.voice.hello, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: wizard.voice.status.tone == "ok", timeout=5000)
    assert rec.spoken == [(rec.spoken[0][0], VoiceChoice("piper"))]
    assert "Hark" in rec.spoken[0][0]
    to_page(qtbot, wizard, wizard.google)
    qtbot.mouseClick(wizard.google.connect_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: wizard.google.status.tone == "ok", timeout=5000)
    assert "ada@example.org" in wizard.google.status.text()
    assert services.connects == 1
    with qtbot.waitSignal(wizard.finished, timeout=5000):
        click(qtbot, wizard, FINISH)
    assert rec.saved == [
        {
            "audio": {"input_device": None},
            "remote": {"url": None, "ca_cert": None, "use_deployment": False},
            "tts": {"engine": "piper"},
        }
    ]
    assert saved == ["saved"]
    assert wizard.result() == QWizard.DialogCode.Accepted
    assert SecretStore(env={}).get("elevenlabs-api-key") is None


def test_secrets_land_in_the_keyring_and_never_in_the_settings(
    qtbot: Any, bridge: Bridge, rec: Recorder, quiet_wav: Path, server: Edge
):
    wizard = make_wizard(qtbot, bridge, rec, quiet_wav)
    to_page(qtbot, wizard, wizard.server)
    wizard.server.existing.setChecked(True)
    wizard.server.url.setText(server.url)
    wizard.server.cert.setText(str(server.cert))
    wizard.server.key.setText(server.key)
    to_page(qtbot, wizard, wizard.voice)
    wizard.voice.elevenlabs.setChecked(True)
    assert not wizard.button(NEXT).isEnabled()  # ElevenLabs needs its key
    wizard.voice.key.setText("sk_eleven_test_key_123")
    assert wizard.button(NEXT).isEnabled()
    qtbot.mouseClick(wizard.voice.hello, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: wizard.voice.status.tone == "ok", timeout=5000)
    assert rec.spoken[0][1] == VoiceChoice("elevenlabs", "sk_eleven_test_key_123")
    to_page(qtbot, wizard, wizard.google)
    with qtbot.waitSignal(wizard.finished, timeout=5000):
        click(qtbot, wizard, FINISH)
    store = SecretStore(env={})
    assert store.get("elevenlabs-api-key") == "sk_eleven_test_key_123"
    assert store.get("server-api-key") == server.key
    [updates] = rec.saved
    assert updates["tts"] == {"engine": "elevenlabs"}
    assert updates["remote"]["url"] == server.url
    text = repr(updates)
    assert "sk_eleven_test_key_123" not in text
    assert server.key not in text


def test_a_voice_that_fails_says_why(qtbot: Any, bridge: Bridge, rec: Recorder, quiet_wav: Path):
    rec.speak_error = HarkError("tts-unavailable", "the Piper voice files are missing")
    wizard = make_wizard(qtbot, bridge, rec, quiet_wav)
    to_page(qtbot, wizard, wizard.server)
    to_page(qtbot, wizard, wizard.voice)
    wizard.voice.local.setChecked(True)
    qtbot.mouseClick(wizard.voice.hello, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: wizard.voice.status.tone == "error", timeout=5000)
    assert "the Piper voice files are missing" in wizard.voice.status.text()
    assert wizard.voice.hello.isEnabled()


def test_google_can_fail_or_be_skipped_and_a_failed_save_keeps_the_wizard_open(
    qtbot: Any, bridge: Bridge, rec: Recorder, quiet_wav: Path
):
    failing = ScriptedServices(
        GoogleError("google-client-file-missing", "Hark needs your OAuth client file.")
    )
    wizard = make_wizard(qtbot, bridge, rec, quiet_wav, services=failing)
    for page in (wizard.server, wizard.voice):
        to_page(qtbot, wizard, page)
    wizard.voice.local.setChecked(True)
    to_page(qtbot, wizard, wizard.google)
    qtbot.mouseClick(wizard.google.connect_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: wizard.google.status.tone == "error", timeout=5000)
    assert "OAuth client file" in wizard.google.status.text()
    assert wizard.button(FINISH).isEnabled()  # Google is optional
    rec.save_error = ConfigError("config-invalid", "remote.url is not an http(s) URL")
    click(qtbot, wizard, FINISH)
    assert wizard.isVisible()
    assert wizard.finish_status.tone == "error"
    assert "remote.url is not an http(s) URL" in wizard.finish_status.text()
    rec.save_error = None
    with qtbot.waitSignal(wizard.finished, timeout=5000):
        click(qtbot, wizard, FINISH)
    assert len(rec.saved) == 1


def test_deploying_to_vast_ai_saves_use_deployment(
    qtbot: Any, bridge: Bridge, rec: Recorder, quiet_wav: Path
):
    asked: list[object] = []

    def open_deploy(parent: object) -> bool:
        asked.append(parent)
        return True

    wizard = make_wizard(qtbot, bridge, rec, quiet_wav, open_deploy=open_deploy)
    to_page(qtbot, wizard, wizard.server)
    wizard.server.deploy.setChecked(True)
    assert not wizard.button(NEXT).isEnabled()  # nothing deployed yet
    qtbot.mouseClick(wizard.server.deploy_button, Qt.MouseButton.LeftButton)
    assert asked == [wizard.server]
    assert wizard.server.chosen() == DEPLOY
    to_page(qtbot, wizard, wizard.voice)
    assert wizard.updates()["remote"] == {"url": None, "ca_cert": None, "use_deployment": True}


def test_without_a_deploy_hook_the_vast_choice_is_off(
    qtbot: Any, bridge: Bridge, rec: Recorder, quiet_wav: Path
):
    wizard = make_wizard(qtbot, bridge, rec, quiet_wav)
    assert not wizard.server.deploy.isEnabled()
    assert wizard.server.chosen() in (LOCAL, EXISTING)


def test_ask_runs_modally_and_answers_false_when_cancelled(
    qtbot: Any, bridge: Bridge, rec: Recorder, quiet_wav: Path
):
    seen: list[object] = []

    def look() -> None:
        modal = QApplication.activeModalWidget()
        if isinstance(modal, FirstRunWizard):
            seen.append(modal)
            modal.reject()
        else:
            QTimer.singleShot(10, look)

    QTimer.singleShot(0, look)
    finished = FirstRunWizard.ask(
        GuiContext(
            Settings(),
            ScriptedServices(AccountStatus(connected=False)),
            bridge,
            SecretStore(env={}),
        ),
        rec.save,
        list_inputs=lambda: [MIC],
        open_source=lambda device: WavFileSource(quiet_wav),
        speak=rec.speak,
    )
    assert finished is False
    assert len(seen) == 1
    assert rec.saved == []
