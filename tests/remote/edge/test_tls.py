"""Certificates for pinning, pair checks, and private files (remote.tls)."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import os
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

from app.shared.errors import ConfigError
from remote.tls import (
    ENV_CHUNK_CHARS,
    CertInfo,
    check_pair,
    env_chunks,
    fingerprint_sha256,
    make_self_signed,
    write_private,
    write_self_signed,
)


def test_self_signed_names_and_use(tmp_path: Path):
    cert_pem, key_pem = make_self_signed(["203.0.113.7", "hark.lan", "::1", "203.0.113.7"])
    cert = x509.load_pem_x509_certificate(cert_pem)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["203.0.113.7", "::1"]
    assert san.get_values_for_type(x509.DNSName) == ["hark.lan"]
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    lifetime = cert.not_valid_after_utc - dt.datetime.now(dt.UTC)
    assert dt.timedelta(days=3649) < lifetime <= dt.timedelta(days=3650)
    key = serialization.load_pem_private_key(key_pem, password=None)
    assert key.public_key() == cert.public_key()


def test_write_self_signed_makes_a_private_key_and_reports_the_fingerprint(tmp_path: Path):
    info = write_self_signed(tmp_path / "tls", ["127.0.0.1", "localhost"])
    assert info.cert_path == tmp_path / "tls" / "hark-server.pem"
    assert info.key_path.stat().st_mode & 0o777 == 0o600
    der = ssl.PEM_cert_to_DER_cert(info.cert_path.read_text())
    expected = hashlib.sha256(der).hexdigest().upper()
    assert info.fingerprint_sha256.replace(":", "") == expected
    assert len(info.fingerprint_sha256) == 32 * 3 - 1
    assert info.names == ("localhost", "127.0.0.1")
    # A Python client pinning the file can load it (what Hark's client does).
    ssl.create_default_context(cadata=info.cert_path.read_text())


def test_write_self_signed_never_replaces_a_pinned_certificate(tmp_path: Path):
    first = write_self_signed(tmp_path, ["127.0.0.1"])
    with pytest.raises(ConfigError, match="clients may pin it") as err:
        write_self_signed(tmp_path, ["127.0.0.1"])
    assert err.value.code == "tls-cert-exists"
    assert fingerprint_sha256(first.cert_path.read_bytes()) == first.fingerprint_sha256


def test_check_pair_accepts_a_matching_pair(tmp_path: Path):
    info = write_self_signed(tmp_path, ["127.0.0.1"])
    again = check_pair(info.cert_path, info.key_path)
    assert isinstance(again, CertInfo)
    assert again.fingerprint_sha256 == info.fingerprint_sha256


def _pair(tmp_path: Path, name: str) -> CertInfo:
    return write_self_signed(tmp_path / name, ["127.0.0.1"])


def test_check_pair_errors_say_what_is_wrong(tmp_path: Path):
    a, b = _pair(tmp_path, "a"), _pair(tmp_path, "b")
    cases: list[tuple[Path, Path, str, str]] = [
        (a.cert_path, b.key_path, "tls-key-mismatch", "does not belong"),
        (tmp_path / "none.pem", a.key_path, "tls-file-missing", "does not exist"),
        (a.key_path, a.key_path, "tls-cert-invalid", "is not a PEM certificate"),
        (a.cert_path, a.cert_path, "tls-key-invalid", "is not a PEM private key"),
    ]
    for cert, key, code, words in cases:
        with pytest.raises(ConfigError) as err:
            check_pair(cert, key)
        assert err.value.code == code
        assert words in err.value.message


def test_check_pair_refuses_an_expired_certificate(tmp_path: Path):
    a = _pair(tmp_path, "a")
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=3651)
    with pytest.raises(ConfigError, match="expired on") as err:
        check_pair(a.cert_path, a.key_path, now=later)
    assert err.value.code == "tls-cert-expired"


def test_check_pair_refuses_an_encrypted_key(tmp_path: Path):
    a = _pair(tmp_path, "a")
    key = serialization.load_pem_private_key(a.key_path.read_bytes(), password=None)
    locked = tmp_path / "locked.key"
    write_private(
        locked,
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"passphrase"),
        ),
    )
    with pytest.raises(ConfigError, match="encrypted with a passphrase") as err:
        check_pair(a.cert_path, locked)
    assert err.value.code == "tls-key-encrypted"


def test_check_pair_refuses_a_key_others_can_read(tmp_path: Path):
    a = _pair(tmp_path, "a")
    a.key_path.chmod(0o644)
    with pytest.raises(ConfigError, match=f"chmod 600 {a.key_path}") as err:
        check_pair(a.cert_path, a.key_path)
    assert err.value.code == "secret-file-open"


def test_write_private_is_0600_whatever_the_umask(tmp_path: Path):
    old = os.umask(0)
    try:
        write_private(tmp_path / "s", b"secret")
        write_private(tmp_path / "s", b"newer", overwrite=True)
    finally:
        os.umask(old)
    assert (tmp_path / "s").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "s").read_bytes() == b"newer"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s"]  # no temporary file left
    with pytest.raises(ConfigError, match="already exists"):
        write_private(tmp_path / "s", b"again")


def test_env_chunks_cut_base64_into_bounded_numbered_values():
    data = os.urandom(1000)
    chunks = env_chunks("HARK_TLS_KEY_B64", data)
    assert list(chunks) == [f"HARK_TLS_KEY_B64_{i}" for i in range(len(chunks))]
    assert len(chunks) == 6  # 1336 base64 characters
    assert all(0 < len(v) <= ENV_CHUNK_CHARS for v in chunks.values())
    assert base64.b64decode("".join(chunks.values())) == data
