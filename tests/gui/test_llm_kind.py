"""The kind of language model server (Ollama, or OpenAI-compatible) in the shared chooser: the
address follows the kind unless one was typed, an answer goes with the kind it was for, a Hark
server always means its Ollama, and the app's own Settings (opened from the tray) has the
picker."""

from __future__ import annotations

import gc
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QComboBox
from pytestqt.qtbot import QtBot

from app.gui.app import HarkApp
from app.gui.bridge import Bridge
from app.gui.context import GuiContext
from app.gui.dialogs.settings import SettingsDialog
from app.gui.dialogs.settings_llm import LlmPage
from app.gui.llm_check import LlmChooser
from app.llm.catalog import OLLAMA_EXAMPLE, OPENAI_EXAMPLE
from app.settings.schema import LlmSettings, Settings
from app.settings.secrets import SecretStore
from tests.fakes.ollama import FakeOllama
from tests.gui.drive import replace_text
from tests.gui.scripted_services import ScriptedServices

KIND_NAME = "Kind of language model server"
OLLAMA_HOST = "http://localhost:11434"


def pick_kind(qtbot: QtBot, kind: QComboBox, data: str) -> None:
    """Choose a kind with the keyboard, as a user tabbing to the picker would."""
    kind.setFocus()
    key = Qt.Key.Key_Down if kind.findData(data) > kind.currentIndex() else Qt.Key.Key_Up
    for _ in range(kind.count()):
        if kind.currentData() == data:
            return
        qtbot.keyClick(kind, key)
    assert kind.currentData() == data, f"{data} is not one of the kinds"


def make_chooser(qtbot: QtBot, bridge: Bridge, **llm: object) -> LlmChooser:
    chooser = LlmChooser(LlmSettings.model_validate(llm), bridge)
    qtbot.addWidget(chooser)
    chooser.show()
    return chooser


def test_the_kinds_and_the_address_that_follows_them(qtbot: QtBot, bridge: Bridge) -> None:
    chooser = make_chooser(qtbot, bridge)
    kind = chooser.kind
    assert kind.accessibleName() == KIND_NAME
    assert [(kind.itemText(i), kind.itemData(i)) for i in range(kind.count())] == [
        ("Ollama", "ollama"),
        ("OpenAI-compatible (llama.cpp, vLLM, LM Studio…)", "openai"),
    ]
    assert chooser.provider() == "ollama"
    assert chooser.address.placeholderText() == OLLAMA_EXAMPLE
    with qtbot.waitSignal(chooser.provider_changed, timeout=1000) as changed:
        pick_kind(qtbot, kind, "openai")
    assert changed.args == ["openai"]
    assert chooser.host() == OPENAI_EXAMPLE
    assert chooser.address.placeholderText() == OPENAI_EXAMPLE
    target = chooser.target()
    assert target is not None
    assert (target.provider, target.host) == ("openai", OPENAI_EXAMPLE)
    pick_kind(qtbot, kind, "ollama")
    assert chooser.host() == OLLAMA_HOST  # the stock address goes back with the kind
    replace_text(qtbot, chooser.address, "http://gpu-box.lan:8000/v1")
    pick_kind(qtbot, kind, "openai")
    assert chooser.host() == "http://gpu-box.lan:8000/v1"  # a typed address is kept


def test_switching_the_kind_drops_the_answer_of_the_other_kind(
    qtbot: QtBot, bridge: Bridge
) -> None:
    with FakeOllama(models=["llama3.2:3b", "phi3:latest"]) as fake:
        chooser = make_chooser(qtbot, bridge, host=fake.url)
        with qtbot.waitSignal(chooser.probe_finished, timeout=10_000):
            qtbot.mouseClick(chooser.check_button, Qt.MouseButton.LeftButton)
        assert chooser.status.tone == "ok"
        pick_kind(qtbot, chooser.kind, "openai")
        assert chooser.probe is None
        assert chooser.status.text() == ""
        assert chooser.host() == fake.url  # typed by the user: kept
        with qtbot.waitSignal(chooser.probe_finished, timeout=10_000) as found:
            qtbot.mouseClick(chooser.check_button, Qt.MouseButton.LeftButton)
        assert fake.calls[-1] == "GET /models"  # no /v1: not the OpenAI API
        assert found.args[0].provider == "openai"
        assert "ending in /v1" in chooser.status.text()
        pick_kind(qtbot, chooser.kind, "ollama")
        replace_text(qtbot, chooser.address, f"{fake.url}/v1")
        pick_kind(qtbot, chooser.kind, "openai")
        with qtbot.waitSignal(chooser.probe_finished, timeout=10_000):
            qtbot.mouseClick(chooser.check_button, Qt.MouseButton.LeftButton)
        assert chooser.status.tone == "ok"
        chooser.model.setEditText("phi3")  # Ollama reads it as phi3:latest; /v1 names match whole
        assert chooser.status.tone == "error"
        assert "does not serve the model phi3" in chooser.status.text()


def test_with_a_hark_server_the_kind_is_its_ollama(
    qtbot: QtBot, bridge: Bridge, isolated_home: Path
) -> None:
    with FakeOllama(models=["llama3.2:3b"], token="server-key") as server:
        secrets = SecretStore(env={})
        secrets.set("server-api-key", "server-key")
        settings = Settings.model_validate(
            {"llm": {"provider": "openai"}, "remote": {"url": server.url}}
        )
        dialog = SettingsDialog(
            GuiContext(settings, ScriptedServices(connected=False), bridge, secrets),
            config_file=isolated_home / "config.toml",
            audio_devices=lambda: [],
        )
        qtbot.addWidget(dialog)
        page = dialog.page(LlmPage)
        assert isinstance(page, LlmPage)
        dialog.show()
        dialog.show_page(page)
        qtbot.waitUntil(lambda: page.chooser.probe is not None, timeout=15_000)
        assert page.chooser.provider() == "ollama"
        assert not page.chooser.kind.isEnabled()
        assert not page.api_key.isVisibleTo(page)
        assert page.chooser.status.tone == "ok"
        assert server.calls[-1] == "GET /api/tags"
        assert "provider" not in page.values()["llm"]  # the file's own kind stays as it was
        dialog.reject()


def test_settings_opened_from_the_tray_has_the_kind_picker(
    qtbot: QtBot, start_app: Callable[..., HarkApp]
) -> None:
    hark = start_app()
    hark.tray.actions["settings"].trigger()
    for _ in range(3):
        QApplication.processEvents()
    gc.collect()
    [dialog] = [
        w for w in QApplication.topLevelWidgets() if isinstance(w, SettingsDialog) and w.isVisible()
    ]
    page = dialog.page(LlmPage)
    dialog.show_page(page)
    [kind] = [c for c in page.findChildren(QComboBox) if c.accessibleName() == KIND_NAME]
    assert kind.isVisibleTo(dialog)
    assert kind.currentData() == "ollama"
    qtbot.waitUntil(lambda: not dialog.loading(), timeout=15_000)
    assert isinstance(page, LlmPage)
    assert page.chooser.status.tone == "ok"  # the app's fake Ollama answers
    pick_kind(qtbot, kind, "openai")
    assert page.api_key.isVisibleTo(dialog)
    dialog.reject()
