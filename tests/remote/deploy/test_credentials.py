"""The new server's secrets, the environment that carries them, and the onstart bootstrap.

The environment is checked against the real start-up script (``remote/image/onstart.sh``,
sourced by bash): what the deployer sends is exactly what the GPU box writes to its files.
"""

from __future__ import annotations

import base64
import os
import stat
import subprocess
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from remote.deploy.bootstrap import bootstrap_script
from remote.deploy.credentials import Credentials, instance_env, make_credentials
from remote.deploy.vast_models import MAX_ENV_VALUE, MAX_ONSTART, validate_create
from remote.server.tls import fingerprint_sha256

REPO = Path(__file__).resolve().parents[3]
ONSTART = REPO / "remote" / "image" / "onstart.sh"


@pytest.fixture(scope="module")
def creds() -> Credentials:
    return make_credentials(host_hint="203.0.113.9")


def _join(env: dict[str, str], prefix: str) -> bytes:
    parts, i = [], 0
    while f"{prefix}_{i}" in env:
        parts.append(env[f"{prefix}_{i}"])
        i += 1
    return base64.b64decode("".join(parts))


def test_credentials_are_a_random_key_and_a_pinnable_leaf(creds: Credentials) -> None:
    cert = x509.load_pem_x509_certificate(creds.cert_pem.encode())
    basic = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert basic.ca is False
    assert cert.issuer == cert.subject
    key = serialization.load_pem_private_key(creds.key_pem.encode(), password=None)
    spki = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert key.public_key().public_bytes(*spki) == cert.public_key().public_bytes(*spki)
    assert creds.fingerprint == fingerprint_sha256(creds.cert_pem)
    assert len(creds.api_key) >= 32
    other = make_credentials()
    assert other.api_key != creds.api_key
    assert other.cert_pem != creds.cert_pem


def test_repr_never_shows_the_secrets(creds: Credentials) -> None:
    text = repr(creds)
    assert creds.api_key not in text
    assert "PRIVATE KEY" not in text
    assert "CERTIFICATE" not in text


def test_instance_env_fits_vast_limits_and_round_trips(creds: Credentials) -> None:
    env = instance_env(
        creds, model="llama3.2:3b", whisper_model="base.en", port=9443, hark_version="0.1.0"
    )
    validate_create(env, [9443], "true", "hark-x")  # raises on any broken limit
    assert all(len(v) <= MAX_ENV_VALUE for v in env.values())
    assert env["HARK_API_KEY"] == creds.api_key
    assert env["HARK_LLM_MODEL"] == "llama3.2:3b"
    assert env["HARK_WHISPER_MODEL"] == "base.en"
    assert env["HARK_PORT"] == "9443"
    assert env["HARK_VERSION"] == "0.1.0"
    assert "HARK_TLS_CERT_B64_1" in env  # a certificate needs more than one value
    assert _join(env, "HARK_TLS_CERT_B64").decode() == creds.cert_pem
    assert _join(env, "HARK_TLS_KEY_B64").decode() == creds.key_pem


def test_optional_values_are_left_out(creds: Credentials) -> None:
    env = instance_env(creds, model="m")
    assert "HARK_WHISPER_MODEL" not in env
    assert "HARK_VERSION" not in env
    assert env["HARK_PORT"] == "8443"


def test_the_real_start_up_script_writes_the_secrets_it_was_sent(
    creds: Credentials, tmp_path: Path
) -> None:
    env = instance_env(creds, model="llama3.2:3b")
    home = tmp_path / "hark"
    result = subprocess.run(
        ["bash", "-c", 'source "$1"; write_secrets; env', "bash", str(ONSTART)],
        env={"PATH": os.environ["PATH"], "HOME": str(tmp_path), "HARK_HOME": str(home), **env},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    secrets = home / "secrets"
    assert (secrets / "api-keys").read_text().strip() == creds.api_key
    assert (secrets / "tls.pem").read_text() == creds.cert_pem
    assert (secrets / "tls.key").read_text() == creds.key_pem
    assert stat.S_IMODE((secrets / "tls.key").stat().st_mode) == 0o600
    # ...and no child of the script sees them any more
    assert creds.api_key not in result.stdout
    assert "HARK_TLS_KEY_B64" not in result.stdout


# --- the bootstrap (Vast.ai's onstart) ----------------------------------------------------------


def test_bootstrap_fits_and_is_valid_bash(tmp_path: Path) -> None:
    text = bootstrap_script("0.1.0")
    assert len(text) <= MAX_ONSTART
    script = tmp_path / "boot.sh"
    script.write_text(text)
    result = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "hark-assistant[server]==" in text
    assert "set -x" not in text
    with pytest.raises(ValueError, match="4096"):
        bootstrap_script("x" * MAX_ONSTART)


def test_the_start_up_script_ships_in_the_package() -> None:
    import importlib.resources

    shipped = importlib.resources.files("remote") / "image" / "onstart.sh"
    assert shipped.is_file()
    assert "write_secrets" in shipped.read_text()


def _wait_for(path: Path, deadline_s: float = 10.0) -> str:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if path.is_file() and path.read_text().endswith("END\n"):
            return path.read_text()
        os.sched_yield()
    raise AssertionError(f"{path} was not written")


def _stub_venv(venv: Path, script: Path) -> None:
    """A venv whose python answers the bootstrap's question with ``script``."""
    (venv / "bin").mkdir(parents=True)
    python = venv / "bin" / "python"
    python.write_text(f"#!/bin/sh\necho {script}\n")
    python.chmod(0o755)


def _stub_script(tmp_path: Path, out: Path) -> Path:
    script = tmp_path / "onstart.sh"
    script.write_text(
        f'#!/bin/bash\n{{ echo "key=$HARK_API_KEY"; echo "version=$HARK_VERSION"; '
        f'echo "venv=$HARK_VENV"; echo END; }} > {out}\n'
    )
    return script


def test_bootstrap_runs_the_shipped_script_with_the_environment(tmp_path: Path) -> None:
    """Installed already (a restart): no install, the script starts with the same env."""
    home, out = tmp_path / "home", tmp_path / "out.txt"
    venv = home / "venv"
    _stub_venv(venv, _stub_script(tmp_path, out))
    (venv / ".hark-requirement").write_text("hark-assistant[server]==0.1.0")
    boot = tmp_path / "boot.sh"
    boot.write_text(bootstrap_script("0.1.0"))
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "HARK_HOME": str(home),
        "HARK_API_KEY": "k-123",
    }
    result = subprocess.run(
        ["bash", str(boot)], env=env, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    text = _wait_for(out)
    assert "key=k-123" in text
    assert "version=0.1.0" in text
    assert f"venv={venv}" in text
    assert "k-123" not in (home / "logs" / "onstart.log").read_text()


def test_bootstrap_installs_the_pinned_requirement_with_uv(tmp_path: Path) -> None:
    home, out, tools = tmp_path / "home", tmp_path / "out.txt", tmp_path / "tools"
    script = _stub_script(tmp_path, out)
    tools.mkdir()
    calls = tmp_path / "uv-calls.txt"
    uv = tools / "uv"
    # A stand-in uv: records its arguments; `uv venv DIR` makes a venv that knows the script.
    uv.write_text(
        "#!/bin/bash\n"
        f'echo "$*" >> {calls}\n'
        'if [[ $1 == venv ]]; then d="${@: -1}"; mkdir -p "$d/bin"; '
        f'printf "#!/bin/sh\\necho {script}\\n" > "$d/bin/python"; chmod +x "$d/bin/python"; fi\n'
    )
    uv.chmod(0o755)
    boot = tmp_path / "boot.sh"
    boot.write_text(bootstrap_script("0.1.0"))
    env = {
        "PATH": f"{tools}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "HARK_HOME": str(home),
        "HARK_API_KEY": "k",
        "HARK_VERSION": "hark-assistant[server] @ git+https://x/y@v1",
    }
    result = subprocess.run(
        ["bash", str(boot)], env=env, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    _wait_for(out)
    lines = calls.read_text().splitlines()
    assert lines[0].startswith("venv ")
    assert "--python 3.12" in lines[0]
    assert lines[1].startswith("pip install")
    assert lines[1].endswith("hark-assistant[server] @ git+https://x/y@v1")


def test_the_idle_stop_travels_to_the_server() -> None:
    from remote.deploy.credentials import instance_env, make_credentials

    creds = make_credentials()
    env = instance_env(creds, model="llama3.1:8b", idle_stop_minutes=30)
    assert env["HARK_SERVER__IDLE_STOP_MINUTES"] == "30"
    assert "HARK_SERVER__IDLE_STOP_MINUTES" not in instance_env(creds, model="llama3.1:8b")
