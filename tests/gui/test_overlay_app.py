"""The listening overlay in the real app, offscreen: real Whisper, the fake Ollama, a microphone
that says one clip when the test lets it. A click shows the overlay at once; it shows the level
and the words, and goes when the turn ends; Cancel ends listening or the turn."""

from __future__ import annotations

import asyncio
import gc
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from app.core.events import Event, ReplyTextReceived, TurnFinished, TurnStarted
from app.gui.app import HarkApp
from app.gui.overlay import LISTENING
from app.settings.load import load_settings
from tests.core.scripted import frames
from tests.fakes.ollama import FakeOllama
from tests.support.speech import speech_clip, tiny_en_dir, words

pytestmark = pytest.mark.slow


class GatedMicrophone:
    """Hears nothing until the test opens the gate, then says one clip and ends."""

    def __init__(self, pcm: bytes) -> None:
        self.frames_said = frames(pcm)
        self.gate = asyncio.Event()
        self.said = 0
        self.ended = False
        """Asked for a frame after the last: every frame was taken and handled."""
        self.closed = False

    async def frames(self) -> AsyncIterator[bytes]:
        await self.gate.wait()
        for frame in self.frames_said:
            if self.closed:
                return
            self.said += 1
            yield frame
        self.ended = True

    async def aclose(self) -> None:
        self.closed = True


@pytest.fixture
def ollama(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOllama]:
    with FakeOllama(models=["llama3.2:3b"]) as fake:
        monkeypatch.setenv("HARK_LLM__HOST", fake.url)
        monkeypatch.setenv("HARK_ASR__MODEL", str(tiny_en_dir()))
        monkeypatch.setenv("HARK_TTS__ENGINE", "none")
        monkeypatch.delenv("DISPLAY", raising=False)  # no X here: no global hotkey
        yield fake


@pytest.fixture
def mic() -> GatedMicrophone:
    clip = speech_clip("What time is it?", lead_silence_s=0.3, trail_silence_s=1.2)
    return GatedMicrophone(clip.pcm)


@pytest.fixture
def hark(qtbot, ollama: FakeOllama, mic: GatedMicrophone) -> Iterator[HarkApp]:
    settings = load_settings(Path("/nonexistent/config.toml"))
    app = HarkApp(settings, microphone=lambda _s: mic, force_window=True)
    app.start()
    try:
        with qtbot.waitSignal(app.engine_ready, timeout=60_000):
            pass
        yield app
    finally:
        app.shutdown()
        app.overlay.close()


def collect(hark: HarkApp) -> list[Event]:
    seen: list[Event] = []
    assert hark.bridge is not None
    hark.bridge.event_received.connect(seen.append)
    return seen


def test_a_click_shows_the_overlay_until_the_turn_ends(
    qtbot, hark: HarkApp, ollama: FakeOllama, mic: GatedMicrophone
) -> None:
    events = collect(hark)
    shown_words: list[str] = []
    levels: list[float] = []
    hark.overlay.meter.level_changed.connect(levels.append)
    ollama.reply("It is noon.")

    hark.on_tray_talk_toggled()  # a left click on the icon
    QApplication.processEvents()
    gc.collect()
    assert hark.overlay.isVisible()  # at once, before any speech
    assert hark.overlay.status.text() == LISTENING
    assert hark.bridge is not None
    hark.bridge.event_received.connect(lambda _e: shown_words.append(hark.overlay.words.text()))
    hark.engine_thread.call_soon(mic.gate.set)
    qtbot.waitUntil(lambda: any(isinstance(e, TurnFinished) for e in events), timeout=60_000)

    [done] = [e for e in events if isinstance(e, TurnFinished)]
    assert {"what", "time"} <= set(words(done.result.transcript))
    assert max(levels) > 0.5  # the meter moved with the speech
    assert f"“{done.result.transcript}”" in shown_words
    assert not hark.overlay.isVisible()
    assert hark.listen is not None
    assert hark.listen.early is not None
    assert hark.listen.early.reused == 1  # the words were transcribed from the first silence


def test_cancel_while_listening_drops_the_request(
    qtbot, hark: HarkApp, mic: GatedMicrophone
) -> None:
    events = collect(hark)
    hark.on_tray_talk_toggled()
    assert hark.overlay.isVisible()
    qtbot.mouseClick(hark.overlay.cancel, Qt.MouseButton.LeftButton)
    assert not hark.overlay.isVisible()
    hark.engine_thread.call_soon(mic.gate.set)  # the user goes on talking to someone else
    qtbot.waitUntil(lambda: mic.ended, timeout=30_000)
    QApplication.processEvents()
    assert hark.listen is not None
    assert hark.listen.turns_started == 0
    assert not any(isinstance(e, TurnStarted) for e in events)
    assert not hark.tray.tracker.listening
    assert not hark.overlay.isVisible()


def test_cancel_while_thinking_ends_the_turn(
    qtbot, hark: HarkApp, ollama: FakeOllama, mic: GatedMicrophone
) -> None:
    events = collect(hark)
    held = threading.Event()
    ollama.reply("It is noon, and the sun is high.", gate=held, gate_after=1)
    try:
        hark.on_tray_talk_toggled()
        hark.engine_thread.call_soon(mic.gate.set)
        qtbot.waitUntil(
            lambda: any(isinstance(e, ReplyTextReceived) for e in events), timeout=60_000
        )
        assert hark.overlay.isVisible()  # the turn is still running
        qtbot.mouseClick(hark.overlay.cancel, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: any(isinstance(e, TurnFinished) for e in events), timeout=10_000)
    finally:
        held.set()
    [done] = [e for e in events if isinstance(e, TurnFinished)]
    assert done.result.cancelled
    assert not hark.overlay.isVisible()


def test_turned_off_in_the_settings_it_stays_away(
    qtbot, hark: HarkApp, mic: GatedMicrophone
) -> None:
    events = collect(hark)
    hark.settings = hark.settings.model_copy(
        update={"audio": hark.settings.audio.model_copy(update={"overlay": False})}
    )
    hark.on_tray_talk_toggled()
    hark.engine_thread.call_soon(mic.gate.set)
    qtbot.waitUntil(lambda: any(isinstance(e, TurnFinished) for e in events), timeout=60_000)
    assert not hark.overlay.isVisible()
    assert hark.overlay.phase == ""
