"""The new server's secrets, the environment that carries them, and the onstart bootstrap.

The environment is checked against the real start-up script (``remote/image/onstart.sh``,
sourced by bash): what the deployer sends is exactly what the GPU box writes to its files.
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from remote.deploy.credentials import Credentials, instance_env, make_credentials
from remote.tls import fingerprint_sha256
from remote.vast.models import MAX_ENV_VALUE, validate_create

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
        creds,
        model="llama3.2:3b",
        whisper_model="base.en",
        port=9443,
        code_sha256="ab" * 32,
        code_version="0.1.0",
    )
    validate_create(env, [9443], "true", "hark-x")  # raises on any broken limit
    assert all(len(v) <= MAX_ENV_VALUE for v in env.values())
    assert env["HARK_API_KEY"] == creds.api_key
    assert env["HARK_LLM_MODEL"] == "llama3.2:3b"
    assert env["HARK_WHISPER_MODEL"] == "base.en"
    assert env["HARK_PORT"] == "9443"
    assert env["HARK_CODE_SHA256"] == "ab" * 32
    assert env["HARK_CODE_VERSION"] == "0.1.0"
    assert "HARK_TLS_CERT_B64_1" in env  # a certificate needs more than one value
    assert _join(env, "HARK_TLS_CERT_B64").decode() == creds.cert_pem
    assert _join(env, "HARK_TLS_KEY_B64").decode() == creds.key_pem


def test_optional_values_are_left_out(creds: Credentials) -> None:
    env = instance_env(creds, model="m")
    assert "HARK_WHISPER_MODEL" not in env
    assert "HARK_CODE_SHA256" not in env
    assert env["HARK_PORT"] == "8443"


def test_the_idle_stop_travels_to_the_server() -> None:
    from remote.deploy.credentials import instance_env, make_credentials

    creds = make_credentials()
    env = instance_env(creds, model="llama3.1:8b", idle_stop_minutes=30)
    assert env["HARK_SERVER__IDLE_STOP_MINUTES"] == "30"
    assert "HARK_SERVER__IDLE_STOP_MINUTES" not in instance_env(creds, model="llama3.1:8b")
