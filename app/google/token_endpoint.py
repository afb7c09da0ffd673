"""Google's OAuth endpoints as the sign-in and sign-out reach them: an HTTP request with Hark's
timeout, the email in the ID token they return, and their errors as GoogleErrors that say what
to do."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import Any

import google.auth.exceptions
import google.auth.jwt
import google.auth.transport.requests

from app.google.api import reconnect_error
from app.google.oauth_files import CLIENT_HOWTO
from app.shared.errors import GoogleCode, GoogleError


@contextlib.contextmanager
def auth_request(timeout_s: float) -> Iterator[Callable[..., Any]]:
    """google-auth's HTTP request callable with our timeout; its connections closed after."""
    request = google.auth.transport.requests.Request()
    try:
        yield functools.partial(request, timeout=timeout_s)
    finally:
        request.session.close()


def str_or_none(value: Any) -> str | None:
    """A field of an answer or of the stored sign-in when it is a non-empty string, else None."""
    return value if isinstance(value, str) and value else None


def email_of(id_token: Any) -> str | None:
    """The email claim of an ID token taken straight from the token endpoint over TLS (so its
    signature need not be checked, as OpenID Connect allows)."""
    if not isinstance(id_token, str) or not id_token:
        return None
    try:
        claims = google.auth.jwt.decode(id_token, verify=False)  # type: ignore[no-untyped-call]
    except (ValueError, google.auth.exceptions.GoogleAuthError):
        return None
    return str_or_none(claims.get("email")) if isinstance(claims, dict) else None


def token_endpoint_error(exc: BaseException, what: str) -> GoogleError:
    """An error from Google's token endpoint (via oauthlib or google-auth) as a GoogleError."""
    text = f"{getattr(exc, 'error', '')} {exc}"
    if "invalid_grant" in text:
        return reconnect_error(exc)
    if "invalid_client" in text or "unauthorized_client" in text:
        return GoogleError(
            GoogleCode.CLIENT_INVALID,
            f"Google does not accept the OAuth client (client_id/client_secret) and could not "
            f"{what}: it was deleted, or the file is from another project. " + CLIENT_HOWTO,
        )
    if "redirect_uri_mismatch" in text:
        return GoogleError(
            GoogleCode.CLIENT_WEB,
            "Google refused the loopback redirect: the OAuth client is not a 'Desktop app' "
            "client. " + CLIENT_HOWTO,
        )
    if getattr(exc, "retryable", False):  # google-auth: a 5xx, after its own retries
        return GoogleError(
            GoogleCode.UNAVAILABLE,
            f"Google's sign-in service had a problem and Hark could not {what}. Try again shortly.",
        )
    if "InsecureTransport" in type(exc).__name__:
        return GoogleError(
            GoogleCode.INSECURE_URI, "google.token_uri and google.auth_uri must be https URLs."
        )
    if isinstance(exc, (google.auth.exceptions.TransportError, OSError)) or type(
        exc
    ).__module__.startswith("requests"):
        return GoogleError(
            GoogleCode.UNREACHABLE,
            f"Google's sign-in service could not be reached to {what} ({type(exc).__name__}). "
            "Check your internet connection (or google.token_uri) and try again.",
        )
    return GoogleError(
        GoogleCode.LOGIN_FAILED, f"Google refused to {what} ({type(exc).__name__}: {exc})."
    )
