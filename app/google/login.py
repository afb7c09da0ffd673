"""Signing in to Google: the installed-app flow through the browser, or an authorized-user file
imported instead; either ends in the :class:`Grant` that :class:`~app.google.auth.GoogleAccount`
keeps.

Sign-in runs the installed-app flow from google-auth-oauthlib: a loopback redirect on
127.0.0.1 (:mod:`app.google.loopback`), PKCE (S256) and a ``state`` check, from the client
secrets JSON of the user's own Google Cloud project (a *Desktop app* OAuth client). A headless
machine imports Google's authorized-user JSON instead (:func:`authorized_user_grant`).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import google.oauth2.reauth

from app.google.loopback import Redirect, open_in_browser
from app.google.oauth_files import REQUIRED_FIELDS, load_client_file, read_json
from app.google.scopes import IDENTITY_SCOPES, scope_list, scopes_for
from app.google.token_endpoint import auth_request, email_of, str_or_none, token_endpoint_error
from app.settings.schema import GoogleSettings
from app.shared.errors import GoogleCode, GoogleError

log = logging.getLogger(__name__)

DEFAULT_LOGIN_TIMEOUT_S = 300.0


@dataclass(frozen=True, slots=True)
class Grant:
    """What a finished sign-in hands over to be kept. Holds secrets: never log or show it."""

    client_id: str
    client_secret: str
    refresh_token: str
    granted: list[str]
    email: str | None


def browser_grant(
    settings: GoogleSettings,
    stored: Callable[[], Mapping[str, Any] | None],
    client_file: Path | None,
    *,
    open_browser: bool,
    port: int,
    timeout_s: float,
    on_url: Callable[[str], None] | None,
) -> Grant:
    """Sign in through the browser (see :meth:`~app.google.auth.GoogleAccount.login`).

    ``stored`` reads the sign-in kept so far: its account is the login hint, and its refresh
    token is reused when Google hands out none for the same client.
    """
    from google_auth_oauthlib.flow import Flow  # type: ignore[import-untyped, unused-ignore]

    needed = scopes_for(settings)
    if not needed:
        raise GoogleError(
            GoogleCode.NOTHING_TO_GRANT,
            "google.calendar and google.mail are both off, so Hark needs no Google access. "
            "Turn one on in the settings, then run `hark google login`.",
        )
    path = client_file or settings.client_file
    client = load_client_file(path)
    client["auth_uri"] = settings.auth_uri
    client["token_uri"] = settings.token_uri
    asked = sorted(set(needed) | set(IDENTITY_SCOPES))
    flow = Flow.from_client_config({"installed": client}, scopes=asked)
    previous = stored()
    extra: dict[str, str] = {"include_granted_scopes": "true", "prompt": "consent"}
    if previous and previous.get("account"):
        extra["login_hint"] = str(previous["account"])
    with Redirect(port) as redirect:
        flow.redirect_uri = redirect.uri
        try:
            auth_url, state = flow.authorization_url(**extra)
        except Exception as exc:
            raise token_endpoint_error(exc, "start signing in") from exc
        log.info("Google sign-in: waiting for the browser on %s", redirect.uri)
        if on_url is not None:
            on_url(auth_url)
        if open_browser:
            open_in_browser(auth_url)
        code = redirect.wait(state, timeout_s)
    token = _exchange(flow, code, settings.timeout_s)
    refresh = token.get("refresh_token") or (
        previous["refresh_token"]
        if previous and previous.get("client_id") == client["client_id"]
        else None
    )
    if not refresh:
        raise GoogleError(
            GoogleCode.LOGIN_FAILED,
            "Google did not hand out a refresh token. Remove Hark's access at "
            "https://myaccount.google.com/permissions and run `hark google login` again.",
        )
    granted = scope_list(token.get("scope")) or asked
    email = email_of(token.get("id_token"))
    return Grant(client["client_id"], client["client_secret"], refresh, granted, email)


def _exchange(flow: Any, code: str, timeout_s: float) -> dict[str, Any]:
    """Trade the authorization code (and the PKCE verifier) for tokens."""
    try:
        with contextlib.closing(flow.oauth2session):
            return dict(flow.fetch_token(code=code, timeout=timeout_s))
    except Warning as exc:  # oauthlib: "Scope has changed" — the user chose, or more was
        token = getattr(exc, "token", None)  # granted before; the token is still good
        if token is None:
            raise
        return dict(token)
    except Exception as exc:
        raise token_endpoint_error(exc, "finish signing in") from exc


def authorized_user_grant(settings: GoogleSettings, path: Path) -> Grant:
    """The sign-in in Google's authorized-user JSON (for machines without a browser), after
    one refresh proves Google accepts it and tells what it grants."""
    info = read_json(path, "authorized-user file")
    kind = info.get("type", "authorized_user")
    if kind != "authorized_user":
        raise GoogleError(
            GoogleCode.AUTHORIZED_USER_INVALID,
            f"{path} is a {kind!r} credential, not an authorized-user file (a service "
            "account cannot read a person's calendar or mail). Use the JSON written for your "
            "own account, e.g. by `gcloud auth application-default login "
            "--client-id-file=CLIENT.json --scopes=...`.",
        )
    absent = [k for k in REQUIRED_FIELDS if not isinstance(info.get(k), str) or not info[k]]
    if absent:
        raise GoogleError(
            GoogleCode.AUTHORIZED_USER_INVALID,
            f"{path} lacks {', '.join(absent)}. An authorized-user file holds client_id, "
            "client_secret, refresh_token and token_uri (Google's 'authorized_user' JSON).",
        )
    refresh_grant = google.oauth2.reauth.refresh_grant
    try:
        with auth_request(settings.timeout_s) as request:
            _access, rotated, _expiry, answer, _rapt = refresh_grant(  # type: ignore[no-untyped-call]
                request,
                settings.token_uri,
                info["refresh_token"],
                info["client_id"],
                info["client_secret"],
            )
    except Exception as exc:
        raise token_endpoint_error(exc, "check the authorized-user file") from exc
    granted = scope_list(answer.get("scope")) or scope_list(info.get("scopes"))
    email = email_of(answer.get("id_token")) or str_or_none(info.get("account"))
    refresh = rotated or info["refresh_token"]
    return Grant(info["client_id"], info["client_secret"], refresh, granted, email)
