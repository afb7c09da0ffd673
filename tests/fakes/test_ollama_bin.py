"""The ``ollama`` stand-in: a real process on a free port, checked with the official client."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import ollama
import pytest

from remote.server.provisioning import parse_state
from tests.fakes.ollama_bin import VERSION, parse_host, progress_line, write_ollama_stub
from tests.remote.edge.procs import alive
from tests.support.servers import free_port

REPO = Path(__file__).resolve().parents[2]
MODEL = "llama3.2:1b"


@dataclass
class Served:
    proc: subprocess.Popen[str]
    env: dict[str, str]
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["ollama", *args], env=self.env, capture_output=True, text=True)

    def stop(self) -> int:
        self.proc.terminate()
        return self.proc.wait(10)


def start(bin_dir: Path, models: Path, **extra: str) -> Served:
    port = free_port()
    env = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "OLLAMA_HOST": f"127.0.0.1:{port}",
        "OLLAMA_MODELS": str(models),
        **extra,
    }
    proc = subprocess.Popen(
        ["ollama", "serve"], env=env, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    assert proc.stderr is not None
    ready = proc.stderr.readline()  # written once the port accepts connections
    assert f"Listening on 127.0.0.1:{port} (version {VERSION})" in ready, ready
    return Served(proc, env, port)


@pytest.fixture
def bin_dir(tmp_path: Path) -> Path:
    return write_ollama_stub(tmp_path / "bin").parent


@pytest.fixture
def served(bin_dir: Path, tmp_path: Path) -> Iterator[Served]:
    server = start(bin_dir, tmp_path / "models", HARK_FAKE_OLLAMA_REFUSE="nosuch:model")
    yield server
    server.proc.kill()
    server.proc.wait()


def test_the_stub_is_an_executable_named_ollama(bin_dir: Path):
    stub = bin_dir / "ollama"
    assert stub.stat().st_mode & 0o111
    assert stub.read_text().startswith(f"#!{sys.executable}\n")


def test_version_and_chat_through_the_official_client(served: Served):
    assert httpx.get(served.url + "/api/version").json() == {"version": VERSION}
    assert served.cli("--version").stdout == f"ollama version is {VERSION}\n"
    client = ollama.Client(host=served.url, timeout=10)
    with pytest.raises(ollama.ResponseError) as caught:
        client.chat(MODEL, messages=[{"role": "user", "content": "hi"}])
    assert caught.value.status_code == 404  # not pulled yet
    progress = list(client.pull(MODEL, stream=True))
    assert progress[0].status == "pulling manifest"
    assert [p.status for p in progress[-3:]] == [
        "verifying sha256 digest",
        "writing manifest",
        "success",
    ]
    layers = [p for p in progress if p.digest]
    assert layers
    assert all(p.digest.startswith("sha256:") and p.total for p in layers)
    assert all(p.status == f"pulling {p.digest[7:19]}" for p in layers)
    assert layers[0].completed is None  # Ollama omits "completed": 0
    assert max(p.completed or 0 for p in layers) == max(p.total or 0 for p in layers)
    reply = client.chat(MODEL, messages=[{"role": "user", "content": "hi"}])
    assert reply.message.content == "You said: hi."
    assert MODEL in [m.model for m in client.list().models]


def test_the_pull_streams_ndjson_lines(served: Served):
    with httpx.stream("POST", served.url + "/api/pull", json={"model": MODEL}) as response:
        assert response.headers["content-type"] == "application/x-ndjson"
        lines = [line for line in response.iter_lines() if line]
    assert lines[0] == '{"status":"pulling manifest"}'
    assert lines[-1] == '{"status":"success"}'
    assert len(lines) == 1 + 2 * 4 + 3


def test_the_cli_pull_prints_the_real_progress_lines(served: Served):
    result = served.cli("pull", MODEL)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "pulling manifest"
    assert lines[-3:] == ["verifying sha256 digest", "writing manifest", "success"]
    full = [line for line in lines if "100% ▕" in line]
    assert len(full) == 2
    assert full[0].endswith("▕██████████████████▏ 4.0 MB")
    assert any(" 25% ▕████     " in line for line in lines)


def test_a_model_the_registry_lacks_fails_like_ollama(served: Served):
    result = served.cli("pull", "nosuch:model")
    assert result.returncode == 1
    assert result.stderr == "Error: pull model manifest: file does not exist\n"


def test_the_box_script_pulls_through_the_stand_in(served: Served, tmp_path: Path):
    state = tmp_path / "state.json"
    script = REPO / "remote" / "image" / "onstart.sh"
    env = {
        "PATH": served.env["PATH"],
        "PY": sys.executable,
        "OLLAMA_ADDR": f"127.0.0.1:{served.port}",
        "STATE_FILE": str(state),
        "HARK_LLM_MODEL": MODEL,
    }
    result = subprocess.run(
        ["bash", "-c", 'source "$1"; pull_model', "bash", str(script)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert parse_state(state.read_text()).detail == f"pulled {MODEL}"


def test_sigterm_stops_it_and_frees_the_port(served: Served):
    pid = served.proc.pid
    assert served.stop() == 0
    assert not alive(pid)
    with (
        pytest.raises(ConnectionRefusedError),
        socket.create_connection(("127.0.0.1", served.port)),
    ):
        pass
    # With no server, --version says so as the real CLI does.
    assert served.cli("--version").stdout == (
        "Warning: could not connect to a running Ollama instance\n"
        f"Warning: client version is {VERSION}\n"
    )


def test_a_restarted_server_still_has_the_pulled_models(bin_dir: Path, tmp_path: Path):
    first = start(bin_dir, tmp_path / "models")
    try:
        assert first.cli("pull", MODEL).returncode == 0
    finally:
        assert first.stop() == 0
    second = start(bin_dir, tmp_path / "models", HARK_FAKE_OLLAMA_MODELS="qwen2.5:0.5b")
    try:
        names = [m["name"] for m in httpx.get(second.url + "/api/tags").json()["models"]]
    finally:
        assert second.stop() == 0
    assert sorted(names) == ["llama3.2:1b", "qwen2.5:0.5b"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, ("127.0.0.1", 11434)),
        ("127.0.0.1:40000", ("127.0.0.1", 40000)),
        ("http://0.0.0.0:8080/", ("0.0.0.0", 8080)),
        ("0.0.0.0", ("0.0.0.0", 11434)),
        (":5000", ("127.0.0.1", 5000)),
    ],
)
def test_ollama_host_is_read_like_the_real_cli(value: str | None, expected: tuple[str, int]):
    assert parse_host(value) == expected


def test_progress_lines_without_a_layer_are_the_status_alone():
    assert progress_line({"status": "pulling manifest"}) == "pulling manifest"
    line = progress_line({"status": "pulling abc", "digest": "sha256:abc", "total": 2_000_000_000})
    assert line == "pulling abc:   0% ▕                  ▏ 2.0 GB"
