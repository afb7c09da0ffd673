"""The GPU box for real: FakeVast's instances run the onstart text the deployer sent, with bash.

Where :class:`tests.remote.deploy.box.HarkBox` plays a box in Python, :class:`ScriptBox` is
the box: when FakeVast starts an instance, the exact ``onstart`` of the create runs in a
sandbox folder (the instance's "disk": ``HOME`` and ``HARK_HOME`` redirected), with the
instance's environment plus what Vast.ai and the machine add. So the real
``remote/image/boxboot.py`` takes the secrets and Hark's code, the real ``onstart.sh`` from
that wheel installs the locked dependencies with hashes required and starts the real
``hark server`` (Caddy + uvicorn), Ollama, the model pull and the boot steps.

Stand-ins only for what needs the internet or a GPU:

- ``ollama``: the test suite's fake Ollama as an executable on ``PATH``
  (:mod:`tests.fakes.ollama_bin`; ``ollama serve`` and the pull's real progress);
- the package index: ``HARK_PIP_ARGS`` points pip at the local wheelhouse (``--no-index``);
- no ``nvidia-smi``: the box runs Whisper tiny.en on the CPU (``HARK_WHISPER_MODEL``).

Docker's port mapping is played by giving the box the host port itself (``HARK_PORT``), bound
to 127.0.0.1 only (``HARK_BIND``). The venv is shared by every box of a test session
(``HARK_VENV``), as a host's image cache would be, so only the first box installs the locked
dependencies; each box still installs its own Hark wheel. A stop kills the box's process
group; the disk stays, so a start runs the onstart again on it (a restart).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from tests.fakes.ollama_bin import write_ollama_stub
from tests.fakes.vast import FakeInstance, FakeVast
from tests.remote.image.wheelhouse import offline_pip_env, wheelhouse
from tests.support.servers import free_port

INSTANCE_KEY = "vast-instance-key-for-tests-0123456789"
"""What the fake machine puts in CONTAINER_API_KEY."""


class ScriptBox:
    """Runs each instance's real onstart; see the module docstring."""

    def __init__(
        self,
        workdir: Path,
        venv: Path,
        *,
        pip_args: str | None = None,
        fake: FakeVast | None = None,
    ) -> None:
        self.workdir = workdir
        self.fake = fake
        """When given, what a box prints is also its instance's log there (`hark remote logs`)."""
        self.venv = venv
        self.pip_args = pip_args or f"--no-index --find-links {wheelhouse()}"
        self.bin = write_ollama_stub(workdir / "machine-bin").parent
        self.procs: dict[int, subprocess.Popen[bytes]] = {}
        self.ports: dict[int, int] = {}
        self.extra_env: dict[str, str] = {}
        """Added to every box's environment (a test's own knobs)."""
        self._lock = threading.Lock()
        self._printed = threading.Condition(self._lock)
        self._readers: list[threading.Thread] = []

    def disk(self, instance_id: int) -> Path:
        """The instance's persistent disk (``/workspace``)."""
        return self.workdir / str(instance_id) / "workspace"

    def home(self, instance_id: int) -> Path:
        return self.disk(instance_id) / "hark"

    def log(self, instance_id: int) -> str:
        """What the instance's onstart printed (Vast.ai's instance log)."""
        path = self.workdir / str(instance_id) / "console.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def wait_for(self, instance_id: int, text: str, count: int = 1, timeout: float = 90) -> None:
        """Wait until the box has printed ``text`` ``count`` times (woken by each line)."""

        def seen() -> bool:
            log = self.log(instance_id)
            return log.count(text) >= count or (text != "FAILED:" and "FAILED:" in log)

        with self._printed:
            if (
                not self._printed.wait_for(seen, timeout)
                or self.log(instance_id).count(text) < count
            ):
                raise AssertionError(
                    f"box {instance_id} did not print {text!r} ×{count}:\n"
                    + self.log(instance_id)[-3000:]
                )

    def _copy(self, stream: IO[bytes], path: Path, inst: FakeInstance) -> None:
        with path.open("ab") as console:
            for line in stream:
                console.write(line)
                console.flush()
                if self.fake is not None:
                    inst.logs.append(line.decode(errors="replace").rstrip("\n"))
                with self._printed:
                    self._printed.notify_all()

    def env_for(self, inst: FakeInstance, port: int) -> dict[str, str]:
        base = offline_pip_env()
        env = {k: v for k, v in inst.env.items() if k.isidentifier()}
        home = self.workdir / str(inst.id) / "root"
        home.mkdir(parents=True, exist_ok=True)
        env.update(
            {
                "PATH": f"{self.bin}:{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
                "HOME": str(home),
                "LANG": "C.UTF-8",
                "PIP_CONFIG_FILE": base["PIP_CONFIG_FILE"],
                "HARK_HOME": str(self.home(inst.id)),
                "HARK_PORT": str(port),
                "HARK_BIND": "127.0.0.1",
                "HARK_VENV": str(self.venv),
                "HARK_PIP_ARGS": self.pip_args,
                "HARK_PYTHON": os.path.realpath(getattr(sys, "_base_executable", sys.executable)),
                "HARK_CUDA_LIBS": "no",
                "OLLAMA_ADDR": f"127.0.0.1:{free_port()}",
                "OLLAMA_MODELS": str(self.disk(inst.id) / "ollama"),
                "CONTAINER_ID": str(inst.id),
                "CONTAINER_API_KEY": INSTANCE_KEY,
                "HARK_SERVER__RATE_LIMIT_PER_MINUTE": "0",
                "HARK_SERVER__WHISPER_CPU_THREADS": "1",
            }
        )
        env.update(self.extra_env)
        return env

    def on_running(self, inst: FakeInstance) -> dict[int, int]:
        """FakeVast's hook: run the instance's onstart in its sandbox; its port is ours."""
        assert inst.onstart, "the deployer sent no onstart"
        port = free_port()
        folder = self.workdir / str(inst.id)
        folder.mkdir(parents=True, exist_ok=True)
        script = folder / "onstart.sh"
        script.write_text(inst.onstart)
        proc = subprocess.Popen(
            ["bash", str(script)],
            env=self.env_for(inst, port),
            cwd=folder,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        assert proc.stdout is not None
        reader = threading.Thread(
            target=self._copy, args=(proc.stdout, folder / "console.log", inst), daemon=True
        )
        reader.start()
        with self._lock:
            self._readers.append(reader)
            self.procs[inst.id] = proc
            self.ports[inst.id] = port
        return {int(inst.env.get("HARK_PORT", "8443")): port}

    def on_stopped(self, inst: FakeInstance) -> None:
        """FakeVast's hook: the machine stops, every process of the box with it."""
        with self._lock:
            proc = self.procs.pop(inst.id, None)
        if proc is not None:
            _kill_group(proc)

    def pids(self, instance_id: int) -> list[int]:
        """Every process of the box that is still alive (its process group)."""
        proc = self.procs.get(instance_id)
        if proc is None:
            return []
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                if int(stat[2]) == proc.pid:  # field 5: the process group
                    found.append(int(entry.name))
        return found

    def close(self) -> None:
        with self._lock:
            procs = list(self.procs.values())
            self.procs.clear()
        for proc in procs:
            _kill_group(proc)
        for reader in self._readers:
            reader.join(timeout=10)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 15)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=wait)
            # the group may outlive its leader for a moment: make sure it is gone
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            break
        except subprocess.TimeoutExpired:
            continue


@contextmanager
def attached_script_box(fake: FakeVast, folder: Path, venv: Path) -> Iterator[ScriptBox]:
    """A ScriptBox that runs every instance ``fake`` starts (and stops), closed at the end."""
    box = ScriptBox(folder, venv, fake=fake)
    fake.on_running = box.on_running
    fake.on_stopped = box.on_stopped
    try:
        yield box
    finally:
        fake.on_running = fake.on_stopped = None
        box.close()
