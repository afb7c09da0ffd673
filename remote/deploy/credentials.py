"""The secrets a new Hark server gets, made on the user's machine before anything is rented.

A random API key and a self-signed TLS certificate + key: Hark pins that exact certificate
(``app.shared.tls.pinned_ssl_context`` skips host-name checks for a self-signed leaf), so it
is valid for whatever public IP address the rented machine turns out to have. They travel to
the instance in its environment (values of at most 256 characters each, the limit Vast.ai
sets), exactly as ``remote/image/boxboot.py`` reads them. None of these values is ever logged:
``Credentials.__repr__`` hides them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from remote.tls import env_chunks, fingerprint_sha256, make_api_key, make_self_signed

CERT_PREFIX = "HARK_TLS_CERT_B64"
KEY_PREFIX = "HARK_TLS_KEY_B64"
DEFAULT_PORT = 8443


@dataclass(frozen=True, slots=True)
class Credentials:
    """A server's API key and TLS pair (PEM text); ``fingerprint`` is the cert's SHA-256."""

    api_key: str = field(repr=False)
    cert_pem: str = field(repr=False)
    key_pem: str = field(repr=False)
    fingerprint: str = ""


def make_credentials(host_hint: str | None = None) -> Credentials:
    """A fresh random API key and self-signed certificate for one new server.

    ``host_hint`` (an IP address or name, if known) goes into the certificate's
    subjectAltName for clients that check names; Hark itself pins the certificate and does not.
    """
    hosts = [host_hint] if host_hint else []
    cert_pem, key_pem = make_self_signed(hosts)
    return Credentials(
        api_key=make_api_key(),
        cert_pem=cert_pem.decode("ascii"),
        key_pem=key_pem.decode("ascii"),
        fingerprint=fingerprint_sha256(cert_pem),
    )


def instance_env(
    creds: Credentials,
    *,
    model: str,
    whisper_model: str | None = None,
    port: int = DEFAULT_PORT,
    code_sha256: str = "",
    code_version: str = "",
    idle_stop_minutes: float = 0.0,
) -> dict[str, str]:
    """The environment the box (``remote/image/boxboot.py``) reads, each ≤ 256 characters.

    ``HARK_API_KEY``, ``HARK_TLS_CERT_B64_0..``, ``HARK_TLS_KEY_B64_0..``, ``HARK_LLM_MODEL``,
    ``HARK_PORT``, ``HARK_CODE_SHA256`` and ``HARK_CODE_VERSION`` (the wheel the deployer will
    send: only its hash and version travel here), and when given ``HARK_WHISPER_MODEL`` and
    ``HARK_SERVER__IDLE_STOP_MINUTES`` for the server's own idle stop.
    """
    env: dict[str, str] = {
        "HARK_API_KEY": creds.api_key,
        **env_chunks(CERT_PREFIX, creds.cert_pem.encode("ascii")),
        **env_chunks(KEY_PREFIX, creds.key_pem.encode("ascii")),
        "HARK_LLM_MODEL": model,
        "HARK_PORT": str(int(port)),
    }
    if whisper_model:
        env["HARK_WHISPER_MODEL"] = whisper_model
    if code_sha256:
        env["HARK_CODE_SHA256"] = code_sha256
        env["HARK_CODE_VERSION"] = code_version
    if idle_stop_minutes > 0:  # read by the server itself (remote.server.idle)
        env["HARK_SERVER__IDLE_STOP_MINUTES"] = f"{idle_stop_minutes:g}"
    return env
