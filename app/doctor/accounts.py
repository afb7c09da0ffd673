"""The check-up of the accounts and secrets: the Google sign-in (its scopes, and that Google
still accepts it) and the keyring that holds the keys and tokens.
"""

from __future__ import annotations

import asyncio

from app.doctor.check import Check
from app.google.api import reconnect_error
from app.google.scopes import short_scope
from app.settings.schema import Settings
from app.settings.secrets import SecretStore, backend_description
from app.shared.errors import HarkError


async def check_google(settings: Settings, secrets: SecretStore) -> Check:
    """Is a Google account connected, with the scopes the settings need, and does Google still
    accept the sign-in? (One token refresh; no Calendar or Gmail call.)"""
    google = settings.google
    if google.calendar == "off" and google.mail == "off":
        return Check("google", "ok", "off (google.calendar and google.mail)", required=False)
    from app.google.auth import GoogleAccount  # the Google libraries: only when Google is on

    account = GoogleAccount(google, secrets)
    status = account.status()
    features = f"calendar {google.calendar}, mail {google.mail}"
    if not status.connected:
        return Check(
            "google",
            "warn",
            f"not connected ({features})",
            "hark google login (see the README: 'Connect Google')",
            required=False,
        )
    who = status.email or "account"
    if status.missing:
        missing = ", ".join(short_scope(s) for s in status.missing)
        return Check(
            "google",
            "warn",
            f"{who}: the sign-in does not grant {missing}",
            "hark google login (grants what the settings turn on)",
            required=False,
        )
    try:
        from google.auth.transport.requests import Request

        credentials = account.credentials()
        await asyncio.wait_for(asyncio.to_thread(credentials.refresh, Request()), 20)
    except HarkError as exc:
        return Check("google", "fail", exc.message, "hark google login", required=False)
    except Exception as exc:  # mapped to words; never a traceback in the doctor
        if "invalid_grant" in str(exc):
            error = reconnect_error(exc)
            return Check("google", "fail", error.message, "hark google login", required=False)
        return Check(
            "google",
            "warn",
            f"{who}: Google's sign-in service did not answer ({type(exc).__name__})",
            "check the internet connection (or google.token_uri)",
            required=False,
        )
    return Check("google", "ok", f"{who} ({features})", required=False)


def check_keyring() -> Check:
    """A secure keyring to keep Hark's keys and tokens in."""
    try:
        backend = backend_description()
    except Exception as exc:  # any backend failure is a finding, not a crash
        return Check(
            "keyring",
            "fail",
            f"no usable keyring: {type(exc).__name__}",
            "install GNOME Keyring or KWallet, or use environment variables",
        )
    if any(word in backend.lower() for word in ("fail", "null", "plaintext")):
        return Check(
            "keyring",
            "warn",
            f"no secure keyring ({backend})",
            "install GNOME Keyring / KWallet; until then use environment variables",
            required=False,
        )
    return Check("keyring", "ok", backend)
