"""The GPU box, played on loopback: the real Hark server stack for each instance FakeVast starts.

``HarkBox.on_running`` is FakeVast's ``on_running`` hook. It reads the environment the
deployer sent with the instance (the API key, and the certificate + key joined from their
base64 chunks, exactly as ``remote/image/onstart.sh`` would), starts the real stack (Caddy →
uvicorn → ``create_app``) with FakeOllama as its upstream and Whisper tiny.en, and returns
``{8443: <its port>}`` so the fake shows that host port. Provisioning is played through the
server's state file: ``states`` lists what the file says, one entry per ``step()`` (the tests
step it from the deployer's injected sleep). Offers in ``broken_offers`` fail to start (the
fake shows the container as exited); servers on ``stuck_offers`` never finish pulling. Every
stack is stopped by :meth:`close`.

It also holds :func:`make_deployer`, a deployer on simulated time
(:class:`tests.support.clocks.SimClock`).
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from app.settings.secrets import SecretStore
from remote.deploy.code import build_wheel
from remote.deploy.deployer import Deployer
from remote.deploy.options import DeployProgress, DeployTimeouts
from remote.deploy.records import RecordStore
from remote.server.app import create_app
from remote.server.run import check_options
from remote.server.settings import ServerSettings
from remote.tls import write_private
from remote.vast.client import VastClient
from tests.fakes.vast import FakeInstance, FakeVast
from tests.remote.load.edge import START_TIMEOUT_S, stack_in_thread
from tests.support.clocks import SimClock
from tests.support.servers import free_port
from tests.support.speech import WHISPER_THREADS, tiny_en_dir

READY: dict[str, Any] = {"state": "ready", "detail": "ready"}


def joined(env: dict[str, str], prefix: str) -> bytes:
    """``PREFIX_0``, ``PREFIX_1``, … joined and base64-decoded (what onstart.sh does)."""
    parts, i = [], 0
    while f"{prefix}_{i}" in env:
        parts.append(env[f"{prefix}_{i}"])
        i += 1
    return base64.b64decode("".join(parts))


class HarkBox:
    """Real Hark servers for FakeVast's instances; see the module docstring."""

    def __init__(self, workdir: Path, ollama_url: str) -> None:
        self.workdir = workdir
        self.ollama_url = ollama_url
        self.states: list[dict[str, Any]] = [READY]
        self.broken_offers: set[int] = set()
        self.stuck_offers: set[int] = set()
        """Offers whose servers keep pulling their model forever."""
        self.started: dict[int, str] = {}
        """Instance id → the URL of its running server."""
        self.on_start: Callable[[FakeInstance], None] | None = None
        self._state_files: dict[int, tuple[Path, list[dict[str, Any]]]] = {}
        self._stack = ExitStack()
        self._servers: dict[int, ExitStack] = {}
        self._lock = threading.Lock()

    def on_running(self, inst: FakeInstance) -> dict[int, int]:
        if inst.offer.id in self.broken_offers:
            raise RuntimeError("the start-up script failed")
        env = inst.env
        folder = self.workdir / str(inst.id)
        folder.mkdir(parents=True, exist_ok=True)  # a restart reuses the instance's disk
        key_file, cert, key = folder / "api-keys", folder / "tls.pem", folder / "tls.key"
        if not key_file.exists():  # a restart finds them on the instance's disk
            write_private(key_file, (env["HARK_API_KEY"] + "\n").encode())
            cert.write_bytes(joined(env, "HARK_TLS_CERT_B64"))
            write_private(key, joined(env, "HARK_TLS_KEY_B64"))
        state_file = folder / "state.json"
        script = list(self.states)
        if inst.offer.id in self.stuck_offers:
            script = [{"state": "pulling-model", "detail": "pulling (stuck)", "progress": 0.5}]
        state_file.write_text(json.dumps(script.pop(0)))
        settings = ServerSettings(
            api_key_file=key_file,
            ollama_url=self.ollama_url,
            whisper_model=str(tiny_en_dir()),
            whisper_device="cpu",
            whisper_compute_type="int8",
            whisper_cpu_threads=WHISPER_THREADS,
            whisper_idle_unload_s=0,
            rate_limit_per_minute=0,
            access_log=False,
            state_file=state_file,
        )
        options = check_options(
            f"127.0.0.1:{free_port()}",
            key_file,
            tls_cert=cert,
            tls_key=key,
            max_body_bytes=settings.max_upload_bytes,
            startup_timeout_s=START_TIMEOUT_S,
        )
        server = ExitStack()
        url = server.enter_context(stack_in_thread(options, create_app(settings)))
        with self._lock:
            self._stack.callback(server.close)
            self._servers[inst.id] = server
            self.started[inst.id] = url
            self._state_files[inst.id] = (state_file, script)
        if self.on_start is not None:
            self.on_start(inst)
        return {int(env.get("HARK_PORT", "8443")): int(url.rsplit(":", 1)[1])}

    def on_stopped(self, inst: FakeInstance) -> None:
        """FakeVast's ``on_stopped`` hook: the instance's server goes away with it."""
        with self._lock:
            server = self._servers.pop(inst.id, None)
            self.started.pop(inst.id, None)
        if server is not None:
            server.close()

    def step(self) -> None:
        """Every server's state file moves to its next scripted state (if any is left)."""
        with self._lock:
            for path, script in self._state_files.values():
                if script:
                    path.write_text(json.dumps(script.pop(0)))

    def close(self) -> None:
        with self._lock:
            self._stack.close()


@contextmanager
def attached_box(fake: FakeVast, folder: Path, ollama_url: str) -> Iterator[HarkBox]:
    """A HarkBox that plays every instance ``fake`` starts (and stops), closed at the end."""
    box = HarkBox(folder, ollama_url)
    fake.on_running = box.on_running
    fake.on_stopped = box.on_stopped
    try:
        yield box
    finally:
        fake.on_running = fake.on_stopped = None
        box.close()


TIMEOUTS = DeployTimeouts(boot_s=60, address_s=30, tls_s=60, provisioning_s=300, poll_s=5)
"""Short limits (in simulated seconds): a dud is given up after 12 polls of its port."""


def make_deployer(
    vast: VastClient,
    folder: Path,
    clock: SimClock,
    on_progress: Callable[[DeployProgress], None],
    timeouts: DeployTimeouts = TIMEOUTS,
) -> Deployer:
    """A deployer on ``vast`` with records and certificates under ``folder``, simulated time."""
    return Deployer(
        vast,
        RecordStore(folder / "records"),
        SecretStore(env={}),
        on_progress=on_progress,
        sleep=clock.sleep,
        clock=clock,
        timeouts=timeouts,
        cert_dir=folder / "servers",
        code=lambda: build_wheel(folder / "code"),
    )
