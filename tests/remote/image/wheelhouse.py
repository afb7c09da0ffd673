"""The GPU box's dependencies on this machine's disk, so tests install the box offline.

``scripts/setup …,dev`` downloads every file ``remote/image/requirements-server.lock`` needs
for this machine's platform and Python into ``.wheelhouse/`` while PyPI is reachable. Tests
then run the box's real install step against it::

    venv = box_venv(tmp_path / "venv")        # the lock, hash-checked, then Hark --no-deps
    subprocess.run([venv / "bin" / "hark", "server", "--help"], check=True)

A missing or outdated wheelhouse is an error, not a skip: a test that silently did not install
the box would prove nothing.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

from remote.deploy.code import build_wheel
from tests.remote.image.lockfile import REPO, SERVER_LOCK

WHEELHOUSE = REPO / ".wheelhouse"
STAMP = WHEELHOUSE / ".complete"


class WheelhouseMissing(RuntimeError):
    """``.wheelhouse/`` is not there, or was downloaded for another lock or Python."""


def expected_stamp(lock: Path = SERVER_LOCK) -> str:
    """What ``scripts/setup`` writes into ``.wheelhouse/.complete`` when it is done."""
    digest = hashlib.sha256(lock.read_bytes()).hexdigest()
    return f"lock-sha256 {digest}\npython {sys.version_info.major}.{sys.version_info.minor}\n"


def wheelhouse(folder: Path = WHEELHOUSE, lock: Path = SERVER_LOCK) -> Path:
    """The wheelhouse for ``lock`` on this machine; ``WheelhouseMissing`` says how to get it."""
    stamp = folder / STAMP.name
    found = stamp.read_text(encoding="utf-8") if stamp.exists() else None
    if found != expected_stamp(lock):
        state = "is missing" if found is None else "was downloaded for another lock or Python"
        raise WheelhouseMissing(
            f"The GPU box's wheelhouse ({folder}) {state}. Run scripts/setup desktop,server,dev "
            f"where PyPI is reachable: it downloads what {lock.name} needs for this machine."
        )
    return folder


def offline_pip_env() -> dict[str, str]:
    """This environment without pip's settings (no index, no extra find-links, no constraints):
    pip sees only what a command names."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def _pip(python: Path, *args: str | Path, timeout: float = 300) -> None:
    result = subprocess.run(
        [str(python), "-m", "pip", *map(str, args)],
        env=offline_pip_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if result.returncode != 0:
        raise RuntimeError(f"pip {' '.join(map(str, args))} failed:\n{result.stderr[-3000:]}")


def hark_wheel(out: Path) -> Path:
    """Hark's wheel as a deploy sends it (``remote.deploy.code``), written into ``out``."""
    return build_wheel(out).path


def box_venv(target: Path, *, wheel: Path | None = None) -> Path:
    """Install the box into a new venv at ``target`` as ``onstart.sh`` does: the server lock
    with ``--require-hashes`` from the wheelhouse, then Hark's wheel with ``--no-deps``."""
    house = wheelhouse()
    subprocess.run([sys.executable, "-m", "venv", str(target)], check=True, env=offline_pip_env())
    python = target / "bin" / "python"
    offline = ["install", "-q", "--no-index"]
    _pip(python, *offline, "--find-links", house, "--require-hashes", "-r", SERVER_LOCK)
    _pip(python, *offline, "--no-deps", wheel or hark_wheel(target.parent / "hark-wheel"))
    return target
