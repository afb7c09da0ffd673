"""The GPU box's start-up script: lint, and its functions run for real by bash.

The script is sourced (sourcing runs nothing) and one function is called with the
environment a test gives it, the way the box's host passes values.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from app.shared.protocol import Provisioning
from remote.server.provisioning import parse_state
from tests.remote.edge.procs import alive

REPO = Path(__file__).resolve().parents[3]
SCRIPT = REPO / "remote" / "image" / "onstart.sh"


def call(
    function: str, *args: str, env: dict[str, str], timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    """Source the script and run one of its functions in a clean bash."""
    base = {"PATH": os.environ["PATH"], "HOME": os.environ["HOME"], "PY": sys.executable}
    return subprocess.run(
        ["bash", "-c", 'source "$1"; shift; "$@"', "bash", str(SCRIPT), function, *args],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_script_is_valid_bash():
    result = subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert os.access(SCRIPT, os.X_OK)


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed")
def test_script_passes_shellcheck():
    result = subprocess.run(["shellcheck", str(SCRIPT)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_script_never_traces_commands():
    code = [line.strip() for line in SCRIPT.read_text().splitlines()]
    code = [line for line in code if line and not line.startswith("#")]
    assert "set -euo pipefail" in code
    assert not [line for line in code if "set -x" in line or "xtrace" in line]


def test_sourcing_runs_nothing(tmp_path: Path):
    result = call("true", env={"HARK_HOME": str(tmp_path / "home")})
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "home").exists()


def test_missing_secrets_fail_with_a_state_the_server_can_show(tmp_path: Path):
    home = tmp_path / "hark"
    result = call("check_secrets", env={"HARK_HOME": str(home), "PY3": "false"})
    assert result.returncode == 1
    status = parse_state((home / "state.json").read_text())
    assert status.state == Provisioning.FAILED
    assert status.detail == "no API key: the instance needs HARK_API_KEY"


def test_write_state_is_read_by_the_server(tmp_path: Path):
    state = tmp_path / "state.json"
    env = {"STATE_FILE": str(state), "HARK_LLM_MODEL": "llama3.1:8b"}
    result = call("write_state", "pulling-model", 'pulling "llama3.1:8b"\\now', "0.25", env=env)
    assert result.returncode == 0, result.stderr
    status = parse_state(state.read_text())
    assert status.state == Provisioning.PULLING_MODEL
    assert status.detail == 'pulling "llama3.1:8b"\\now'
    assert status.progress == 0.25
    assert status.model == "llama3.1:8b"
    assert state.stat().st_mode & 0o777 == 0o644  # the server may run as another user


class FakePull:
    """Ollama's ``/api/show`` and ``/api/pull`` (NDJSON progress), with a gate mid-pull."""

    def __init__(self, lines: list[dict[str, object]], *, present: bool = False) -> None:
        self.lines = lines
        self.present = present
        self.gate = threading.Event()
        self.gate_at = 3
        self.calls: list[str] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.calls.append(f"{self.path} {body['model']}")
                if self.path == "/api/show":
                    status = 200 if fake.present else 404
                    data = b"{}" if fake.present else b'{"error":"model not found"}'
                    self.send_response(status)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/x-ndjson")
                self.send_header("Connection", "close")
                self.end_headers()
                for i, line in enumerate(fake.lines):
                    if i == fake.gate_at:
                        fake.gate.wait(10)
                    self.wfile.write(json.dumps(line).encode() + b"\n")
                    self.wfile.flush()
                self.close_connection = True

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def addr(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FakePull:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.gate.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


GOOD_PULL: list[dict[str, object]] = [
    {"status": "pulling manifest"},
    {"status": "pulling aaa", "digest": "sha256:aaa", "total": 4000},
    {"status": "pulling aaa", "digest": "sha256:aaa", "total": 4000, "completed": 1000},
    {"status": "pulling aaa", "digest": "sha256:aaa", "total": 4000, "completed": 4000},
    {"status": "pulling bbb", "digest": "sha256:bbb", "total": 1000, "completed": 1000},
    {"status": "verifying sha256 digest"},
    {"status": "writing manifest"},
    {"status": "success"},
]


@pytest.fixture
def pull_env(tmp_path: Path) -> dict[str, str]:
    return {"STATE_FILE": str(tmp_path / "state.json"), "HARK_LLM_MODEL": "llama3.1:8b"}


def test_pull_writes_progress_then_finishes(tmp_path: Path, pull_env: dict[str, str]):
    state = Path(pull_env["STATE_FILE"])
    with FakePull(GOOD_PULL) as fake:
        proc = subprocess.Popen(
            ["bash", "-c", 'source "$1"; pull_model', "bash", str(SCRIPT)],
            env={
                "PATH": os.environ["PATH"],
                "PY": sys.executable,
                "OLLAMA_ADDR": fake.addr,
                **pull_env,
            },
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            # The pull is held at the gate after 1000 of 4000 bytes: the state file says so.
            assert proc.stderr is not None
            assert proc.stderr.readline() == "pulling llama3.1:8b: 25%\n"
            status = parse_state(state.read_text())
            assert status.state == Provisioning.PULLING_MODEL
            assert status.progress == 0.25
            assert status.detail == "pulling llama3.1:8b"
            fake.gate.set()
            assert proc.wait(30) == 0
        finally:
            proc.kill()
            proc.wait()
    final = parse_state(state.read_text())
    assert final.progress == 1.0
    assert final.detail == "pulled llama3.1:8b"
    assert fake.calls == ["/api/show llama3.1:8b", "/api/pull llama3.1:8b"]


def test_a_model_already_here_is_not_pulled(pull_env: dict[str, str]):
    with FakePull(GOOD_PULL, present=True) as fake:
        result = call("pull_model", env={"OLLAMA_ADDR": fake.addr, **pull_env})
    assert result.returncode == 0, result.stderr
    assert fake.calls == ["/api/show llama3.1:8b"]


def test_an_unknown_model_fails_at_once_with_ollamas_reason(pull_env: dict[str, str]):
    lines: list[dict[str, object]] = [
        {"status": "pulling manifest"},
        {"error": "pull model manifest: file does not exist"},
    ]
    with FakePull(lines) as fake:
        fake.gate.set()
        result = call("pull_model", env={"OLLAMA_ADDR": fake.addr, **pull_env})
    assert result.returncode == 1
    status = parse_state(Path(pull_env["STATE_FILE"]).read_text())
    assert status.state == Provisioning.FAILED
    assert status.detail == "could not pull llama3.1:8b: pull model manifest: file does not exist"
    assert fake.calls.count("/api/pull llama3.1:8b") == 1  # no pointless retries


def test_supervise_restarts_a_stopped_command_and_stops_it_on_sigterm(tmp_path: Path):
    stay = tmp_path / "stay"
    # Each run reports to the test's socket whether it stays (it becomes `sleep`) or exits 3.
    worker = (
        'if [ -e "$STAY" ]; then echo "staying $$" > "/dev/tcp/127.0.0.1/$PORT"; '
        "exec sleep 60; fi; "
        'echo "exiting $$" > "/dev/tcp/127.0.0.1/$PORT"; exit 3'
    )
    (tmp_path / "hark" / "logs").mkdir(parents=True)
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        server.settimeout(30)
        env = {
            "PATH": os.environ["PATH"],
            "HARK_HOME": str(tmp_path / "hark"),
            "PORT": str(server.getsockname()[1]),
            "STAY": str(stay),
        }
        script = 'source "$1"; supervise worker bash -c "$2"'
        proc = subprocess.Popen(
            ["bash", "-c", script, "bash", str(SCRIPT), worker],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            first = _report(server)
            assert first[0] == "exiting"
            stay.touch()
            second = _report(server)  # the restart, after the first backoff second
            assert second[0] == "staying"
            sleeper = int(second[1])
            assert alive(sleeper)
            proc.terminate()
            _, err = proc.communicate(timeout=30)
        finally:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
    assert not alive(sleeper)
    assert "worker stopped (status 3" in err
    assert "starting it again in 1s" in err


def _report(server: socket.socket) -> list[str]:
    conn, _ = server.accept()
    with conn, conn.makefile() as f:
        return f.read().split()
