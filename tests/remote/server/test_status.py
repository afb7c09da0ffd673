"""/healthz says only what is not ready; /status tells the owner everything."""

from __future__ import annotations

import asyncio
import json
import sys
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from app import __version__
from remote.server.app import create_app
from remote.server.provisioning import parse_state, read_state
from remote.server.routes.status import gpu_info, parse_nvidia_smi
from remote.server.whisper import (
    EngineStatus,
    TranscribeOptions,
    TranscriptionResult,
    WhisperEngine,
    shown_model_name,
)
from tests.fakes.ollama import FakeOllama
from tests.remote.server.harness import AUTH, MODEL, make_settings
from tests.support.clocks import ManualClock
from tests.support.servers import closed_port, serve


def _client(app: object) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport, base_url="http://hark")


@pytest.fixture
async def down_url() -> AsyncIterator[str]:
    with closed_port() as port:
        yield f"http://127.0.0.1:{port}"


async def test_healthz_ok(
    tiny_en_dir: Path, shared_engine: WhisperEngine, fake: FakeOllama
) -> None:
    app = create_app(make_settings(tiny_en_dir, fake.url), engine=shared_engine)
    async with _client(app) as c:
        resp = await c.get("/healthz")
    assert resp.status_code == 200
    assert resp.json() == {"status": "ok"}


async def test_healthz_names_what_is_not_ready_and_nothing_else(
    tiny_en_dir: Path, shared_engine: WhisperEngine, down_url: str, tmp_path: Path
) -> None:
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"state": "pulling-model", "model": "llama3.1:8b"}))
    settings = make_settings(tiny_en_dir, down_url, state_file=state)
    app = create_app(settings, engine=shared_engine)
    async with _client(app) as c:
        resp = await c.get("/healthz")
    assert resp.status_code == 503
    assert resp.json() == {"status": "not-ready", "not_ready": ["provisioning", "ollama"]}
    assert "llama3.1" not in resp.text
    assert __version__ not in resp.text


async def test_status_tells_everything(
    tiny_en_dir: Path, shared_engine: WhisperEngine, fake: FakeOllama, tmp_path: Path
) -> None:
    clock = ManualClock()
    state = tmp_path / "state.json"
    state.write_text(
        json.dumps({"state": "ready", "detail": "all set", "progress": 1, "model": MODEL})
    )
    settings = make_settings(
        tiny_en_dir, fake.url, state_file=state, nvidia_smi=str(tmp_path / "no-nvidia-smi")
    )
    app = create_app(settings, engine=shared_engine, clock=clock)
    async with _client(app) as c:
        clock.advance(12.5)
        first = (await c.get("/status", headers=AUTH)).json()
        assert first["version"] == __version__
        assert first["uptime_s"] == 12.5
        assert first["last_request_s_ago"] is None  # /status itself is not activity
        assert first["ollama"] == {"reachable": True, "version": fake.version, "models": [MODEL]}
        assert first["whisper"]["model"] == tiny_en_dir.name  # never the folder's path
        assert str(tiny_en_dir.parent) not in json.dumps(first)
        assert first["whisper"]["loaded"] is True
        assert first["whisper"]["device"] == "cpu"
        assert first["whisper"]["compute_type"] == "int8"
        assert first["gpu"] is None
        assert first["queue"] == {"running": 0, "waiting": 0, "concurrency": 1, "max_queue": 4}
        assert first["provisioning"] == {
            "state": "ready",
            "detail": "all set",
            "progress": 1.0,
            "model": MODEL,
        }
        await c.get("/api/version", headers=AUTH)
        clock.advance(7)
        second = (await c.get("/status", headers=AUTH)).json()
        assert second["last_request_s_ago"] == 7.0
        assert second["uptime_s"] == 19.5


async def test_status_when_ollama_is_down(
    tiny_en_dir: Path, shared_engine: WhisperEngine, down_url: str
) -> None:
    app = create_app(make_settings(tiny_en_dir, down_url), engine=shared_engine)
    async with _client(app) as c:
        resp = await c.get("/status", headers=AUTH)
    assert resp.status_code == 200
    assert resp.json()["ollama"]["reachable"] is False
    assert resp.json()["ollama"]["models"] == []


async def test_status_of_an_unloaded_engine_names_the_model(
    tiny_en_dir: Path, fake: FakeOllama
) -> None:
    app = create_app(make_settings(tiny_en_dir, fake.url))
    async with _client(app) as c:
        whisper = (await c.get("/status", headers=AUTH)).json()["whisper"]
    assert whisper == {
        "model": tiny_en_dir.name,
        "state": "unloaded",
        "loaded": False,
        "device": None,
        "compute_type": None,
        "detail": None,
    }


# --- the GPU line ------------------------------------------------------------------------------


def test_parse_nvidia_smi() -> None:
    out = "NVIDIA H100 80GB HBM3, 81559, 1234\nNVIDIA A10, 23028.0, 0\n\nbroken line\nX, y, z\n"
    assert parse_nvidia_smi(out) == [
        {"name": "NVIDIA H100 80GB HBM3", "memory_total_mib": 81559, "memory_used_mib": 1234},
        {"name": "NVIDIA A10", "memory_total_mib": 23028, "memory_used_mib": 0},
    ]


def _script(path: Path, body: str) -> Path:
    path.write_text(f"#!{sys.executable}\nimport sys\n{body}\n")
    path.chmod(0o755)
    return path


def test_gpu_info_runs_nvidia_smi(tmp_path: Path) -> None:
    smi = _script(
        tmp_path / "nvidia-smi",
        "assert '--format=csv,noheader,nounits' in sys.argv\nprint('NVIDIA L4, 23034, 512')",
    )
    assert gpu_info(str(smi)) == [
        {"name": "NVIDIA L4", "memory_total_mib": 23034, "memory_used_mib": 512}
    ]


def test_gpu_info_is_none_when_nvidia_smi_fails_or_is_missing(tmp_path: Path) -> None:
    failing = _script(tmp_path / "nvidia-smi", "sys.exit('NVIDIA-SMI has failed')")
    assert gpu_info(str(failing)) is None
    assert gpu_info(str(tmp_path / "absent")) is None


# --- the provisioning state file ----------------------------------------------------------------


def test_state_file_parsing() -> None:
    good = parse_state('{"state": "pulling-model", "detail": "pulling", "progress": 0.42}')
    assert (good.state, good.detail, good.progress, good.setting_up) == (
        "pulling-model",
        "pulling",
        0.42,
        True,
    )
    assert good.describe() == "pulling-model (pulling, 42 %)"
    assert parse_state('{"state": "ready", "progress": 7}').progress == 1.0
    assert parse_state('{"state": "ready", "progress": true}').progress is None
    assert not parse_state('{"state": "ready"}').setting_up
    half = parse_state('{"state": "pull')
    assert half.state == "unknown"
    assert "not valid JSON" in (half.detail or "")
    odd = parse_state('{"state": "dancing"}')
    assert odd.state == "unknown"
    assert "dancing" in (odd.detail or "")
    assert parse_state("[1, 2]").state == "unknown"


def test_read_state(tmp_path: Path) -> None:
    assert read_state(None) is None
    assert read_state(tmp_path / "not-yet") is None
    path = tmp_path / "state.json"
    path.write_bytes(b"\xff\xfe")
    unreadable = read_state(path)
    assert unreadable is not None
    assert unreadable.state == "unknown"


class SlowLoadingEngine:
    """The real engine whose start-up load waits for the test to let it finish."""

    def __init__(self, inner: WhisperEngine) -> None:
        self.inner = inner
        self.gate = threading.Event()
        self.loading = threading.Event()

    def status(self) -> EngineStatus:
        return self.inner.status()

    async def load(self) -> None:
        self.loading.set()
        assert await asyncio.to_thread(self.gate.wait, 15), "the test never opened the gate"
        await self.inner.load()

    async def transcribe(self, data: bytes, options: TranscribeOptions) -> TranscriptionResult:
        return await self.inner.transcribe(data, options)

    async def unload_if_idle(self, idle_s: float) -> bool:
        return await self.inner.unload_if_idle(idle_s)


def test_healthz_waits_for_the_preload(
    tiny_en_dir: Path, shared_engine: WhisperEngine, fake: FakeOllama
) -> None:
    engine = SlowLoadingEngine(shared_engine)
    settings = make_settings(tiny_en_dir, fake.url, whisper_preload=True)
    with serve(create_app(settings, engine=engine)) as url, httpx.Client(base_url=url) as c:
        assert engine.loading.wait(10)
        waiting = c.get("/healthz")
        assert waiting.status_code == 503
        assert waiting.json() == {"status": "not-ready", "not_ready": ["whisper"]}
        engine.gate.set()
        for _ in range(200):  # bounded: each round asks the server itself
            if c.get("/healthz").status_code == 200:
                break
        else:
            raise AssertionError("/healthz never became ready after the preload")


async def test_a_flood_of_health_checks_asks_ollama_once_every_few_seconds(
    tiny_en_dir: Path, shared_engine: WhisperEngine, fake: FakeOllama
) -> None:
    clock = ManualClock()
    app = create_app(make_settings(tiny_en_dir, fake.url), engine=shared_engine, clock=clock)
    async with _client(app) as c:
        answers = await asyncio.gather(*(c.get("/healthz") for _ in range(50)))
        assert {a.status_code for a in answers} == {200}
        assert fake.calls.count("GET /api/version") == 1  # 50 calls, one probe
        clock.advance(1.0)
        await c.get("/healthz")
        assert fake.calls.count("GET /api/version") == 1  # still the same answer
        clock.advance(3.0)
        fake.stop()  # Ollama goes away
        late = await c.get("/healthz")
    assert late.status_code == 503  # seen at the next probe
    assert late.json()["not_ready"] == ["ollama"]


@pytest.mark.parametrize(
    ("configured", "shown"),
    [
        ("/srv/hark/models/whisper-large-v3", "whisper-large-v3"),
        ("C:\\models\\whisper-small", "whisper-small"),
        ("large-v3-turbo", "large-v3-turbo"),
        ("Systran/faster-whisper-small", "Systran/faster-whisper-small"),
    ],
)
def test_answers_name_a_model_folder_by_its_name_only(configured: str, shown: str) -> None:
    assert shown_model_name(configured) == shown
