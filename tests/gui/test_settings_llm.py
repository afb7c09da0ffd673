"""Settings ▸ Language model against the fake Ollama: the model list, Check in plain words (ready,
a missing model, nothing answering, no answer in time, a key refused), and Save; the same for
an OpenAI-compatible server (the fake's ``/v1``) with its API key, saved to the keyring."""

from __future__ import annotations

import socket
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from app.core.events import TurnResult
from app.gui.bridge import Bridge
from app.gui.context import GuiContext
from app.gui.dialogs.settings import SettingsDialog
from app.gui.dialogs.settings_llm import LlmPage
from app.gui.services import ActionOutcome
from app.llm.catalog import OPENAI_EXAMPLE, Verdict, probe_llm
from app.settings.load import load_settings
from app.settings.schema import Settings
from app.settings.secrets import SecretStore
from tests.fakes.ollama import FakeOllama
from tests.gui.drive import replace_text
from tests.gui.test_llm_kind import pick_kind
from tests.support.servers import closed_port as refusing_port

MODELS = ["llama3.2:3b", "qwen2.5:7b"]


class NoServices:
    """The settings dialog's services; the language model page uses none of them."""

    def google_connected(self) -> bool:
        return False

    async def connect_google(self) -> Any:
        raise NotImplementedError

    async def upcoming_events(self, days: int) -> list[Any]:
        return []

    async def unread_mail(self, limit: int = 25) -> list[Any]:
        return []

    async def read_mail(self, message_id: str) -> Any:
        raise NotImplementedError

    async def ask(self, text: str) -> TurnResult:
        raise NotImplementedError

    async def act(self, tool: str, arguments: Mapping[str, Any]) -> ActionOutcome:
        raise NotImplementedError


@pytest.fixture
def ollama() -> Iterator[FakeOllama]:
    with FakeOllama(models=MODELS) as fake:
        yield fake


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port on which nothing listens (bound, never listening, while the test runs)."""
    with refusing_port() as port:
        yield port


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A server that takes the connection and never answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(4)
        yield f"http://127.0.0.1:{s.getsockname()[1]}"


@pytest.fixture
def config_file(isolated_home: Path) -> Path:
    path = isolated_home / "hark" / "config.toml"
    path.parent.mkdir()
    path.write_text('[llm]\nmodel = "llama3.2:3b"\n', encoding="utf-8")
    return path


def open_page(
    qtbot: QtBot, bridge: Bridge, config_file: Path, secrets: SecretStore | None = None, **llm: Any
) -> tuple[SettingsDialog, LlmPage]:
    settings = load_settings(config_file, env={})
    settings = settings.model_copy(update={"llm": settings.llm.model_copy(update=llm)})
    dialog = SettingsDialog(
        GuiContext(settings, NoServices(), bridge, secrets or SecretStore(env={})),
        config_file=config_file,
        audio_devices=lambda: [],
    )
    qtbot.addWidget(dialog)
    page = dialog.page(LlmPage)
    assert isinstance(page, LlmPage)
    dialog.show()
    dialog.show_page(page)  # showing the page checks the server once
    qtbot.waitUntil(lambda: page.chooser.probe is not None, timeout=15_000)
    return dialog, page


def test_the_model_list_comes_from_the_server_and_check_says_ready(
    qtbot: QtBot, bridge: Bridge, config_file: Path, ollama: FakeOllama
) -> None:
    dialog, page = open_page(qtbot, bridge, config_file, host=ollama.url)
    chooser = page.chooser
    assert [chooser.model.itemText(i) for i in range(chooser.model.count())] == MODELS
    assert chooser.status.tone == "ok"
    assert (
        chooser.status.text()
        == f"✓ The language model answers: llama3.2:3b is ready on {ollama.url}."
    )
    assert "GET /api/tags" in ollama.calls
    dialog.reject()


def test_a_model_the_server_lacks_says_how_to_get_it(
    qtbot: QtBot, bridge: Bridge, config_file: Path, ollama: FakeOllama
) -> None:
    dialog, page = open_page(qtbot, bridge, config_file, host=ollama.url, model="mistral:7b")
    chooser = page.chooser
    assert chooser.status.tone == "error"
    text = chooser.status.text()
    assert "does not have the model mistral:7b" in text
    assert "ollama pull mistral:7b" in text
    assert chooser.model_name() == "mistral:7b"  # what was asked for stays shown
    chooser.model.setCurrentIndex(chooser.model.findText("qwen2.5:7b"))  # one it has
    assert chooser.status.tone == "ok"
    assert "qwen2.5:7b is ready" in chooser.status.text()
    dialog.reject()


def test_nothing_answering_says_so_in_plain_words(
    qtbot: QtBot, bridge: Bridge, config_file: Path, closed_port: int
) -> None:
    host = f"http://127.0.0.1:{closed_port}"
    dialog, page = open_page(qtbot, bridge, config_file, host=host)
    status = page.chooser.status
    assert status.tone == "error"
    assert status.text() == (
        f"✗ Nothing answers at {host}. Is Ollama running there? Start it (open the Ollama "
        "app, or run: ollama serve), or check the address."
    )
    dialog.reject()


def test_check_never_blocks_the_window_and_a_silent_server_times_out(
    qtbot: QtBot, bridge: Bridge, config_file: Path, silent_server: str
) -> None:
    settings = load_settings(config_file, env={})
    llm = settings.llm.model_copy(update={"host": silent_server, "timeout_s": 1.0})
    dialog = SettingsDialog(
        GuiContext(
            settings.model_copy(update={"llm": llm}), NoServices(), bridge, SecretStore(env={})
        ),
        config_file=config_file,
        audio_devices=lambda: [],
    )
    qtbot.addWidget(dialog)
    page = dialog.page(LlmPage)
    assert isinstance(page, LlmPage)
    qtbot.mouseClick(page.chooser.check_button, Qt.MouseButton.LeftButton)
    assert page.chooser.checking  # the click came back at once: the check runs elsewhere
    assert page.chooser.status.tone == "busy"
    assert not page.chooser.check_button.isEnabled()
    qtbot.waitUntil(lambda: not page.chooser.checking, timeout=10_000)
    assert page.chooser.probe is not None
    assert page.chooser.probe.verdict is Verdict.TIMEOUT
    assert f"{silent_server} did not answer within 1 seconds" in page.chooser.status.text()
    assert page.chooser.check_button.isEnabled()
    dialog.reject()


def test_a_server_that_wants_a_key_is_checked_with_the_stored_one(
    qtbot: QtBot, bridge: Bridge, config_file: Path
) -> None:
    with FakeOllama(models=MODELS, token="proxy-key-123") as fake:
        dialog, page = open_page(qtbot, bridge, config_file, host=fake.url)
        assert page.chooser.probe is not None
        assert page.chooser.probe.verdict is Verdict.REFUSED
        assert "wants a key" in page.chooser.status.text()
        dialog.reject()
        secrets = SecretStore(env={})
        secrets.set("llm-token", "proxy-key-123")
        dialog, page = open_page(qtbot, bridge, config_file, secrets, host=fake.url)
        assert page.chooser.status.tone == "ok"
        dialog.reject()
    assert "proxy-key-123" not in page.chooser.status.text()


def test_save_writes_the_address_and_model(
    qtbot: QtBot, bridge: Bridge, config_file: Path, ollama: FakeOllama, closed_port: int
) -> None:
    dialog, page = open_page(qtbot, bridge, config_file, host=f"http://127.0.0.1:{closed_port}")
    page.chooser.address.setText(ollama.url)
    qtbot.mouseClick(page.chooser.check_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.chooser.status.tone == "ok", timeout=10_000)
    page.chooser.model.setCurrentIndex(page.chooser.model.findText("qwen2.5:7b"))
    with qtbot.waitSignal(dialog.settings_saved, timeout=5000) as saved:
        qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    settings = saved.args[0]
    assert isinstance(settings, Settings)
    assert settings.llm.host == ollama.url
    assert settings.llm.model == "qwen2.5:7b"
    assert load_settings(config_file, env={}).llm.model == "qwen2.5:7b"


def test_an_address_that_is_no_url_is_caught_before_saving(
    qtbot: QtBot, bridge: Bridge, config_file: Path, ollama: FakeOllama
) -> None:
    dialog, page = open_page(qtbot, bridge, config_file, host=ollama.url)
    before = config_file.read_text(encoding="utf-8")
    page.chooser.address.setText("localhost:11434")
    qtbot.mouseClick(page.chooser.check_button, Qt.MouseButton.LeftButton)
    assert "is not an address Hark can use" in page.chooser.status.text()
    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    assert dialog.isVisible()
    assert "write it like http://192.168.1.100:11434" in dialog.error.text()
    assert "llm.host" not in dialog.error.text()
    assert config_file.read_text(encoding="utf-8") == before
    dialog.reject()


def test_with_a_hark_server_the_model_is_checked_there(
    qtbot: QtBot, bridge: Bridge, config_file: Path
) -> None:
    with FakeOllama(models=MODELS, token="server-key-456") as server:
        secrets = SecretStore(env={})
        secrets.set("server-api-key", "server-key-456")
        settings = load_settings(config_file, env={})
        settings = settings.model_copy(
            update={"remote": settings.remote.model_copy(update={"url": server.url})}
        )
        dialog = SettingsDialog(
            GuiContext(settings, NoServices(), bridge, secrets),
            config_file=config_file,
            audio_devices=lambda: [],
        )
        qtbot.addWidget(dialog)
        page = dialog.page(LlmPage)
        assert isinstance(page, LlmPage)
        dialog.show()
        dialog.show_page(page)
        qtbot.waitUntil(lambda: page.chooser.probe is not None, timeout=15_000)
        assert page.chooser.status.tone == "ok"
        assert not page.chooser.address.isEnabled()
        assert page.chooser.host() == server.url
        assert "host" not in page.values()["llm"]  # the Ollama address stays as it was
        dialog.reject()


KEY = "sk-local-7f3a"
"""The API key the fake OpenAI-compatible server wants."""


def switch_to_openai(qtbot: QtBot, page: LlmPage, host: str, key: str) -> None:
    """Pick the OpenAI-compatible kind, type its base URL and key, press Check, wait."""
    chooser = page.chooser
    pick_kind(qtbot, chooser.kind, "openai")
    replace_text(qtbot, chooser.address, host)
    replace_text(qtbot, page.api_key.edit, key)
    qtbot.mouseClick(chooser.check_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not chooser.checking and chooser.probe is not None, timeout=10_000)


def test_an_openai_compatible_server_is_checked_with_the_typed_key_and_saved(
    qtbot: QtBot, bridge: Bridge, config_file: Path
) -> None:
    with FakeOllama(models=MODELS, token=KEY) as fake:
        dialog, page = open_page(qtbot, bridge, config_file)  # Ollama's default address
        chooser = page.chooser
        assert chooser.provider() == "ollama"
        assert not page.api_key.isVisibleTo(page)  # Ollama takes no API key here
        assert page.get_ollama.isVisibleTo(page)
        pick_kind(qtbot, chooser.kind, "openai")
        assert chooser.host() == OPENAI_EXAMPLE  # the default of the new kind
        assert chooser.status.text() == ""  # the Ollama answer went with the kind
        assert page.api_key.isVisibleTo(page)
        assert not page.get_ollama.isVisibleTo(page)
        assert "OpenAI's API" in page.intro.text()
        host = f"{fake.url}/v1"
        switch_to_openai(qtbot, page, host, KEY)
        assert chooser.status.tone == "ok"
        assert chooser.status.text() == (
            f"✓ The language model answers: llama3.2:3b is ready on {host}."
        )
        assert fake.calls[-1] == "GET /v1/models"
        assert fake.headers[-1]["authorization"] == f"Bearer {KEY}"  # the typed, unsaved key
        chooser.model.setCurrentIndex(chooser.model.findText("qwen2.5:7b"))
        with qtbot.waitSignal(dialog.settings_saved, timeout=5000):
            qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    llm = load_settings(config_file, env={}).llm
    assert (llm.provider, llm.host, llm.model) == ("openai", host, "qwen2.5:7b")
    assert SecretStore(env={}).get("llm-api-key") == KEY
    assert KEY not in config_file.read_text(encoding="utf-8")


def test_a_wrong_api_key_says_the_server_refused_it(
    qtbot: QtBot, bridge: Bridge, config_file: Path
) -> None:
    with FakeOllama(models=MODELS, token=KEY) as fake:
        dialog, page = open_page(qtbot, bridge, config_file)
        switch_to_openai(qtbot, page, f"{fake.url}/v1", "sk-wrong")
        probe = page.chooser.probe
        assert probe is not None
        assert probe.verdict is Verdict.REFUSED
        assert page.chooser.status.tone == "error"
        assert page.chooser.status.text() == (
            f"✗ {fake.url}/v1 answers, but it refused the API key (or wants one). Paste the "
            "server's key in the API key field."
        )
        dialog.reject()
    assert SecretStore(env={}).get("llm-api-key") is None  # Cancel stored nothing


def test_a_stored_api_key_is_used_when_none_is_typed(
    qtbot: QtBot, bridge: Bridge, config_file: Path
) -> None:
    secrets = SecretStore(env={})
    secrets.set("llm-api-key", KEY)
    with FakeOllama(models=MODELS, token=KEY) as fake:
        dialog, page = open_page(
            qtbot, bridge, config_file, secrets, provider="openai", host=f"{fake.url}/v1"
        )
        assert page.chooser.kind.currentText().startswith("OpenAI-compatible")
        assert page.chooser.status.tone == "ok"
        assert page.secret_changes() == {}  # nothing typed: the stored key stays
        dialog.reject()


def test_an_openai_base_url_that_is_no_url_is_caught_in_its_words(
    qtbot: QtBot, bridge: Bridge, config_file: Path, closed_port: int
) -> None:
    host = f"http://127.0.0.1:{closed_port}/v1"
    dialog, page = open_page(qtbot, bridge, config_file, provider="openai", host=host)
    assert "Is the server running there?" in page.chooser.status.text()
    replace_text(qtbot, page.chooser.address, "127.0.0.1:8080/v1")
    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    assert dialog.isVisible()
    assert f"write it like {OPENAI_EXAMPLE}" in dialog.error.text()
    assert "base URL" in dialog.error.text()
    dialog.reject()


async def test_probe_never_raises_on_garbage(closed_port: int) -> None:
    settings = Settings().llm.model_copy(update={"host": f"http://127.0.0.1:{closed_port}"})
    probe = await probe_llm(settings)
    assert probe.verdict is Verdict.UNREACHABLE
    assert not probe.ok
    assert not probe.answered


async def test_a_web_server_that_is_not_ollama_is_named_as_such(ollama: FakeOllama) -> None:
    settings = Settings().llm.model_copy(update={"host": f"{ollama.url}/not-ollama"})
    probe = await probe_llm(settings)
    assert probe.verdict is Verdict.NOT_OLLAMA
    assert "is not an Ollama server" in probe.words()
