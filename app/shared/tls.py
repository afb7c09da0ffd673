"""TLS pinning: trust exactly one certificate, the one the Hark server was deployed with.

``llm.ca_cert`` (and the deployed server's record) names a PEM file that becomes the *only*
trust anchor. When that PEM is a single certificate that is not a CA, it is the server's own
self-signed certificate (what the Hark GPU server presents). Such a certificate cannot sign any
other, so only a server holding its private key can complete the handshake: the pin itself is
the proof of identity. The server is reached by a bare IP address that its certificate need not
name, so the hostname check is switched off in that case only. A pinned CA (or a bundle) keeps
the hostname check.
"""

from __future__ import annotations

import functools
import ssl

import certifi


@functools.cache
def public_ssl_context() -> ssl.SSLContext:
    """The usual public-CA trust (certifi's bundle, as httpx uses), built once per process:
    loading it takes ~0.1 s, and every client without a pin can share it."""
    return ssl.create_default_context(cafile=certifi.where())


def pinned_ssl_context(pem: str) -> ssl.SSLContext:
    """An SSL context that trusts only ``pem`` (see the module docstring for the hostname rule).

    Raises ``ssl.SSLError`` (or ``ValueError``) when the text holds no usable certificate.
    """
    ctx = ssl.create_default_context(cadata=pem)
    stats = ctx.cert_store_stats()
    if stats.get("x509", 0) == 1 and stats.get("x509_ca", 0) == 0:
        # A self-signed leaf: only its own key holder can match it, whatever the host name.
        ctx.check_hostname = False
    return ctx


def is_tls_error(exc: BaseException) -> bool:
    """Whether a connection failed in TLS (a pin mismatch, an untrusted certificate)."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        if isinstance(cur, ssl.SSLError) or "SSL" in str(cur) or "certificate" in str(cur):
            return True
        seen.add(id(cur))
        cur = cur.__cause__ or cur.__context__
    return False
