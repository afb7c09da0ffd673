"""The box's bootstrap (``remote/image/boxboot.py``) and the onstart that carries it.

Its functions run in this process (the module is loaded from its file, with its folders
pointed into a temporary one); its whole start runs as a real process, and the onstart text
the deployer sends runs with bash. The full path — upload, install, serve — is in
``tests/remote/deploy/test_box_scripts.py``.
"""

from __future__ import annotations

import base64
import gzip
import importlib.util
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from remote.deploy.bootstrap import MAX_ONSTART_CHARS, bootstrap_script, packed_boxboot
from remote.server.provisioning import parse_state
from remote.tls import env_chunks, make_self_signed

BOXBOOT = Path(__file__).resolve().parents[3] / "remote" / "image" / "boxboot.py"


@pytest.fixture
def boxboot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """The bootstrap as a module; what it adds to ``os.environ`` is undone afterwards."""
    saved = dict(os.environ)
    spec = importlib.util.spec_from_file_location("boxboot_under_test", BOXBOOT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    home = tmp_path / "hark"
    for name, path in {
        "HOME": home,
        "S": home / "secrets",
        "CODE": home / "code",
        "ETC": tmp_path / "etc-environment",
    }.items():
        monkeypatch.setattr(module, name, path)
    for folder in (home / "secrets", home / "code", home / "logs"):
        folder.mkdir(parents=True)
    for name in list(os.environ):
        if name.startswith(("HARK_", "CONTAINER_")):
            monkeypatch.delenv(name)
    yield module
    os.environ.clear()
    os.environ.update(saved)


def test_the_secrets_go_into_private_files(
    boxboot: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    cert_pem, key_pem = make_self_signed(["127.0.0.1"])
    env = {
        "HARK_API_KEY": "k" * 40 + ",second-key-0123456789",
        "CONTAINER_API_KEY": "vast-key-123",
        **env_chunks("HARK_TLS_CERT_B64", cert_pem),
        **env_chunks("HARK_TLS_KEY_B64", key_pem),
    }
    assert len([k for k in env if k.startswith("HARK_TLS_KEY_B64_")]) > 1
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    boxboot.secrets_to_files()
    secrets = boxboot.S
    assert (secrets / "api-keys").read_text() == "k" * 40 + "\nsecond-key-0123456789\n"
    assert (secrets / "vast-instance-key").read_text() == "vast-key-123\n"
    assert (secrets / "tls.pem").read_bytes() == cert_pem
    assert (secrets / "tls.key").read_bytes() == key_pem
    for name in ("api-keys", "vast-instance-key", "tls.key"):
        assert (secrets / name).stat().st_mode & 0o777 == 0o600
    # ...and the environment the box goes on with has none of them
    clean = boxboot.clean_env()
    assert not [k for k in clean if k in env]
    assert all(v not in clean.values() for v in env.values())


def test_etc_environment_is_read_as_data_and_never_run(boxboot: ModuleType, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    boxboot.ETC.write_text(
        "# the instance's variables, as Vast.ai writes them for SSH sessions\n"
        'HARK_API_KEY="key-from-etc-environment-1234"\n'
        "export HARK_PORT=9443\n"
        f"HARK_LLM_MODEL=$(touch {marker})\n"
        f"PATH=/nowhere\n"
        "CONTAINER_API_KEY='vast-key-xyz'\n"
        "not a line of variables\n"
    )
    boxboot.secrets_to_files()
    assert (boxboot.S / "api-keys").read_text() == "key-from-etc-environment-1234\n"
    assert (boxboot.S / "vast-instance-key").read_text() == "vast-key-xyz\n"
    assert os.environ["HARK_PORT"] == "9443"
    assert os.environ["HARK_LLM_MODEL"] == f"$(touch {marker})"  # a value, not a command
    assert not marker.exists()
    assert os.environ["PATH"] != "/nowhere"  # only Hark's, Vast.ai's and Ollama's names


def test_broken_key_chunks_fail_with_a_state_the_deployer_can_show(
    boxboot: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HARK_API_KEY", "k" * 40)
    monkeypatch.setenv("HARK_TLS_KEY_B64_0", "not*base64!")
    with pytest.raises(SystemExit):
        boxboot.secrets_to_files()
    status = parse_state((boxboot.HOME / "state.json").read_text())
    assert status.state == "failed"
    assert status.detail == "HARK_TLS_KEY_B64_* is not base64"
    assert not (boxboot.S / "tls.key").exists()
    assert "not*base64!" not in (boxboot.HOME / "logs" / "onstart.log").read_text()


def test_a_start_without_a_code_hash_fails_after_forgetting_the_secrets(tmp_path: Path) -> None:
    home = tmp_path / "hark"
    env = {"PATH": "/usr/bin:/bin", "HARK_HOME": str(home), "HARK_API_KEY": "k" * 40}
    result = subprocess.run(
        [sys.executable, str(BOXBOOT)], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert "FAILED: no HARK_CODE_SHA256" in result.stderr
    assert (home / "secrets" / "api-keys").read_text() == "k" * 40 + "\n"
    status = json.loads((home / "state.json").read_text())
    assert status == {"state": "failed", "detail": "no HARK_CODE_SHA256"}
    assert "k" * 40 not in result.stderr + (home / "logs" / "onstart.log").read_text()


def test_the_onstart_fits_vast_and_carries_boxboot_as_it_is() -> None:
    text = bootstrap_script()
    assert len(text) <= MAX_ONSTART_CHARS == 4048
    assert "hark-assistant" not in text
    assert "pip" not in text
    assert "set -x" not in text
    payload = re.search(r"<<'E'\|gzip -dc >\$d/boxboot.py\n(.*)\nE\n", text, re.S)
    assert payload is not None
    carried = gzip.decompress(base64.b64decode(payload[1].replace("\n", "")))
    assert carried == packed_boxboot()
    compile(carried, "boxboot.py", "exec")
    # the same program: every function and class of the file, no docstring
    names = set(re.findall(r"^(?:def|class) (\w+)", BOXBOOT.read_text(), re.M))
    assert names == set(re.findall(r"^(?:def|class) (\w+)", carried.decode(), re.M))
    assert '"""' not in carried.decode()


def test_the_onstart_unpacks_and_runs_the_bootstrap_with_bash(tmp_path: Path) -> None:
    home = tmp_path / "hark"
    script = tmp_path / "onstart.sh"
    script.write_text(bootstrap_script())
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "HARK_HOME": str(home),
        "HARK_PYTHON": sys.executable,
    }
    result = subprocess.run(
        ["bash", str(script)], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert "FAILED: no HARK_API_KEY" in result.stderr
    assert (home / "bin" / "boxboot.py").read_bytes() == packed_boxboot()


def test_an_image_without_python_311_is_told_so(tmp_path: Path) -> None:
    script = tmp_path / "onstart.sh"
    script.write_text(bootstrap_script())
    empty = tmp_path / "no-python"
    empty.mkdir()
    for tool in ("base64", "gzip", "mkdir", "cat"):
        found = subprocess.run(["which", tool], capture_output=True, text=True).stdout.strip()
        (empty / tool).symlink_to(found)
    result = subprocess.run(
        ["/bin/bash", str(script)],
        env={"PATH": str(empty), "HARK_HOME": str(tmp_path / "hark")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "no Python 3.11+ on this image" in result.stderr
