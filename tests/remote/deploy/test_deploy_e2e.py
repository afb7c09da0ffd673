"""End to end on loopback: deploy against FakeVast, whose instances run the REAL Hark server.

When the fake "starts" an instance, :class:`tests.remote.deploy.box.HarkBox` starts Caddy +
uvicorn + the server app with the key and certificate the deployer sent, so the deploy ends
with a working server that answers ``/status`` with the key over the pinned certificate.
No real time passes in the waits: the deployer's sleep advances a simulated clock.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest

from app.cli.main import main
from app.settings.secrets import SecretStore
from app.shared.tls import pinned_ssl_context
from remote.deploy.deployer import Deployer
from remote.deploy.options import DeployOptions, DeployProgress
from remote.deploy.records import RecordStore
from tests.fakes.ollama import FakeOllama
from tests.fakes.vast import FakeVast
from tests.remote.deploy.box import HarkBox
from tests.remote.deploy.rig import MODEL
from tests.support.clocks import SimClock
from tests.support.speech import speech_clip, words, write_wav


async def test_deploy_ends_with_a_working_server(
    fake: FakeVast,
    box: HarkBox,
    deployer: Deployer,
    progress: list[DeployProgress],
    clock: SimClock,
    tmp_path: Path,
) -> None:
    fake.add_offer(id=77, dph_total=0.05, gpu_name="RTX 4080")
    box.states = [
        {"state": "starting", "detail": "installing the Hark server"},
        {"state": "pulling-model", "detail": f"pulling {MODEL}", "progress": 0.3},
        {"state": "pulling-model", "detail": f"pulling {MODEL}", "progress": 0.8},
        {"state": "ready", "detail": "ready"},
    ]
    deployment = await deployer.deploy(DeployOptions(model=MODEL))

    assert deployment.state == "ready"
    assert deployment.offer_id == 77
    assert deployment.gpu_name == "RTX 4080"
    assert deployment.dph_total == pytest.approx(0.05)
    assert deployment.label.startswith("hark-")
    assert deployment.url == box.started[deployment.instance_id]
    records = RecordStore(tmp_path / "records")
    assert records.get(deployment.instance_id) == deployment

    # What the instance was created with: the bootstrap, our port, the secrets in chunks.
    inst = fake.instance(deployment.instance_id)
    assert inst.label == deployment.label
    assert inst.body["cancel_unavail"] is True
    assert inst.onstart is not None
    assert "boxboot.py" in inst.onstart
    assert inst.env["HARK_LLM_MODEL"] == MODEL
    assert len(inst.env["HARK_CODE_SHA256"]) == 64
    assert "-p 8443:8443" in inst.env

    # The key is in the keyring, the certificate where Hark pins it: /status works with both.
    key = SecretStore(env={}).get("server-api-key")
    assert key == inst.env["HARK_API_KEY"]
    cert = deployer.cert_path(deployment.instance_id).read_text()
    assert cert == deployment.cert_pem
    async with httpx.AsyncClient(verify=pinned_ssl_context(cert), trust_env=False) as http:
        status = await http.get(
            deployment.url + "/status", headers={"Authorization": f"Bearer {key}"}
        )
        refused = await http.get(deployment.url + "/status")
    assert status.status_code == 200
    assert status.json()["provisioning"]["state"] == "ready"
    assert refused.status_code == 401

    # The progress went through every step, showing the pull.
    steps = [p.step for p in progress]
    order = ["creating", "booting", "address", "tls", "provisioning", "ready"]
    assert [s for s in dict.fromkeys(steps) if s in order] == order
    pulls = [p.fraction for p in progress if p.step == "provisioning" and p.fraction is not None]
    assert pulls == [0.3, 0.8]
    assert progress[-1] == DeployProgress("ready", f"Hark server ready at {deployment.url}", 1.0)
    assert all(w == 5 for w in clock.waits)

    # The server runs and bills on purpose: it is the only instance.
    assert [i.id for i in fake.live_instances()] == [deployment.instance_id]


async def test_a_pinned_offer_is_used(fake: FakeVast, box: HarkBox, deployer: Deployer) -> None:
    deployment = await deployer.deploy(DeployOptions(model=MODEL, offer_id=1003))
    assert deployment.offer_id == 1003
    assert deployment.gpu_name == "A100 SXM4"
    assert [i.offer.id for i in fake.live_instances()] == [1003]


@pytest.mark.slow
async def test_hark_ask_uses_the_deployed_server(
    fake: FakeVast,
    box: HarkBox,
    upstream: FakeOllama,
    deployer: Deployer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    deployment = await deployer.deploy(DeployOptions(model=MODEL))
    # Only what the deploy left behind: the URL, the pinned certificate, the key in the keyring.
    monkeypatch.setenv("HARK_REMOTE__URL", deployment.url)
    monkeypatch.setenv("HARK_REMOTE__CA_CERT", str(deployer.cert_path(deployment.instance_id)))
    monkeypatch.setenv("HARK_REMOTE__FALLBACK_TO_LOCAL_ASR", "false")
    monkeypatch.setenv("HARK_LLM__MODEL", MODEL)
    monkeypatch.setenv("HARK_LLM__HOST", "http://127.0.0.1:9")  # never used: the server is
    monkeypatch.setenv("HARK_ASR__MODEL", str(tmp_path / "no-local-model"))  # never used
    upstream.reply("The plants are watered.")
    clip = speech_clip("Remind me to water the plants.", lead_silence_s=0.4)
    wav = write_wav(tmp_path / "question.wav", clip.pcm)
    code = await asyncio.to_thread(main, ["ask", "--wav", str(wav), "--json", "--no-voice"])
    out, err = capsys.readouterr()
    assert code == 0, err
    data = json.loads(out)
    assert {"water", "plants"} <= set(words(data["transcript"]))
    assert data["reply"] == "The plants are watered."
    assert [i.id for i in fake.live_instances()] == [deployment.instance_id]
