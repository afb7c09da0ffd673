"""``hark remote …`` in-process against the fake Vast.ai (and, for deploy, a real TLS server).

Each test calls ``app.cli.main.main([...])`` with ``HARK_VAST__URL`` pointing at the fake; the key
comes from ``VAST_API_KEY`` or ``--api-key``; the keyring is the test-wide file keyring.
"""

from __future__ import annotations

import base64
import json
import os
import signal
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import keyring
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from app.cli.main import main
from app.cli.remote import records_folder
from app.settings.secrets import KEYRING_SERVICE
from remote.deploy.records import RecordStore
from remote.deploy.service import SERVER_PORT
from tests.fakes.vast import FakeInstance, FakeVast
from tests.remote.deploy.rig import KEY, create, record_for
from tests.support.servers import serve
from tests.support.tls import self_signed

MODEL = "llama3.2:3b"
FAST = ["--poll", "0", "--boot-timeout", "30", "--answer-timeout", "30", "--ready-timeout", "30"]


@pytest.fixture
def env(fake: FakeVast, monkeypatch: pytest.MonkeyPatch) -> FakeVast:
    """The CLI talks to the fake, with the key in VAST_API_KEY.

    ``VAST_URL`` (which VastSettings reads when HARK_VAST__URL is unset): app.settings.schema's
    settings loader refuses HARK_VAST__* as an unknown section for now.
    """
    monkeypatch.setenv("VAST_URL", fake.url)
    monkeypatch.setenv("VAST_API_KEY", KEY)
    return fake


def records() -> RecordStore:
    return RecordStore(records_folder())


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["remote", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def running(fake: FakeVast, **kw: Any) -> int:
    instance_id = create(fake, **kw)
    fake.advance_until(instance_id)
    return instance_id


def test_offers_table_and_json(env: FakeVast, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "offers", "--model", MODEL)
    assert code == 0, err
    assert out.splitlines()[0].split()[:4] == ["OFFER", "GPU", "VRAM", "$/HOUR"]
    assert "1001" in out
    assert "1004" not in out  # one direct port: not enough for the server and SSH

    code, out, _ = run(capsys, "offers", "--model", MODEL, "--json", "--max-price", "0.5")
    rows = json.loads(out)
    assert code == 0
    assert rows
    assert all(r["dph_total"] <= 0.5 for r in rows)
    assert [r["dph_total"] for r in rows] == sorted(r["dph_total"] for r in rows)


def test_status_of_running_stopped_and_lost_record(
    env: FakeVast, capsys: pytest.CaptureFixture[str]
) -> None:
    instance_id = running(env)
    cert = self_signed(ip="127.0.0.1")
    created = datetime.now(UTC) - timedelta(hours=1)
    records().save(record_for(instance_id, cert.cert_pem, created_at=created))

    code, out, err = run(capsys, "status", "--json")
    data = json.loads(out)
    assert code == 0, err
    assert data["instance_id"] == instance_id
    assert data["state"] == "running"
    assert data["has_record"] is True
    assert data["url"].startswith("https://127.0.0.1:")
    assert data["cost_so_far"] == pytest.approx(0.35, rel=0.05)
    assert data["server"]["reachable"] is False  # nothing listens behind the fake's port

    code, out, _ = run(capsys, "stop")
    env.advance_until(instance_id, "exited")
    code, out, _ = run(capsys, "status")
    assert code == 0
    assert f"instance {instance_id}" in out
    assert ": stopped" in out

    records().remove(instance_id)
    code, out, _ = run(capsys, "status")
    assert code == 0
    assert "found by its hark- label" in out


def test_stop_then_start_gives_the_new_ports_to_the_record(
    env: FakeVast, capsys: pytest.CaptureFixture[str]
) -> None:
    instance_id = running(env)
    first = env.instance(instance_id).ports
    assert first is not None
    first_port = int(first[f"{SERVER_PORT}/tcp"][0]["HostPort"])
    cert = self_signed(ip="127.0.0.1")
    records().save(
        record_for(instance_id, cert.cert_pem, created_at=datetime.now(UTC), port=first_port)
    )

    code, _, err = run(capsys, "stop", str(instance_id))
    assert code == 0, err
    assert "stopped" in err
    assert env.instance(instance_id).intended_status == "stopped"
    env.advance_until(instance_id, "exited")

    code, out, err = run(capsys, "start", "--poll", "0", "--timeout", "30")
    assert code == 0, err
    now = env.instance(instance_id).ports
    assert now is not None
    new_port = int(now[f"{SERVER_PORT}/tcp"][0]["HostPort"])
    assert new_port != first_port
    saved = records().get(instance_id)
    assert saved is not None
    assert saved.port == new_port
    assert out.strip() == f"https://127.0.0.1:{new_port}"


def test_destroy_asks_then_removes_instance_and_record(
    env: FakeVast, capsys: pytest.CaptureFixture[str]
) -> None:
    instance_id = running(env)
    records().save(record_for(instance_id, self_signed().cert_pem, created_at=datetime.now(UTC)))

    code, _, err = run(capsys, "destroy")  # no terminal to ask on: refused
    assert code == 1
    assert "--yes" in err
    assert [i.id for i in env.live_instances()] == [instance_id]

    code, _, err = run(capsys, "destroy", "--yes")
    assert code == 0, err
    assert "destroyed" in err
    assert env.live_instances() == []
    assert records().all() == []


def test_logs_prints_the_instance_log(env: FakeVast, capsys: pytest.CaptureFixture[str]) -> None:
    instance_id = running(env)
    env.set_logs(instance_id, "pulling llama3.2:3b 100%\nHark server ready")
    code, out, err = run(capsys, "logs", str(instance_id), "--tail", "5")
    assert code == 0, err
    assert out.splitlines()[-1] == "Hark server ready"


def test_a_refused_key_exits_2_with_the_auth_message(
    env: FakeVast, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "status", "--all", "--api-key", "not-a-valid-key")
    assert code == 2
    assert "API key was refused" in err
    assert "not-a-valid-key" not in err
    assert keyring.get_password(KEYRING_SERVICE, "vast-api-key") is None


def test_no_key_anywhere_says_where_to_put_one(
    env: FakeVast, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("VAST_API_KEY")
    code, _, err = run(capsys, "status")
    assert code == 2
    assert "--api-key" in err
    assert "VAST_API_KEY" in err


def test_api_key_is_kept_in_the_keyring_after_first_use_and_never_printed(
    env: FakeVast, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("VAST_API_KEY")
    instance_id = running(env)
    assert keyring.get_password(KEYRING_SERVICE, "vast-api-key") is None

    code, out, err = run(capsys, "status", "--all", "--api-key", KEY)
    assert code == 0, err
    assert str(instance_id) in out
    assert KEY not in out + err
    assert keyring.get_password(KEYRING_SERVICE, "vast-api-key") == KEY

    code, out, err = run(capsys, "status", "--json")  # no flag, no env: the keyring
    assert code == 0, err
    assert json.loads(out)["instance_id"] == instance_id
    assert KEY not in out + err


# --- deploy ------------------------------------------------------------------------------------


def _joined(env: dict[str, str], prefix: str) -> bytes:
    parts = sorted(
        (int(k.rsplit("_", 1)[1]), v) for k, v in env.items() if k.startswith(prefix + "_")
    )
    return base64.b64decode("".join(v for _, v in parts))


class Servers:
    """Plays the GPU box: when the fake runs an instance, a TLS server with the certificate,
    key and API key the deployer sent starts on loopback and answers /healthz and /status."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.stack = ExitStack()
        self.started: list[int] = []

    def __call__(self, inst: FakeInstance) -> dict[int, int]:
        api_key = inst.env["HARK_API_KEY"]
        cert = self.folder / f"{inst.id}.pem"
        key = self.folder / f"{inst.id}.key"
        cert.write_bytes(_joined(inst.env, "HARK_TLS_CERT_B64"))
        key.write_bytes(_joined(inst.env, "HARK_TLS_KEY_B64"))
        model = inst.env["HARK_LLM_MODEL"]

        async def healthz(request: Request) -> JSONResponse:
            return JSONResponse({"status": "ok"})

        async def status(request: Request) -> JSONResponse:
            if request.headers.get("authorization") != f"Bearer {api_key}":
                return JSONResponse({"error": {"code": "unauthorized"}}, status_code=401)
            return JSONResponse(
                {
                    "last_request_s_ago": None,
                    "ollama": {"reachable": True, "models": [model]},
                    "provisioning": {"state": "ready", "detail": None, "progress": None},
                }
            )

        app = Starlette(routes=[Route("/healthz", healthz), Route("/status", status)])
        url = self.stack.enter_context(serve(app, cert, key))
        self.started.append(inst.id)
        return {SERVER_PORT: int(url.rsplit(":", 1)[1])}


@pytest.fixture
def servers(env: FakeVast, tmp_path: Path) -> Iterator[Servers]:
    boxes = Servers(tmp_path)
    env.on_running = boxes
    with boxes.stack:
        yield boxes


def test_deploy_yes_brings_up_a_pinned_server_end_to_end(
    env: FakeVast, servers: Servers, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "deploy", "--yes", "--model", MODEL, "--json", *FAST)
    assert code == 0, err
    data = json.loads(out)
    assert [i.id for i in env.live_instances()] == servers.started == [data["instance_id"]]
    assert data["state"] == "ready"
    assert "[ready]" in err
    assert "HARK_REMOTE__URL=" + data["url"] in err
    assert Path(data["ca_cert"]).read_text(encoding="ascii").startswith("-----BEGIN CERTIFICATE")
    server_key = keyring.get_password(KEYRING_SERVICE, "server-api-key")
    assert server_key
    assert server_key not in out + err

    code, out, err = run(capsys, "status", "--json")
    status = json.loads(out)
    assert code == 0, err
    assert status["state"] == "running"
    assert status["server"]["ready"] is True
    assert status["server"]["model_pulled"] is True


def test_deploy_without_yes_and_without_a_terminal_rents_nothing(
    env: FakeVast, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "deploy", "--model", MODEL, *FAST)
    assert code == 1
    assert "nothing rented" in err
    assert env.instances == {}


def _interrupt(inst: FakeInstance) -> None:
    """Ctrl-C, delivered the real way while the deploy waits for the instance to run."""
    os.kill(os.getpid(), signal.SIGINT)


@pytest.mark.parametrize("keep", [False, True])
def test_ctrl_c_during_deploy_leaves_no_orphan_unless_kept(
    env: FakeVast, capsys: pytest.CaptureFixture[str], keep: bool
) -> None:
    env.on_running = _interrupt
    code, _, err = run(
        capsys, "deploy", "--yes", "--model", MODEL, *FAST, *(["--keep"] if keep else [])
    )
    assert code == 130
    assert len(env.instances) == 1
    if keep:
        [kept] = env.live_instances()
        assert f"instance {kept.id} is left" in err
        assert [(d.instance_id, d.state) for d in records().all()] == [(kept.id, "failed")]
    else:
        assert env.live_instances() == []
        assert records().all() == []
        assert "nothing Hark created is left" in err
