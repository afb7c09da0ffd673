"""TLS for the tests: self-signed certificates made on the spot with ``cryptography``, and
a client context that trusts one certificate only (as Hark's pinning client does)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class CertPair:
    """A certificate and its private key, PEM; written to files or served as they are."""

    cert_pem: str
    key_pem: str

    def write(self, directory: Path, stem: str) -> tuple[Path, Path]:
        cert, key = directory / f"{stem}.pem", directory / f"{stem}.key"
        cert.write_text(self.cert_pem, encoding="ascii")
        key.write_text(self.key_pem, encoding="ascii")
        return cert, key

    def server_context(self, directory: Path, stem: str = "server") -> ssl.SSLContext:
        cert, key = self.write(directory, stem)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        return ctx


def self_signed(
    common_name: str = "hark-server",
    *,
    ca: bool = False,
    dns: str | None = None,
    ip: str | None = None,
) -> CertPair:
    """A self-signed certificate; ``ca=False`` makes the leaf the Hark server presents."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    names: list[x509.GeneralName] = []
    if dns:
        names.append(x509.DNSName(dns))
    if ip:
        names.append(x509.IPAddress(ipaddress.ip_address(ip)))
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    cert = builder.sign(key, hashes.SHA256())
    return CertPair(
        cert.public_bytes(serialization.Encoding.PEM).decode("ascii"),
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode("ascii"),
    )


def pinned(cert: Path, *, check_hostname: bool = True) -> ssl.SSLContext:
    """A client context that trusts only ``cert`` (as Hark's client does)."""
    ctx = ssl.create_default_context(cadata=cert.read_text("ascii"))
    ctx.check_hostname = check_hostname
    return ctx
