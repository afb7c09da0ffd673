"""The Conversation window through the real app: ``HarkApp`` started offscreen over the fake
Ollama and the fake Google (real Whisper tiny.en loads; no microphone speaks). A typed request
runs, an edited and approved mail shows as it was sent, and the conversation is there again
after the app starts anew."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt

from app.google.auth import GoogleAccount
from app.google.scopes import scopes_for
from app.gui.app import HarkApp
from app.gui.panes.conversation import ConversationPane
from app.settings.load import load_settings
from app.settings.secrets import SecretStore
from tests.fakes.google import FakeGoogle
from tests.fakes.ollama import FakeOllama
from tests.gui.drive import replace_text, type_request
from tests.support.speech import tiny_en_dir

WAIT = 20_000


class SilentMicrophone:
    """A microphone that never hears anything (typing needs none)."""

    def __init__(self) -> None:
        self._closed = asyncio.Event()

    async def frames(self) -> AsyncIterator[bytes]:
        await self._closed.wait()
        return
        yield b""  # an async generator that ends when closed

    async def aclose(self) -> None:
        self._closed.set()


class Fakes:
    def __init__(self, ollama: FakeOllama, google: FakeGoogle) -> None:
        self.ollama = ollama
        self.google = google


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Fakes]:
    with FakeOllama(models=["llama3.2:3b"]) as ollama, FakeGoogle() as google:
        monkeypatch.setenv("HARK_LLM__HOST", ollama.url)
        monkeypatch.setenv("HARK_ASR__MODEL", str(tiny_en_dir()))
        monkeypatch.setenv("HARK_TTS__ENGINE", "none")
        monkeypatch.setenv("HARK_GOOGLE__API_ENDPOINT", google.url)
        monkeypatch.setenv("HARK_GOOGLE__TOKEN_URI", google.url + "/token")
        monkeypatch.setenv("HARK_GOOGLE__MAIL", "send")
        monkeypatch.delenv("DISPLAY", raising=False)
        settings = load_settings(Path("/nonexistent/config.toml"))
        info = google.oauth.authorized_user(scopes_for(settings.google), email="me@example.com")
        signed_in = tmp_path / "authorized_user.json"
        signed_in.write_text(json.dumps(info))
        GoogleAccount(settings.google, SecretStore()).import_authorized_user(signed_in)
        yield Fakes(ollama, google)


@pytest.fixture
def start(qtbot: Any, fakes: Fakes) -> Iterator[Callable[[], HarkApp]]:
    made: list[HarkApp] = []

    def start_one() -> HarkApp:
        settings = load_settings(Path("/nonexistent/config.toml"))
        mic = SilentMicrophone()
        hark = HarkApp(settings, microphone=lambda _s: mic, force_window=True)
        made.append(hark)
        hark.start()
        qtbot.waitUntil(lambda: hark.window is not None, timeout=60_000)
        return hark

    yield start_one
    for hark in made:
        hark.shutdown()


def conversation_of(hark: HarkApp) -> ConversationPane:
    assert hark.window is not None
    hark.window.show_pane("conversation")
    pane = hark.window.conversation
    assert isinstance(pane, ConversationPane)
    pane.focus_request()
    return pane


@pytest.mark.slow
def test_typing_and_an_edited_mail_through_the_app_and_again_after_a_restart(
    qtbot: Any, fakes: Fakes, start: Callable[[], HarkApp]
) -> None:
    hark = start()
    pane = conversation_of(hark)
    fakes.ollama.reply("Hello! How can I help?")
    with qtbot.waitSignal(pane.turn_finished, timeout=WAIT):
        type_request(qtbot, pane, "hello Hark")
    assert pane.turns()[-1].reply == "Hello! How can I help?"

    proposed = {"to": ["bob@example.org"], "subject": "Lunch", "body": "Noon?"}
    fakes.ollama.reply_tool_call("mail_send", proposed)
    fakes.ollama.reply("Sent.")
    type_request(qtbot, pane, "mail Bob about lunch")
    qtbot.waitUntil(lambda: hark.confirmer.current_dialog is not None, timeout=WAIT)
    dialog = hark.confirmer.current_dialog
    replace_text(qtbot, dialog.form.field("to"), "carol@example.org, dan@example.org")
    replace_text(qtbot, dialog.form.field("subject"), "Dinner")
    qtbot.waitUntil(lambda: "dan@example.org" in dialog.summary_label.text(), timeout=WAIT)
    qtbot.waitUntil(dialog.approve_button.isEnabled, timeout=WAIT)
    with qtbot.waitSignal(pane.turn_finished, timeout=WAIT):
        qtbot.mouseClick(dialog.approve_button, Qt.MouseButton.LeftButton)
    shown = "✓ Send an email to carol@example.org, dan@example.org, subject “Dinner” — done"
    assert pane.turns()[-1].tools() == [shown]
    [sent] = fakes.google.gmail.sent
    assert sent.addresses("To") == ["carol@example.org", "dan@example.org"]
    hark.shutdown()

    again = conversation_of(start())  # Hark starts anew: the conversation is still there
    assert [t.transcript for t in again.turns()] == ["hello Hark", "mail Bob about lunch"]
    assert again.turns()[-1].tools() == [shown]
    qtbot.keyClick(again.request_field, Qt.Key.Key_Up)
    assert again.request_field.text() == "mail Bob about lunch"
