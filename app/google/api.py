"""One Google API (Calendar v3 or Gmail v1) for one account: building it, calling it, and turning
what goes wrong into messages a person can act on.

The discovery documents ship with google-api-python-client (``static_discovery=True``), so
building a service makes no network call. ``google.api_endpoint`` sends every request to another
base URL (a proxy, or the test fake); note that under such an override Calendar's paths lose
their ``calendar/v3/`` prefix while Gmail's keep ``gmail/v1/``.

The client library is blocking and its HTTP object is not thread-safe, so calls run in a worker
thread (``asyncio.to_thread``) one at a time per service. Safe calls (reads, and writes that are
idempotent by construction) are retried with backoff on 429, 5xx and network errors; other
writes only on 429 and rate-limit answers, which Google sends before doing anything.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import threading
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from app.settings.schema import GoogleSettings
from app.shared.errors import GoogleCode, GoogleError

log = logging.getLogger(__name__)

ApiName = Literal["calendar", "gmail"]
VERSIONS: dict[ApiName, str] = {"calendar": "v3", "gmail": "v1"}
TITLES: dict[ApiName, str] = {"calendar": "Google Calendar", "gmail": "Gmail"}
RATE_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded", "quotaExceeded"})
SCOPE_REASONS = frozenset({"insufficientPermissions", "ACCESS_TOKEN_SCOPE_INSUFFICIENT"})
RECONNECT = (
    "Run `hark google login` to connect your Google account again "
    "(or import a new authorized-user file with `hark google login --authorized-user FILE`)."
)
MAX_RETRY_AFTER_S = 60.0

Sleep = Callable[[float], Awaitable[None]]


def reconnect_error(exc: BaseException | None = None) -> GoogleError:
    """The error for a refresh token Google no longer accepts (``invalid_grant``)."""
    detail = ""
    if exc is not None and "invalid_grant" in str(exc):
        detail = (
            " It was revoked, or it expired: consent screens left in 'Testing' give tokens that "
            "last only 7 days (publish the app to avoid this)."
        )
    return GoogleError(
        GoogleCode.RECONNECT, f"Google no longer accepts Hark's sign-in.{detail} {RECONNECT}"
    )


class GoogleApi:
    """A built service plus a safe way to call it (worker thread, lock, retries, clear errors)."""

    def __init__(
        self,
        name: ApiName,
        credentials: Any,
        settings: GoogleSettings,
        *,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        import google_auth_httplib2
        import httplib2
        from googleapiclient.discovery import build

        self.name = name
        self.title = TITLES[name]
        self._settings = settings
        self._sleep = sleep
        self._lock = threading.Lock()
        http = google_auth_httplib2.AuthorizedHttp(
            credentials, http=httplib2.Http(timeout=settings.timeout_s)
        )
        options = {"api_endpoint": settings.api_endpoint} if settings.api_endpoint else None
        self.service: Any = build(
            name,
            VERSIONS[name],
            http=http,
            static_discovery=True,
            cache_discovery=False,
            client_options=options,
        )

    def close(self) -> None:
        """Release the HTTP connection (the service can still be used: it reconnects)."""
        with self._lock:
            self.service.close()

    async def call(self, make: Callable[[Any], Any], *, what: str, idempotent: bool = True) -> Any:
        """Run ``make(service).execute()`` in a worker thread; ``what`` names the action for
        messages ("list your events"). Raises :class:`GoogleError` with a stable code."""
        attempts = self._settings.retry_attempts + 1
        delay = self._settings.retry_backoff_s
        for attempt in range(1, attempts + 1):
            try:
                return await asyncio.to_thread(self._execute, make)
            except GoogleError:
                raise
            except Exception as exc:  # mapped below; nothing unexpected escapes unexplained
                error, retry_after = self._explain(exc, what)
                retryable = error.code == GoogleCode.RATE_LIMITED or (
                    idempotent and error.code in (GoogleCode.UNAVAILABLE, GoogleCode.UNREACHABLE)
                )
                if not retryable or attempt == attempts:
                    raise error from exc
                wait = min(retry_after or delay * random.uniform(1.0, 1.5), MAX_RETRY_AFTER_S)
                log.info(
                    "%s: %s (attempt %d of %d); retrying in %.1f s",
                    self.title,
                    error.code,
                    attempt,
                    attempts,
                    wait,
                )
                await self._sleep(wait)
                delay *= 2
        raise AssertionError("unreachable")  # pragma: no cover

    def _execute(self, make: Callable[[Any], Any]) -> Any:
        with self._lock:
            return make(self.service).execute()

    def _explain(self, exc: Exception, what: str) -> tuple[GoogleError, float | None]:
        from google.auth.exceptions import RefreshError, TransportError
        from googleapiclient.errors import HttpError

        if isinstance(exc, RefreshError):
            if getattr(exc, "retryable", False):
                return GoogleError(
                    GoogleCode.UNAVAILABLE,
                    f"Google's sign-in service had a problem, so Hark could not {what}. "
                    "Try again shortly.",
                ), None
            return reconnect_error(exc), None
        if isinstance(exc, HttpError):
            return self._from_http(exc, what)
        if isinstance(exc, (TransportError, OSError, TimeoutError)) or _is_httplib2(exc):
            return GoogleError(
                GoogleCode.UNREACHABLE,
                f"{self.title} could not be reached to {what} ({type(exc).__name__}). Check your "
                "internet connection (or google.api_endpoint) and try again.",
            ), None
        return GoogleError(
            GoogleCode.FAILED, f"{self.title} failed to {what} ({type(exc).__name__})."
        ), None

    def _from_http(self, exc: Any, what: str) -> tuple[GoogleError, float | None]:
        status = int(exc.resp.status)
        reasons, message = _details(exc.content)
        said = f" Google said: {message}" if message else ""
        retry_after = _retry_after(exc.resp)
        if status == 429 or (status == 403 and reasons & RATE_REASONS):
            return GoogleError(
                GoogleCode.RATE_LIMITED,
                f"{self.title} is limiting requests, so Hark could not {what}. Wait a minute and "
                "try again.",
            ), retry_after
        if status == 401:
            return GoogleError(
                GoogleCode.UNAUTHORIZED,
                f"{self.title} refused Hark's sign-in while trying to {what}. {RECONNECT}",
            ), None
        if status == 403 and reasons & SCOPE_REASONS:
            return GoogleError(
                GoogleCode.SCOPE,
                f"Hark has no permission to {what}. Turn the feature on in the settings "
                "(google.calendar / google.mail) and run `hark google login` to grant it.",
            ), None
        if status == 403 and reasons & {"accessNotConfigured", "SERVICE_DISABLED"}:
            return GoogleError(
                GoogleCode.API_DISABLED,
                f"The {self.title} API is not enabled in your Google Cloud project. Enable it "
                "under 'APIs & Services' in the Cloud console, then try again.",
            ), None
        if status == 403:
            return GoogleError(
                GoogleCode.FORBIDDEN, f"{self.title} did not allow Hark to {what}.{said}"
            ), None
        if status in (404, 410):
            return GoogleError(
                GoogleCode.NOT_FOUND,
                f"{self.title}: could not {what}, it was not found (deleted, or a wrong id).",
            ), None
        if status == 409:
            return GoogleError(GoogleCode.CONFLICT, f"{self.title}: could not {what}.{said}"), None
        if status >= 500:
            return GoogleError(
                GoogleCode.UNAVAILABLE,
                f"{self.title} had a problem ({status}) and could not {what}. Try again shortly.",
            ), retry_after
        return GoogleError(
            GoogleCode.BAD_REQUEST, f"{self.title} refused to {what} ({status}).{said}"
        ), None


def _is_httplib2(exc: Exception) -> bool:
    return type(exc).__module__.startswith("httplib2")


def _details(content: bytes) -> tuple[set[str], str]:
    """Google's error body: the reasons (``errors[].reason``, ``details[].reason``) and message."""
    try:
        error = json.loads(content.decode("utf-8"))["error"]
    except (ValueError, KeyError, TypeError, AttributeError):
        return set(), ""
    if not isinstance(error, dict):
        return set(), str(error)[:200]
    reasons = {
        str(item.get("reason"))
        for key in ("errors", "details")
        for item in error.get(key) or []
        if isinstance(item, dict) and item.get("reason")
    }
    if error.get("status") in ("PERMISSION_DENIED", "RESOURCE_EXHAUSTED"):
        reasons.add(str(error["status"]))
    return reasons, str(error.get("message") or "")[:200]


def _retry_after(resp: Any) -> float | None:
    value = resp.get("retry-after") if hasattr(resp, "get") else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None
