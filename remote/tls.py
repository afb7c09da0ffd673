"""Certificates and secret files for the Hark server's TLS edge.

The Hark server is reached over TLS pinned to one self-signed certificate: the client trusts
exactly that certificate (its PEM file, or its SHA-256 fingerprint), so no public CA is needed
and the host name does not matter. This module makes such a certificate (with the names and
addresses the server is reached by in its subjectAltName, for clients that still check them),
checks a certificate + key pair before Caddy is started with it, and writes secret files
(keys, API keys) readable by their owner only (mode 0600).

It also splits a PEM file into environment-variable chunks (``env_chunks``): a deployer passes
the certificate and key to a rented GPU box through its environment, where values are limited
in length; ``remote/image/onstart.sh`` joins them again (``join_b64_env``).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import ipaddress
import os
import secrets
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from app.shared.errors import ConfigCode, ConfigError

DEFAULT_DAYS = 3650
"""A pinned certificate is trusted by its exact bytes, not through a CA, so it does not need
the short lifetimes of public certificates; ten years means no surprise expiry."""

ENV_CHUNK_CHARS = 256
"""The longest value one environment variable carries for the GPU box (its host limits them)."""

MIN_API_KEY_CHARS = 16


@dataclass(frozen=True, slots=True)
class CertInfo:
    """What a user needs to pin a certificate: where it is and its SHA-256 fingerprint."""

    cert_path: Path
    key_path: Path
    fingerprint_sha256: str
    not_after: dt.datetime
    names: tuple[str, ...]


def make_self_signed(
    hosts: Iterable[str], *, days: int = DEFAULT_DAYS, common_name: str = "hark-server"
) -> tuple[bytes, bytes]:
    """A new self-signed server certificate and its private key, both PEM (P-256 ECDSA).

    ``hosts`` are IP addresses or DNS names put into the subjectAltName. The certificate is a
    leaf (not a CA): pinned, it vouches for this one server and can sign nothing else.
    """
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    alt_names: list[x509.GeneralName] = []
    for host in dict.fromkeys(h.strip() for h in hosts if h.strip()):
        try:
            alt_names.append(x509.IPAddress(ipaddress.ip_address(host.strip("[]"))))
        except ValueError:
            alt_names.append(x509.DNSName(host))
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    )
    if alt_names:
        builder = builder.add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
    cert = builder.sign(key, hashes.SHA256())
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def write_self_signed(
    directory: Path,
    hosts: Iterable[str],
    *,
    stem: str = "hark-server",
    days: int = DEFAULT_DAYS,
) -> CertInfo:
    """Make a certificate + key in ``directory`` (``<stem>.pem``, ``<stem>.key``, key 0600).

    Refuses to overwrite: a certificate that clients already pin must not change silently.
    """
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / f"{stem}.pem", directory / f"{stem}.key"
    for p in (cert_path, key_path):
        if p.exists():
            raise ConfigError(
                ConfigCode.TLS_CERT_EXISTS,
                f"{p} already exists; clients may pin it. Use it as it is, or move it away "
                "first to make a new one.",
            )
    cert_pem, key_pem = make_self_signed(hosts, days=days)
    write_private(key_path, key_pem)
    cert_path.write_bytes(cert_pem)
    return check_pair(cert_path, key_path)


def fingerprint_sha256(cert_pem: bytes | str) -> str:
    """The SHA-256 of the certificate's DER bytes, as ``AB:CD:…`` (what browsers show)."""
    data = cert_pem.encode("ascii") if isinstance(cert_pem, str) else cert_pem
    der = x509.load_pem_x509_certificate(data).public_bytes(serialization.Encoding.DER)
    digest = hashlib.sha256(der).hexdigest().upper()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def check_pair(cert_path: Path, key_path: Path, *, now: dt.datetime | None = None) -> CertInfo:
    """Check that a certificate and key can serve TLS together, before Caddy gets them.

    Raises ``ConfigError`` saying what is wrong: a missing or unreadable file, not PEM, an
    encrypted key, a key other users can read, a key of another certificate, an expired
    certificate.
    """
    cert_bytes = _read(cert_path, "TLS certificate")
    key_bytes = _read(key_path, "TLS key")
    try:
        cert = x509.load_pem_x509_certificate(cert_bytes)
    except ValueError as exc:
        raise ConfigError(
            ConfigCode.TLS_CERT_INVALID,
            f"{cert_path} is not a PEM certificate (-----BEGIN CERTIFICATE-----); "
            "give the certificate file, or make one with `hark server --make-cert DIR`.",
        ) from exc
    try:
        key = serialization.load_pem_private_key(key_bytes, password=None)
    except TypeError as exc:
        raise ConfigError(
            ConfigCode.TLS_KEY_ENCRYPTED,
            f"{key_path} is encrypted with a passphrase; the server needs it unencrypted "
            f"(e.g. `openssl pkey -in {key_path} -out plain.key`, then chmod 600).",
        ) from exc
    except ValueError as exc:
        raise ConfigError(
            ConfigCode.TLS_KEY_INVALID,
            f"{key_path} is not a PEM private key (-----BEGIN PRIVATE KEY-----); "
            "give the key made together with the certificate.",
        ) from exc
    check_private_file(key_path, "TLS key")
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    if key.public_key().public_bytes(der, spki) != cert.public_key().public_bytes(der, spki):
        raise ConfigError(
            ConfigCode.TLS_KEY_MISMATCH,
            f"the key {key_path} does not belong to the certificate {cert_path}; give the key "
            "that was made together with this certificate.",
        )
    now = now or dt.datetime.now(dt.UTC)
    if cert.not_valid_after_utc <= now:
        raise ConfigError(
            ConfigCode.TLS_CERT_EXPIRED,
            f"the certificate {cert_path} expired on {cert.not_valid_after_utc:%Y-%m-%d}; "
            "make a new one (`hark server --make-cert DIR`) and pin that one instead.",
        )
    return CertInfo(
        cert_path=cert_path,
        key_path=key_path,
        fingerprint_sha256=fingerprint_sha256(cert_bytes),
        not_after=cert.not_valid_after_utc,
        names=_alt_names(cert),
    )


def _alt_names(cert: x509.Certificate) -> tuple[str, ...]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return ()
    ips = [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    return (*san.get_values_for_type(x509.DNSName), *ips)


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError as exc:
        raise ConfigError(
            ConfigCode.TLS_FILE_MISSING, f"the {what} file {path} does not exist."
        ) from exc
    except OSError as exc:
        raise ConfigError(
            ConfigCode.TLS_FILE_UNREADABLE,
            f"the {what} file {path} cannot be read: {exc.strerror}.",
        ) from exc


def check_private_file(path: Path, what: str) -> None:
    """Refuse a secret file that other users can read or write (as ssh does for its keys)."""
    if os.name != "posix":
        return
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise ConfigError(
            ConfigCode.SECRET_FILE_OPEN,
            f"the {what} file {path} can be read by other users (mode {mode:04o}); "
            f"run `chmod 600 {path}` and start again.",
        )


def write_private(path: Path, data: bytes, *, overwrite: bool = False) -> None:
    """Write a secret file that only its owner can read: created 0600, never readable before.

    With ``overwrite`` the file is replaced atomically (written beside it, then renamed).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    target = path.with_name(f".{path.name}.tmp") if overwrite else path
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    if overwrite:
        target.unlink(missing_ok=True)
    try:
        fd = os.open(target, flags, 0o600)
    except FileExistsError as exc:
        raise ConfigError(
            ConfigCode.SECRET_FILE_EXISTS,
            f"{path} already exists; move it away or use it as it is.",
        ) from exc
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    if overwrite:
        os.replace(target, path)


def make_api_key() -> str:
    """A new random API key: 43 URL-safe characters (256 bits)."""
    return secrets.token_urlsafe(32)


def write_api_key_file(path: Path) -> None:
    """Write a new API key file (one key, mode 0600) for ``hark server --api-key-file``."""
    write_private(path, (make_api_key() + "\n").encode("ascii"))


def env_chunks(prefix: str, data: bytes, size: int = ENV_CHUNK_CHARS) -> dict[str, str]:
    """``data`` base64-encoded and cut into ``PREFIX_0``, ``PREFIX_1``, … of ≤ ``size`` chars.

    The GPU box's onstart script joins them in order and decodes them (``join_b64_env``).
    """
    if size < 4:
        raise ValueError("chunks must hold at least 4 characters")
    text = base64.b64encode(data).decode("ascii")
    return {
        f"{prefix}_{i}": text[start : start + size]
        for i, start in enumerate(range(0, len(text), size))
    }
