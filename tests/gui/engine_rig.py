"""The real engine for the panes' tests: ``build_engine`` over the fake Ollama and (signed in)
the fake Google, publishing to the real bridge, with the real :class:`EngineServices`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from app.compose.build import Engine, build_engine
from app.google.auth import GoogleAccount
from app.google.scopes import scopes_for
from app.gui.bridge import Bridge, EngineThread
from app.gui.services import EngineServices
from app.settings.load import load_settings
from app.settings.schema import Settings
from app.settings.secrets import SecretStore
from tests.fakes.google import FakeGoogle
from tests.fakes.ollama import FakeOllama


@dataclass
class RealEngine:
    engine: Engine
    services: EngineServices
    settings: Settings
    ollama: FakeOllama
    google: FakeGoogle


@contextmanager
def real_engine(
    bridge: Bridge,
    engine_thread: EngineThread,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    *,
    confirmer: Any = None,
    mail: str = "send",
) -> Iterator[RealEngine]:
    """The engine as the app assembles it (text only), signed in to the fake Google."""
    with FakeGoogle() as google, FakeOllama(models=["llama3.2:3b"]) as ollama:
        monkeypatch.setenv("HARK_GOOGLE__API_ENDPOINT", google.url)
        monkeypatch.setenv("HARK_GOOGLE__TOKEN_URI", google.url + "/token")
        monkeypatch.setenv("HARK_GOOGLE__MAIL", mail)
        monkeypatch.setenv("HARK_LLM__HOST", ollama.url)
        monkeypatch.setenv("HARK_POLICY__AUDIT_DB", str(tmp_path / "audit.sqlite3"))
        settings = load_settings(tmp_path / "config.toml")
        secrets = SecretStore()
        info = google.oauth.authorized_user(scopes_for(settings.google), email="me@example.com")
        signed_in = tmp_path / "authorized_user.json"
        signed_in.write_text(json.dumps(info))
        GoogleAccount(settings.google, secrets).import_authorized_user(signed_in)
        engine = build_engine(
            settings,
            bridge.publish,
            secrets=secrets,
            speak=False,
            with_asr=False,
            confirmer=confirmer,
        )
        try:
            yield RealEngine(
                engine, EngineServices(engine, settings, secrets), settings, ollama, google
            )
        finally:
            engine_thread.submit(engine.aclose()).result(timeout=10)
