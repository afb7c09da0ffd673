"""Hark follows its deployed server: starts it when a turn needs it, stops it when idle.

On loopback with FakeVast, whose instances run the REAL Hark server (HarkBox): a stop takes
the server down, a start brings up a new one on a NEW port, as on Vast.ai.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from app.cli.main import main
from app.compose.build import build_chat, build_transcriber
from app.core.events import Event, ServerStateChanged
from app.core.types import ChatMessage
from app.settings.load import load_settings
from app.settings.secrets import SecretStore
from app.shared.errors import AsrError, LlmError
from app.shared.paths import data_dir
from remote.deploy.deployed import DeployedServer, ServerChat, ServerTranscriber
from remote.deploy.deployer import Deployer
from remote.deploy.options import DeployOptions
from remote.deploy.records import Deployment, RecordStore
from remote.deploy.service import RemoteService
from remote.deploy.status import HttpStatusProbe, ServerStatus
from remote.vast.client import VastClient
from tests.fakes.ollama import FakeOllama
from tests.fakes.vast import FakeVast
from tests.remote.deploy.box import TIMEOUTS, HarkBox
from tests.remote.deploy.rig import KEY, MODEL
from tests.support.clocks import SimClock, Sleeps
from tests.support.speech import speak_16k, speech_clip, words, write_wav


def store() -> RecordStore:
    return RecordStore(data_dir() / "deployments")


async def deploy(vast: VastClient, box: HarkBox) -> Deployment:
    """A deployment recorded where Hark looks for it, its key in the (test) keyring."""
    clock = SimClock()
    clock.on_sleep.append(box.step)
    deployer = Deployer(
        vast,
        store(),
        SecretStore(env={}),
        sleep=clock.sleep,
        clock=clock,
        timeouts=TIMEOUTS,
        cert_dir=data_dir() / "servers",
    )
    return await deployer.deploy(DeployOptions(model=MODEL))


class IdleProbe:
    """The real ``/status`` probe, with the server's idle time moved ``extra_s`` ahead (time
    passing on the server without waiting for it)."""

    def __init__(self) -> None:
        self.real = HttpStatusProbe(lambda: SecretStore(env={}).get("server-api-key"))
        self.extra_s = 0.0

    async def __call__(self, deployment: Deployment) -> ServerStatus:
        status = await self.real(deployment)
        if status.idle_s is None or not self.extra_s:
            return status
        return ServerStatus(
            status.reachable,
            status.provisioning,
            status.detail,
            status.model_pulled,
            status.idle_s + self.extra_s,
            status.error,
        )


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def keeper(
    vast: VastClient, record: Deployment, events: list[Event], probe: Any, clock: Clock
) -> DeployedServer:
    @asynccontextmanager
    async def service() -> AsyncIterator[RemoteService]:
        yield RemoteService(vast, store(), probe=probe, sleep=Sleeps())

    settings = load_settings(
        Path("none.toml"),
        {
            "HARK_REMOTE__USE_DEPLOYMENT": "true",
            "HARK_REMOTE__IDLE_STOP_MINUTES": "10",
            "HARK_REMOTE__FALLBACK_TO_LOCAL_ASR": "false",
            "HARK_LLM__MODEL": MODEL,
        },
    )
    return DeployedServer(
        settings, record, service=service, emit=events.append, monotonic=clock, sleep=Sleeps()
    )


def states(events: list[Event]) -> list[str]:
    return [e.state for e in events if isinstance(e, ServerStateChanged)]


async def test_a_stopped_server_is_started_when_needed_and_followed_to_its_new_port(
    fake: FakeVast, box: HarkBox, patient_vast: VastClient, upstream: FakeOllama
) -> None:
    record = await deploy(patient_vast, box)
    service = RemoteService(patient_vast, store(), sleep=Sleeps())
    await service.stop(record.instance_id)
    fake.advance_until(record.instance_id, "exited")
    assert record.instance_id not in box.started  # the old server is gone with the GPU

    events: list[Event] = []
    server = keeper(patient_vast, record, events, IdleProbe(), Clock())
    secrets = SecretStore(env={})
    asr = ServerTranscriber(server, lambda s: build_transcriber(s, None, secrets=secrets))
    chat = ServerChat(server, lambda s: build_chat(s, secrets))
    try:
        transcript = await asr.transcribe(speak_16k("Turn on the kitchen lights."), 16_000)
        upstream.reply("Lights on.")
        reply = [d.content async for d in chat.stream_chat([ChatMessage("user", "lights")], [])]
    finally:
        await asr.aclose()
        await chat.aclose()

    assert {"kitchen", "lights"} <= set(words(transcript.text))
    assert "".join(reply) == "Lights on."
    shown = states(events)
    assert shown[0] == "starting"
    assert shown[-1] == "ready"
    assert any("Starting your Hark server" in e.message for e in events)  # type: ignore[union-attr]
    # It runs again, on a new port that the record (and so `hark remote status`) now holds.
    new_url = box.started[record.instance_id]
    assert new_url != record.url
    assert server.url == new_url
    saved = store().get(record.instance_id)
    assert saved is not None
    assert saved.url == new_url
    assert saved.state == "ready"
    assert fake.instance(record.instance_id).actual_status == "running"


async def test_hark_stops_the_idle_server_but_never_under_a_user(
    fake: FakeVast, box: HarkBox, patient_vast: VastClient
) -> None:
    record = await deploy(patient_vast, box)
    events: list[Event] = []
    probe, clock = IdleProbe(), Clock()
    server = keeper(patient_vast, record, events, probe, clock)
    secrets = SecretStore(env={})
    asr = ServerTranscriber(server, lambda s: build_transcriber(s, None, secrets=secrets))
    try:  # running already: nothing to start; the server sees a request
        assert (await asr.transcribe(speak_16k("Hello there."), 16_000)).text
    finally:
        await asr.aclose()
    assert states(events) == ["ready"]

    clock.now += 5 * 60
    assert not await server.stop_if_idle()  # Hark used it 5 minutes ago
    clock.now += 6 * 60
    assert not await server.stop_if_idle()  # Hark is idle, but the server was just asked
    assert fake.instance(record.instance_id).actual_status == "running"

    probe.extra_s = 11 * 60  # nobody asked the server for 11 minutes either
    assert await server.stop_if_idle()
    assert states(events)[-2:] == ["stopping", "stopped"]
    assert "starts again when you talk" in events[-1].message  # type: ignore[union-attr]
    inst = fake.instance(record.instance_id)
    assert inst.intended_status == "stopped"
    saved = store().get(record.instance_id)
    assert saved is not None
    assert saved.state == "stopped"
    assert not await server.stop_if_idle()  # stopped stays stopped: no second stop request

    # The next turn starts it again.
    url = await server.ensure_ready()
    assert url == box.started[record.instance_id]
    assert states(events)[-1] == "ready"


async def test_a_server_that_died_is_a_clear_error_not_a_hang(
    fake: FakeVast, box: HarkBox, patient_vast: VastClient
) -> None:
    record = await deploy(patient_vast, box)
    fake.offline_instance(record.instance_id)
    events: list[Event] = []
    server = keeper(patient_vast, record, events, IdleProbe(), Clock())
    asr = ServerTranscriber(server, lambda s: pytest.fail("no client for a dead server"))
    chat = ServerChat(server, lambda s: pytest.fail("no client for a dead server"))
    with pytest.raises(AsrError) as asr_err:
        await asr.transcribe(b"\0\0" * 1600, 16_000)
    with pytest.raises(LlmError) as llm_err:
        async for _ in chat.stream_chat([ChatMessage("user", "hi")], []):
            pass
    assert asr_err.value.code == llm_err.value.code == "server-start-failed"
    assert "offline" in asr_err.value.message
    assert "hark remote" in asr_err.value.message
    assert states(events)[-1] == "failed"


@pytest.mark.slow
async def test_hark_ask_starts_the_stopped_deployed_server(
    fake: FakeVast,
    box: HarkBox,
    patient_vast: VastClient,
    upstream: FakeOllama,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    record = await deploy(patient_vast, box)
    await RemoteService(patient_vast, store(), sleep=Sleeps()).stop(record.instance_id)
    fake.advance_until(record.instance_id, "exited")
    # What a user has after `hark remote deploy` + `stop`: the record, the keys in the keyring.
    SecretStore(env={}).set("vast-api-key", KEY)
    monkeypatch.setenv("VAST_URL", fake.url)
    monkeypatch.setenv("HARK_REMOTE__USE_DEPLOYMENT", "true")
    monkeypatch.setenv("HARK_REMOTE__POLL_S", "0.05")
    monkeypatch.setenv("HARK_REMOTE__FALLBACK_TO_LOCAL_ASR", "false")
    monkeypatch.setenv("HARK_LLM__MODEL", MODEL)
    monkeypatch.setenv("HARK_LLM__HOST", "http://127.0.0.1:9")  # never used: the server is
    upstream.reply("The plants are watered.")
    clip = speech_clip("Remind me to water the plants.", lead_silence_s=0.4)
    wav = write_wav(tmp_path / "question.wav", clip.pcm)

    code = await asyncio.to_thread(main, ["ask", "--wav", str(wav), "--json", "--no-voice"])

    out, err = capsys.readouterr()
    assert code == 0, err
    data = json.loads(out)
    assert {"water", "plants"} <= set(words(data["transcript"]))
    assert data["reply"] == "The plants are watered."
    assert "Starting your Hark server" in err
    assert "Hark server ready at https://127.0.0.1:" in err
    assert KEY not in out + err
    assert fake.instance(record.instance_id).actual_status == "running"
