"""Errors of the Vast.ai client and the deployer, with stable codes.

A :class:`DeployError` carries one of :class:`VastCode` when Vast.ai failed us (the deployer's
own codes are :class:`remote.deploy.errors.DeployCode`). Messages never contain the API key.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

import httpx

from app.shared.errors import HarkError


class VastCode(StrEnum):
    """What went wrong talking to Vast.ai (``DeployError.code``)."""

    AUTH = "vast-auth"
    """The API key was refused (401, or 404 with ``"error": "auth_error"``)."""
    RATE_LIMITED = "vast-rate-limited"
    """Vast.ai kept answering 429 (or asked for a longer wait than we allow)."""
    SERVER = "vast-server"
    """Vast.ai kept failing with 5xx, or answered something we cannot read."""
    UNREACHABLE = "vast-unreachable"
    """No connection to Vast.ai (DNS, refused, timed out)."""
    BAD_REQUEST = "vast-bad-request"
    """Vast.ai refused the request (4xx); its own ``msg`` is in the message."""
    NOT_FOUND = "vast-not-found"
    """The offer or instance does not exist (any more)."""
    CREATE_UNCERTAIN = "vast-create-uncertain"
    """A create request may or may not have made an instance (the reply was lost); look for
    it by label before trying again, or it may keep billing."""
    INVALID = "vast-invalid"
    """A request Hark was about to send breaks one of Vast.ai's limits (nothing was sent)."""
    LOGS_UNAVAILABLE = "vast-logs-unavailable"
    """An instance's log was asked for but never became ready."""


AUTH_MESSAGE = (
    "the Vast.ai API key was refused; check it at cloud.vast.ai → Account → API keys "
    "(it may have been revoked), then give Hark the new one"
)


class DeployError(HarkError):
    """Something went wrong creating, watching or stopping a rented server.

    Besides the stable ``code`` and human ``message``, it keeps what the API said, for the
    deployer's decisions: ``status`` (HTTP status, if any), ``vast_error`` (Vast.ai's own
    ``error`` code, if any) and ``retry_after`` (seconds Vast.ai asked us to wait, if any).
    """

    def __init__(
        self,
        code: str,
        message: str,
        *,
        status: int | None = None,
        vast_error: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(code, message)
        self.status = status
        self.vast_error = vast_error
        self.retry_after = retry_after


def retry_after(response: httpx.Response) -> float | None:
    """``Retry-After`` in seconds (delta or HTTP date), or ``None`` if absent or unreadable."""
    raw = response.headers.get("Retry-After")
    if raw is None:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def json_object(response: httpx.Response) -> Mapping[str, Any]:
    """The reply's JSON object, or ``{}`` when it is not one (plain text, a list, nothing)."""
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, Mapping) else {}


def error_for(response: httpx.Response, what: str, *, secret: str) -> DeployError:
    """The :class:`DeployError` for a failed reply, with Vast.ai's own words.

    ``what`` completes "could not …"; ``secret`` (the API key) is scrubbed from anything
    Vast.ai said, should it ever echo it.
    """
    status = response.status_code
    data = json_object(response)
    vast_error = data.get("error") if isinstance(data.get("error"), str) else None
    raw_msg = data.get("msg") or data.get("message") or vast_error
    if not raw_msg and not data:
        raw_msg = response.text.strip()[:300]
    msg = str(raw_msg).replace(secret, "***") if raw_msg and secret else str(raw_msg or "")
    detail = f" (Vast.ai said: {msg})" if msg else ""
    kw: dict[str, Any] = {"status": status, "vast_error": vast_error}
    if status == 401 or vast_error == "auth_error" or (status == 403 and vast_error is None):
        return DeployError(VastCode.AUTH, f"could not {what}: {AUTH_MESSAGE}", **kw)
    if status == 429:
        asked = retry_after(response)
        when = f"in {asked:.0f} s" if asked is not None else "in a minute"
        return DeployError(
            VastCode.RATE_LIMITED,
            f"could not {what}: Vast.ai is rate-limiting this key{detail}; try again {when}",
            retry_after=asked,
            **kw,
        )
    if status >= 500:
        return DeployError(
            VastCode.SERVER,
            f"could not {what}: Vast.ai failed with HTTP {status}{detail}; try again later "
            "(status: https://status.vast.ai)",
            **kw,
        )
    if status == 404:
        return DeployError(
            VastCode.NOT_FOUND, f"could not {what}: Vast.ai has no such thing{detail}", **kw
        )
    return DeployError(
        VastCode.BAD_REQUEST, f"could not {what}: Vast.ai refused it (HTTP {status}){detail}", **kw
    )
