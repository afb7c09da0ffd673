"""How the Hark server's transcription API fails, in the words of :class:`AsrError`.

:func:`status_failure` reads an error answer (the server's OpenAI-shaped body, Ollama's or
FastAPI's, or plain text; its ``Retry-After``) as a :class:`Failure`: the error with its code
(listed in :mod:`app.asr.server`), and whether trying again may help. :data:`RETRYABLE` names
the codes that may heal by waiting.
"""

from __future__ import annotations

import email.utils
import json
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

from app.shared.errors import AsrCode, AsrError
from app.shared.protocol import ErrorCode

RETRYABLE = frozenset(
    {AsrCode.REMOTE_UNREACHABLE, AsrCode.REMOTE_PROVISIONING, AsrCode.REMOTE_BUSY}
)
"""Codes that may heal by waiting (the fallback to local ASR also keys on these)."""

KEY_FIX = "Store the server's key with `hark secret set server-api-key` (or HARK_SERVER_API_KEY)."


@dataclass(frozen=True, slots=True)
class Failure:
    """One failed try: the error, whether trying again may help, and the server's wait."""

    error: AsrError
    retry: bool
    retry_after_s: float | None = None


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds or an HTTP date); None if absent
    or unreadable."""
    if not value or not value.strip():
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    now = time.time() if now is None else now
    return max(0.0, when.timestamp() - now)


def server_error(body: bytes) -> tuple[str | None, str]:
    """The ``(code, message)`` of an error body: OpenAI's shape (the Hark server's own routes),
    Ollama's ``{"error": "..."}``, FastAPI's ``{"detail": ...}``, or the text itself."""
    text = body.decode("utf-8", errors="replace").strip()
    try:
        data = json.loads(text)
    except ValueError:
        return None, text[:300]
    if isinstance(data, Mapping):
        err = data.get("error")
        if isinstance(err, Mapping):
            code = err.get("code")
            return (str(code) if code is not None else None), str(err.get("message") or "")
        if isinstance(err, str):
            return None, err
        if "detail" in data:
            return None, str(data["detail"])[:300]
    return None, text[:300]


def cert_mismatch(exc: BaseException) -> bool:
    """Whether the chain of ``exc`` holds a certificate verification failure."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        if isinstance(cur, ssl.SSLCertVerificationError):
            return True
        seen.add(id(cur))
        cur = cur.__cause__ or cur.__context__
    return False


def unreachable(base: str, what: str) -> AsrError:
    """The Hark server at ``base`` cannot be reached; ``what`` says how (ending a sentence)."""
    return AsrError(
        AsrCode.REMOTE_UNREACHABLE,
        f"the Hark server at {base} {what}. Check that the server is running and that "
        "remote.url (HARK_REMOTE__URL) has the right address and port.",
    )


def tls_error(base: str, pin: Path | None, detail: str) -> AsrError:
    """The TLS handshake with ``base`` failed: its certificate is not ``pin`` (or a public one)."""
    trust = f"the pinned certificate {pin}" if pin else "the system's certificates"
    return AsrError(
        AsrCode.REMOTE_UNREACHABLE,
        f"the TLS handshake with the Hark server at {base} failed: its certificate "
        f"does not match {trust} ({detail}). Check remote.ca_cert (HARK_REMOTE__CA_CERT): it "
        "must be the certificate this server presents.",
    )


def status_failure(base: str, response: httpx.Response) -> Failure:
    """The failure an HTTP error answer means, and whether (and when) to try again."""
    status = response.status_code
    code, text = server_error(response.content)
    text = text or response.reason_phrase or "no detail"
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    if status in (401, 403):
        error = AsrError(
            AsrCode.REMOTE_AUTH,
            f"the Hark server at {base} refused the API key (HTTP {status}: {text}). {KEY_FIX}",
        )
        return Failure(error, retry=False)
    if status == 503 and code == ErrorCode.PROVISIONING:
        error = AsrError(
            AsrCode.REMOTE_PROVISIONING,
            f"the Hark server at {base} is still setting up (pulling the model…): {text}.",
        )
        return Failure(error, retry=True, retry_after_s=retry_after)
    if status == 503:
        what = "is busy right now" if code == ErrorCode.BUSY else "cannot transcribe now"
        error = AsrError(AsrCode.REMOTE_BUSY, f"the Hark server at {base} {what}: {text}.")
        return Failure(error, retry=True, retry_after_s=retry_after)
    if status == 429:
        error = AsrError(
            AsrCode.REMOTE_BUSY,
            f"the Hark server at {base} asks to slow down (HTTP 429: {text}).",
        )
        return Failure(error, retry=False, retry_after_s=retry_after)
    if status in (502, 504):
        what = f"is up, but its speech service did not answer (HTTP {status}: {text})"
        return Failure(unreachable(base, what), retry=True, retry_after_s=retry_after)
    if 400 <= status < 500:
        hint = " Is remote.url the address of a Hark server?" if status in (404, 405) else ""
        error = AsrError(
            AsrCode.REMOTE_BAD_REQUEST,
            f"the Hark server at {base} could not take this audio (HTTP {status}: {text}).{hint}",
        )
        return Failure(error, retry=False)
    error = AsrError(
        AsrCode.REMOTE_SERVER,
        f"the Hark server at {base} failed to transcribe (HTTP {status}: {text}). Try "
        "again; if it keeps happening, check the server's log.",
    )
    return Failure(error, retry=False)
