"""Shared fixtures for the desktop app's tests: a real engine loop on its own thread and the
bridge to it, as the app has them (Qt runs offscreen; pytest-qt gives ``qtbot``); the whole
app (``start_app``) over the fake Ollama and real Whisper tiny.en; and a real action policy
asking the confirmation dialog (``rig_for``)."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from app.core.types import ActionProposal
from app.gui.bridge import Bridge, EngineThread
from app.gui.dialogs.confirm import GuiConfirmer
from tests.fakes.ollama import FakeOllama
from tests.gui.confirm_rig import Rig


@pytest.fixture(autouse=True)
def collect_on_the_qt_thread() -> Iterator[None]:
    """As the app does (``app.gui.gc_main``): no garbage collection on a worker thread while
    a test drives widgets (PySide can deadlock there); everything is collected here after."""
    enabled = gc.isenabled()
    gc.disable()
    yield
    gc.collect()
    if enabled:
        gc.enable()


@pytest.fixture
def engine_thread() -> Iterator[EngineThread]:
    thread = EngineThread().start()
    try:
        yield thread
    finally:
        thread.stop()


@pytest.fixture
def bridge(qtbot: object, engine_thread: EngineThread) -> Bridge:
    return Bridge(engine_thread)


@pytest.fixture
def ollama(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOllama]:
    """The fake Ollama, and the environment a test app runs with (real Whisper tiny.en, no
    voice, no X display so the hotkey says why it is off)."""
    from tests.support.speech import tiny_en_dir

    with FakeOllama(models=["llama3.2:3b"]) as fake:
        monkeypatch.setenv("HARK_LLM__HOST", fake.url)
        monkeypatch.setenv("HARK_ASR__MODEL", str(tiny_en_dir()))
        monkeypatch.setenv("HARK_TTS__ENGINE", "none")
        monkeypatch.delenv("DISPLAY", raising=False)
        yield fake


@pytest.fixture
def start_app(qtbot: Any, ollama: FakeOllama) -> Iterator[Callable[..., Any]]:
    """``start_app(microphone)``: the real ``HarkApp`` (its controls in the no-tray window,
    as offscreen has no tray), started and assembled; shut down after the test."""
    from app.gui.app import HarkApp
    from app.settings.load import load_settings
    from tests.gui.harness import QueuedMicrophone

    made: list[HarkApp] = []

    def start(microphone: Any = None, *, ready: bool = True) -> HarkApp:
        mic = microphone if microphone is not None else QueuedMicrophone()
        settings = load_settings(Path("/nonexistent/config.toml"))
        hark = HarkApp(settings, microphone=lambda _s: mic, force_window=True)
        made.append(hark)
        hark.start()
        if ready:
            qtbot.waitUntil(lambda: hark.window is not None, timeout=60_000)
        return hark

    yield start
    for hark in made:
        hark.shutdown()


@pytest.fixture
def rig_for(
    qtbot: Any, tmp_path: Path, engine_thread: EngineThread
) -> Iterator[Callable[..., Rig]]:
    """``rig_for(...)``: a real action policy on the engine thread that asks a GuiConfirmer
    (its dialogs closed, its audit log shut after the test)."""
    rigs: list[Rig] = []

    def make(*, dialog_timeout_s: float = 30, policy_timeout_s: float = 30) -> Rig:
        shown: list[ActionProposal] = []
        confirmer = GuiConfirmer(
            dialog_timeout_s, arm_ms=0, on_shown=lambda d: shown.append(d.proposal)
        )
        rig = Rig(tmp_path, engine_thread, confirmer, policy_timeout_s)
        rig.shown = shown
        rigs.append(rig)
        return rig

    yield make
    for rig in rigs:
        rig.confirmer.close_all()
        rig.audit.close()
