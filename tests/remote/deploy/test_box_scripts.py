"""A deploy whose box runs the real start-up scripts (see :mod:`tests.remote.deploy.script_box`).

The onstart the deployer sent runs with bash; the box takes Hark's own wheel over pinned TLS,
checks its hash, installs the locked dependencies from the wheelhouse with hashes required,
and serves the real ``hark server``; ``hark ask --wav`` then goes through it. Real time
passes here (the deployer polls every quarter second); nothing in the tests sleeps.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from app.cli.main import main
from app.settings.secrets import SecretStore
from app.shared.tls import pinned_ssl_context
from remote.deploy.bootstrap import bootstrap_script
from remote.deploy.code import CodeBundle, build_wheel
from remote.deploy.credentials import Credentials, instance_env, make_credentials
from remote.deploy.deployer import Deployer
from remote.deploy.errors import DeployCode
from remote.deploy.options import DeployOptions, DeployProgress, DeployTimeouts
from remote.deploy.records import RecordStore
from remote.deploy.service import RemoteService
from remote.deploy.status import HttpStatusProbe
from remote.deploy.upgrade import upgrade
from remote.vast.client import VastClient
from remote.vast.errors import DeployError
from tests.fakes.vast import FakeVast
from tests.remote.deploy.rig import KEY, MODEL, settings_for
from tests.remote.deploy.script_box import INSTANCE_KEY, ScriptBox, attached_script_box
from tests.support.speech import speech_clip, tiny_en_dir, words, write_wav

pytestmark = pytest.mark.slow

REAL_TIME = DeployTimeouts(
    boot_s=60, address_s=60, tls_s=120, provisioning_s=400, poll_s=0.25, probe_s=10
)


@pytest.fixture(scope="module")
def code(tmp_path_factory: pytest.TempPathFactory) -> CodeBundle:
    return build_wheel(tmp_path_factory.mktemp("code"))


@pytest.fixture(scope="module")
def shared_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The boxes' venv (a host's cache): the first box installs the lock into it."""
    return tmp_path_factory.mktemp("box-venv") / "venv"


@pytest.fixture
def script_box(fake: FakeVast, tmp_path: Path, shared_venv: Path) -> Iterator[ScriptBox]:
    with attached_script_box(fake, tmp_path / "boxes", shared_venv) as box:
        yield box


@pytest.fixture
async def real_vast(fake: FakeVast) -> AsyncIterator[VastClient]:
    async with VastClient(KEY, settings_for(fake.url, timeout_s=30.0)) as client:
        yield client


def deployer_for(
    vast: VastClient, folder: Path, code: CodeBundle, progress: list[DeployProgress]
) -> Deployer:
    return Deployer(
        vast,
        RecordStore(folder / "records"),
        SecretStore(env={}),
        on_progress=progress.append,
        timeouts=REAL_TIME,
        cert_dir=folder / "servers",
        code=lambda: code,
    )


def options(**extra: object) -> DeployOptions:
    return DeployOptions(model=MODEL, whisper_model=str(tiny_en_dir()), **extra)  # type: ignore[arg-type]


def secret_values(inst_env: dict[str, str]) -> list[str]:
    chunks = [v for k, v in inst_env.items() if k.startswith("HARK_TLS_KEY_B64_")]
    return [inst_env["HARK_API_KEY"], INSTANCE_KEY, *chunks]


async def test_a_deploy_runs_the_real_box_scripts_and_hark_ask_uses_it(
    fake: FakeVast,
    script_box: ScriptBox,
    real_vast: VastClient,
    code: CodeBundle,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    progress: list[DeployProgress] = []
    deployer = deployer_for(real_vast, tmp_path, code, progress)
    deployment = await deployer.deploy(options())
    iid = deployment.instance_id
    inst = fake.instance(iid)

    # Only the hash and the version of the code travelled in the environment; the onstart
    # installs nothing by name.
    assert inst.env["HARK_CODE_SHA256"] == code.sha256
    assert inst.env["HARK_CODE_VERSION"] == code.version
    assert inst.onstart == bootstrap_script()
    assert "hark-assistant" not in inst.onstart
    assert "pip" not in inst.onstart
    assert len(inst.onstart) <= 4048

    # The box runs exactly this code: the wheel it installed is ours, byte for byte.
    home = script_box.home(iid)
    assert (home / "code" / f"{code.sha256}.whl").read_bytes() == code.path.read_bytes()
    assert (script_box.venv / ".hark-code").read_text() == code.sha256

    # The upload showed its progress, and each boot step came with its duration.
    uploads = [p.fraction for p in progress if p.step == "upload" and p.fraction is not None]
    assert uploads[0] == 0.0
    assert uploads[-1] == 1.0
    assert uploads == sorted(uploads)
    key = SecretStore(env={}).get("server-api-key")
    assert key == inst.env["HARK_API_KEY"]
    async with httpx.AsyncClient(
        verify=pinned_ssl_context(deployment.cert_pem), trust_env=False
    ) as http:
        status = (
            await http.get(deployment.url + "/status", headers={"Authorization": f"Bearer {key}"})
        ).json()
    assert status["provisioning"]["state"] == "ready"
    names = [s["name"] for s in status["boot_steps"]]
    assert names[:3] == ["code upload", "install", "ollama start"]
    assert "model pull" in names
    shown = [p.message for p in progress if p.step == "provisioning"]
    assert any(m.startswith("install: ") and m.endswith(" s") for m in shown)

    # No process of the box holds a secret in its environment.
    pids = script_box.pids(iid)
    assert len(pids) >= 3  # the supervisors, Ollama, Caddy, uvicorn …
    for pid in pids:
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace")
        except OSError:
            continue  # it ended meanwhile
        for value in secret_values(inst.env):
            assert value not in environ, f"process {pid} holds a secret in its environment"
    keys = home / "secrets" / "api-keys"
    assert keys.read_text().strip() == key
    assert keys.stat().st_mode & 0o077 == 0

    # `hark ask --wav` goes through the box's real server (Whisper there, the LLM behind it).
    monkeypatch.setenv("HARK_REMOTE__URL", deployment.url)
    monkeypatch.setenv("HARK_REMOTE__CA_CERT", str(deployer.cert_path(iid)))
    monkeypatch.setenv("HARK_REMOTE__FALLBACK_TO_LOCAL_ASR", "false")
    monkeypatch.setenv("HARK_LLM__MODEL", MODEL)
    monkeypatch.setenv("HARK_LLM__HOST", "http://127.0.0.1:9")  # never used: the box's is
    monkeypatch.setenv("HARK_ASR__MODEL", str(tmp_path / "no-local-model"))  # never used
    clip = speech_clip("Remind me to water the plants.", lead_silence_s=0.4)
    wav = write_wav(tmp_path / "question.wav", clip.pcm)
    exit_code = await asyncio.to_thread(main, ["ask", "--wav", str(wav), "--json", "--no-voice"])
    out, err = capsys.readouterr()
    assert exit_code == 0, err
    data = json.loads(out)
    assert {"water", "plants"} <= set(words(data["transcript"]))
    assert "water" in data["reply"].lower()  # the stand-in Ollama repeats what it was told
    assert [i.id for i in fake.live_instances()] == [iid]


def no_packages(box: ScriptBox, folder: Path) -> None:
    """Boxes from now on find no package to install (a fresh venv, an empty index)."""
    empty = folder / "empty-index"
    empty.mkdir()
    box.extra_env = {
        "HARK_VENV": str(folder / "fresh-venv"),
        "HARK_PIP_ARGS": f"--no-index --find-links {empty}",
    }


async def test_a_box_whose_dependencies_cannot_install_fails_clearly_and_is_destroyed(
    fake: FakeVast,
    script_box: ScriptBox,
    real_vast: VastClient,
    code: CodeBundle,
    tmp_path: Path,
) -> None:
    no_packages(script_box, tmp_path)
    fake.add_offer(id=4242, dph_total=0.01)
    deployer = deployer_for(real_vast, tmp_path, code, [])
    with pytest.raises(DeployError) as caught:
        await deployer.deploy(options(offer_id=4242))
    assert caught.value.code == DeployCode.DEPLOY_PROVISIONING_FAILED
    message = str(caught.value)
    assert "could not install the server's dependencies" in message
    assert "hark remote logs" in message
    assert fake.live_instances() == []  # nothing left billing
    (iid,) = script_box.ports
    assert "could not install the server's dependencies" in script_box.log(iid)


async def test_a_kept_box_that_failed_says_why_in_status_and_logs(
    fake: FakeVast,
    script_box: ScriptBox,
    real_vast: VastClient,
    code: CodeBundle,
    tmp_path: Path,
) -> None:
    no_packages(script_box, tmp_path)
    deployer = deployer_for(real_vast, tmp_path, code, [])
    with pytest.raises(DeployError):
        await deployer.deploy(options(keep=True))
    (inst,) = fake.live_instances()
    service = RemoteService(
        real_vast,
        RecordStore(tmp_path / "records"),
        probe=HttpStatusProbe(lambda: SecretStore(env={}).get("server-api-key")),
    )
    status = await service.status(inst.id)
    assert status.server is not None
    assert status.server.provisioning == "failed"
    assert "could not install the server's dependencies" in (status.server.detail or "")
    logs = await service.logs(inst.id)
    assert "could not install the server's dependencies" in logs
    assert await service.destroy(inst.id)
    assert fake.live_instances() == []


class _Box:
    """A box rented by hand (no deployer), waiting for its code, and how to reach it."""

    def __init__(self, script_box: ScriptBox, iid: int, creds: Credentials) -> None:
        self.creds = creds
        self.iid = iid
        self.url = f"https://127.0.0.1:{script_box.ports[iid]}"
        self.auth = {"Authorization": f"Bearer {creds.api_key}"}
        self.home = script_box.home(iid)

    @classmethod
    async def rent(
        cls, vast: VastClient, fake: FakeVast, script_box: ScriptBox, code: CodeBundle
    ) -> _Box:
        creds = make_credentials()
        env = instance_env(
            creds,
            model=MODEL,
            whisper_model=str(tiny_en_dir()),
            code_sha256=code.sha256,
            code_version=code.version,
        )
        fake.add_offer(id=5151, dph_total=0.01)
        iid = await vast.create_instance(
            5151,
            image="test",
            env=env,
            ports=[8443],
            onstart=bootstrap_script(),
            disk_gb=10,
            label="hark-test-box",
        )
        fake.advance_until(iid, "running")
        script_box.wait_for(iid, "bootstrap: answering on port")
        return cls(script_box, iid, creds)


async def test_the_box_takes_one_good_upload_and_refuses_the_rest(
    fake: FakeVast, script_box: ScriptBox, real_vast: VastClient, code: CodeBundle
) -> None:
    box = await _Box.rent(real_vast, fake, script_box, code)
    wheel = code.path.read_bytes()
    stored = box.home / "code" / f"{code.sha256}.whl"
    async with httpx.AsyncClient(
        verify=pinned_ssl_context(box.creds.cert_pem), trust_env=False, timeout=30
    ) as http:
        status = (await http.get(box.url + "/status", headers=box.auth)).json()["provisioning"]
        assert status["state"] == "awaiting-code"
        assert status["sha256"] == code.sha256
        assert (await http.get(box.url + "/status")).status_code == 401

        # Without the key: refused, nothing kept. The box answers before it reads a body; a
        # whole wheel still in flight then meets a closed connection instead of the 401.
        put = await http.put(box.url + "/box/code", content=b"")
        assert put.status_code == 401
        assert put.json()["error"]["code"] == "unauthorized"
        try:
            put = await http.put(box.url + "/box/code", content=wheel)
            assert put.status_code == 401
        except (httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError):
            pass  # refused mid-upload: the connection closed under the unread body
        assert not stored.exists()
        # Another wheel (one byte changed): refused by its hash.
        tampered = wheel[:-1] + bytes([wheel[-1] ^ 1])
        put = await http.put(box.url + "/box/code", content=tampered, headers=box.auth)
        assert put.status_code == 400
        assert put.json()["error"]["code"] == "code-hash-mismatch"
        # Cut halfway: the box throws the half away and keeps waiting.
        _cut_upload(box, wheel)
        script_box.wait_for(box.iid, "refused an upload: cut after")
        status = (await http.get(box.url + "/status", headers=box.auth)).json()["provisioning"]
        assert status["state"] == "awaiting-code"
        assert not stored.exists()

    # A client that pins another certificate cannot even connect.
    stranger = pinned_ssl_context(make_credentials().cert_pem)
    async with httpx.AsyncClient(verify=stranger, trust_env=False) as http:
        with pytest.raises(httpx.ConnectError):
            await http.put(box.url + "/box/code", content=wheel, headers=box.auth)
    assert not stored.exists()

    async with httpx.AsyncClient(
        verify=pinned_ssl_context(box.creds.cert_pem), trust_env=False, timeout=30
    ) as http:
        put = await http.put(box.url + "/box/code", content=wheel, headers=box.auth)
        assert put.status_code == 200
        assert stored.read_bytes() == wheel
        # Once the box is Hark's server, a second upload is not taken.
        script_box.wait_for(box.iid, "onstart: ready", timeout=300)
        second = await http.put(box.url + "/box/code", content=tampered, headers=box.auth)
        assert second.status_code == 400  # a running box takes code only with its named hash
        assert stored.read_bytes() == wheel
        assert not (box.home / "code" / "expected").exists()
    log = (box.home / "logs" / "onstart.log").read_text()
    assert "refused an upload: a wrong SHA-256" in log


def _cut_upload(box: _Box, wheel: bytes) -> None:
    """Send the headers and half of ``wheel``, then hang up (the line went down)."""
    host, port = box.url.removeprefix("https://").split(":")
    raw = socket.create_connection((host, int(port)), timeout=30)
    with pinned_ssl_context(box.creds.cert_pem).wrap_socket(raw) as tls:
        head = (
            f"PUT /box/code HTTP/1.1\r\nHost: {host}\r\n"
            f"Authorization: {box.auth['Authorization']}\r\nContent-Length: {len(wheel)}\r\n\r\n"
        )
        tls.sendall(head.encode() + wheel[: len(wheel) // 2])


async def test_a_restart_skips_the_install_and_a_newer_hark_sends_its_code(
    fake: FakeVast,
    script_box: ScriptBox,
    real_vast: VastClient,
    code: CodeBundle,
    tmp_path: Path,
) -> None:
    deployer = deployer_for(real_vast, tmp_path, code, [])
    deployment = await deployer.deploy(options())
    iid = deployment.instance_id
    key = SecretStore(env={}).get("server-api-key")
    assert key is not None
    records = RecordStore(tmp_path / "records")
    service = RemoteService(real_vast, records, sleep=_tick)

    async def steps_after_restart() -> tuple[list[str], str]:
        script_box.wait_for(iid, "onstart: ready", count=starts[0], timeout=300)
        record = records.get(iid)
        assert record is not None
        async with httpx.AsyncClient(
            verify=pinned_ssl_context(record.cert_pem), trust_env=False, timeout=30
        ) as http:
            status = (
                await http.get(record.url + "/status", headers={"Authorization": f"Bearer {key}"})
            ).json()
        assert status["provisioning"]["state"] == "ready"
        return [str(s["name"]) for s in status["boot_steps"]], status["code"]["sha256"]

    # Stopped and started again: the same code is on the disk, nothing is sent or installed.
    starts = [1]
    await service.stop(iid)
    await service.wait_stopped(iid, poll_s=0)
    await service.start(iid, poll_s=0)
    starts[0] = 2
    steps, running = await steps_after_restart()
    assert running == code.sha256
    assert "code upload" not in steps
    assert "install" not in steps
    assert "is installed already" in script_box.log(iid)

    # This desktop is now another Hark: it says so, sends its code, and the box restarts on it.
    newer = build_wheel(tmp_path / "newer", version="0.1.1.dev1")
    assert newer.sha256 != code.sha256
    said: list[str] = []
    assert await upgrade(service, iid, key, newer, said.append, poll_s=0)
    assert any(f"runs code {code.short}" in line and newer.describe() in line for line in said)
    starts[0] = 3
    steps, running = await steps_after_restart()
    assert running == newer.sha256
    assert "install" in steps
    assert "code upload" not in steps  # it came to the running server, not the bootstrap
    assert (script_box.venv / ".hark-code").read_text() == newer.sha256
    # …and the same code is not sent again.
    assert not await upgrade(service, iid, key, newer, said.append, poll_s=0)
    assert said[-1] == f"instance {iid} already runs {newer.describe()}"
    assert [i.id for i in fake.live_instances()] == [iid]


async def _tick(_seconds: float) -> None:
    """The service's pause between looks at Vast.ai: FakeVast moves on every look."""
