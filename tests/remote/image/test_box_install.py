"""The GPU box's install step, for real: the hash-checked lock from the wheelhouse, then Hark's
own wheel with ``--no-deps``, gives a venv whose ``hark server`` runs (about 15 s here)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.remote.image.wheelhouse import (
    WheelhouseMissing,
    box_venv,
    expected_stamp,
    hark_wheel,
    offline_pip_env,
    wheelhouse,
)


@pytest.mark.slow
def test_the_locked_box_runs_hark_server(tmp_path: Path):
    wheel = hark_wheel(tmp_path / "wheel")
    venv = box_venv(tmp_path / "venv", wheel=wheel)
    help_text = subprocess.run(
        [str(venv / "bin" / "hark"), "server", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        env=offline_pip_env(),
    )
    assert help_text.returncode == 0, help_text.stderr
    assert "--api-key-file" in help_text.stdout
    # What `hark server` loads when it starts, and nothing of the desktop's.
    probe = (
        "import importlib.util as u, remote.server.app, faster_whisper, ctranslate2, uvicorn;"
        "print([m for m in ('PySide6', 'sounddevice', 'googleapiclient') if u.find_spec(m)])"
    )
    imports = subprocess.run(
        [str(venv / "bin" / "python"), "-c", probe], capture_output=True, text=True, timeout=60
    )
    assert imports.returncode == 0, imports.stderr
    assert imports.stdout.strip() == "[]"


def test_a_lock_the_wheelhouse_was_not_made_for_is_a_clear_error(tmp_path: Path):
    lock = tmp_path / "requirements-server.lock"
    lock.write_text("fastapi==0.1 --hash=sha256:" + "a" * 64 + "\n")
    with pytest.raises(
        WheelhouseMissing, match=r"is missing\. Run scripts/setup desktop,server,dev"
    ):
        wheelhouse(tmp_path / "none", lock)
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / ".complete").write_text(expected_stamp())  # for the real lock
    with pytest.raises(WheelhouseMissing, match="was downloaded for another lock or Python"):
        wheelhouse(tmp_path / "old", lock)
    (tmp_path / "old" / ".complete").write_text(expected_stamp(lock))
    assert wheelhouse(tmp_path / "old", lock) == tmp_path / "old"
