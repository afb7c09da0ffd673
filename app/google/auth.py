"""The Google account: signing in and out, keeping the sign-in, and knowing what it allows.

Hark asks only for the scopes the enabled features need (:mod:`app.google.scopes`), plus
``openid`` and the account's email address so it can say which account is connected. Turning a
feature on later asks for more with the same sign-in (incremental authorization,
``include_granted_scopes``). How a sign-in is obtained is in :mod:`app.google.login`.

What is kept: the authorized-user JSON (client id and secret, refresh token, token URI, the
granted scopes, the account's email) in the OS keyring as the secret ``google-token``. Access
tokens live in memory only; google-auth refreshes them at ``google.token_uri`` when they
expire, and a refresh token Google rotates is written back to the keyring. ``google.token_uri``
and ``google.auth_uri`` always win over the URIs in a client or authorized-user file, so a
proxy (or a test server) set in the settings is used for everything.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import google.auth.exceptions
import google.oauth2.credentials

from app.google.login import DEFAULT_LOGIN_TIMEOUT_S, Grant, authorized_user_grant, browser_grant
from app.google.oauth_files import REQUIRED_FIELDS
from app.google.scopes import AccountStatus, scope_list, scopes_for
from app.google.token_endpoint import auth_request, str_or_none
from app.settings.schema import GoogleSettings
from app.settings.secrets import SecretStore
from app.shared.errors import GoogleCode, GoogleError

log = logging.getLogger(__name__)

TOKEN_SECRET = "google-token"


class _KeptCredentials(google.oauth2.credentials.Credentials):
    """google-auth credentials that tell the account when a refresh changed what it keeps
    (Google may rotate the refresh token)."""

    def __init__(
        self, *args: Any, on_refresh: Callable[[Any], None] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[no-untyped-call]
        self._on_refresh = on_refresh

    def refresh(self, request: Any) -> None:
        before = self.refresh_token
        super().refresh(request)  # type: ignore[no-untyped-call]
        if self._on_refresh is not None and self.refresh_token and self.refresh_token != before:
            self._on_refresh(self)

    def _make_copy(self) -> Any:
        copy = super()._make_copy()  # type: ignore[no-untyped-call]
        copy._on_refresh = self._on_refresh
        return copy


class GoogleAccount:
    """The one Google account Hark acts for: sign in, sign out, and credentials for the APIs.

    Calendar and Gmail share :meth:`credentials`, so both use one access token that lives in
    memory and is refreshed as needed.
    """

    def __init__(self, settings: GoogleSettings, secrets: SecretStore) -> None:
        self._settings = settings
        self._secrets = secrets
        self._lock = threading.Lock()
        self._creds: google.oauth2.credentials.Credentials | None = None

    # --- what is stored -------------------------------------------------------------------

    def _stored(self) -> dict[str, Any] | None:
        raw = self._secrets.get(TOKEN_SECRET)
        if not raw:
            return None
        try:
            info = json.loads(raw)
        except ValueError:
            log.warning("the stored Google sign-in (%s) is not JSON; ignoring it", TOKEN_SECRET)
            return None
        if not isinstance(info, dict) or not all(
            isinstance(info.get(k), str) and info[k] for k in REQUIRED_FIELDS
        ):
            log.warning("the stored Google sign-in (%s) is incomplete; ignoring it", TOKEN_SECRET)
            return None
        return info

    def _store(self, info: Mapping[str, Any]) -> None:
        self._secrets.set(TOKEN_SECRET, json.dumps(dict(info), sort_keys=True))

    @property
    def connected(self) -> bool:
        """A sign-in is stored (whether Google still accepts it shows at the next call)."""
        return self._stored() is not None

    def granted_scopes(self) -> frozenset[str]:
        info = self._stored()
        return frozenset(scope_list(info.get("scopes"))) if info else frozenset()

    def missing_scopes(self) -> list[str]:
        """Scopes the enabled features need that the sign-in does not grant."""
        granted = self.granted_scopes()
        return [s for s in scopes_for(self._settings) if s not in granted]

    def status(self) -> AccountStatus:
        """Where the account stands, from what is stored (no network)."""
        info = self._stored()
        needed = tuple(scopes_for(self._settings))
        if info is None:
            return AccountStatus(False, None, (), needed, needed)
        granted = frozenset(scope_list(info.get("scopes")))
        return AccountStatus(
            True,
            str_or_none(info.get("account")),
            tuple(sorted(granted)),
            tuple(s for s in needed if s not in granted),
            needed,
        )

    def credentials(self) -> google.oauth2.credentials.Credentials:
        """Credentials for Calendar and Gmail calls; the first call fetches an access token.

        Raises ``GoogleError(GoogleCode.NOT_CONNECTED)`` when no sign-in is stored.
        """
        with self._lock:
            if self._creds is not None:
                return self._creds
            info = self._stored()
            if info is None:
                raise GoogleError(
                    GoogleCode.NOT_CONNECTED,
                    "Hark is not connected to a Google account. Run `hark google login` "
                    "(or `hark google login --authorized-user FILE` on a machine without a "
                    "browser).",
                )
            scopes = scope_list(info.get("scopes")) or None
            self._creds = _KeptCredentials(
                token=None,
                refresh_token=info["refresh_token"],
                token_uri=self._settings.token_uri,
                client_id=info["client_id"],
                client_secret=info["client_secret"],
                scopes=scopes,
                account=info.get("account") or "",
                on_refresh=self._remember_rotation,
            )
            return self._creds

    def _remember_rotation(self, creds: Any) -> None:
        try:
            info = self._stored()
            if info is None or not creds.refresh_token:
                return
            info["refresh_token"] = creds.refresh_token
            self._store(info)
            log.info("Google issued a new refresh token; stored it in the keyring")
        except Exception as exc:  # the call itself worked; keep going with the new token
            log.warning("could not store Google's new refresh token: %s", type(exc).__name__)

    # --- signing in -----------------------------------------------------------------------

    def login(
        self,
        client_file: Path | None = None,
        *,
        open_browser: bool = True,
        port: int = 0,
        timeout_s: float = DEFAULT_LOGIN_TIMEOUT_S,
        on_url: Callable[[str], None] | None = None,
    ) -> AccountStatus:
        """Sign in through the browser and keep the refresh token.

        Asks for :func:`~app.google.scopes.scopes_for` (plus identity); what was granted before
        stays granted (``include_granted_scopes``). ``prompt=consent`` makes Google show the
        consent screen every time, so the user sees what is asked and Google always returns a
        refresh token. The URL to open goes to ``on_url`` (the browser is opened too unless
        ``open_browser`` is false); the loopback server on 127.0.0.1 (``port`` 0: any free one)
        waits at most ``timeout_s`` for Google's redirect.
        """
        grant = browser_grant(
            self._settings,
            self._stored,
            client_file,
            open_browser=open_browser,
            port=port,
            timeout_s=timeout_s,
            on_url=on_url,
        )
        return self._keep(grant)

    def import_authorized_user(self, path: Path) -> AccountStatus:
        """Keep a refresh token from Google's authorized-user JSON (for machines without a
        browser), after one refresh proves Google accepts it and tells what it grants."""
        return self._keep(authorized_user_grant(self._settings, path))

    def _keep(self, grant: Grant) -> AccountStatus:
        info: dict[str, Any] = {
            "type": "authorized_user",
            "client_id": grant.client_id,
            "client_secret": grant.client_secret,
            "refresh_token": grant.refresh_token,
            "token_uri": self._settings.token_uri,
            "scopes": sorted(set(grant.granted)),
        }
        if grant.email:
            info["account"] = grant.email
        with self._lock:
            self._store(info)
            self._creds = None
        status = self.status()
        log.info(
            "Google account connected (%d scopes granted, %d missing)",
            len(status.granted),
            len(status.missing),
        )
        return status

    # --- signing out ----------------------------------------------------------------------

    def logout(self, *, on_warning: Callable[[str], None] | None = None) -> bool:
        """Revoke the sign-in at Google and forget it. Returns False when none was stored.

        A revocation that fails (offline, already revoked) is reported to ``on_warning`` (or
        logged) and does not stop the local sign-in from being deleted.
        """
        info = self._stored()
        raw = self._secrets.get(TOKEN_SECRET)
        if raw is None:
            return False
        warn = on_warning or (lambda message: log.warning("%s", message))
        if info is not None:
            problem = self._revoke(info["refresh_token"])
            if problem:
                warn(
                    f"Google did not confirm the revocation ({problem}); the sign-in was deleted "
                    "here. To be sure, remove Hark at https://myaccount.google.com/permissions."
                )
        with self._lock:
            self._secrets.delete(TOKEN_SECRET)
            self._creds = None
        return True

    def _revoke(self, token: str) -> str | None:
        """POST the token to ``<token_uri origin>/revoke``; returns a problem, or None."""
        parts = urlsplit(self._settings.token_uri)
        url = f"{parts.scheme}://{parts.netloc}/revoke?" + urlencode({"token": token})
        try:
            with auth_request(self._settings.timeout_s) as request:
                response = request(
                    url,
                    method="POST",
                    headers={"Content-Type": "application/x-www-form-urlencoded"},
                )
        except google.auth.exceptions.TransportError as exc:
            return f"could not reach {parts.netloc}: {type(exc).__name__}"
        if response.status == 200:
            return None
        try:
            error = json.loads(response.data or b"{}").get("error")
        except (ValueError, AttributeError):
            error = None
        return f"HTTP {response.status}" + (f", {error}" if error else "")
