"""The fake Google OAuth part: the token endpoint (``POST /token``) and revocation
(``POST /revoke``) as Google's authorization server speaks them, plus the consent step a test
plays in place of the user's browser.

Protocol, as Google documents it for installed apps:

- ``POST /token`` (form-encoded). ``grant_type=authorization_code`` with ``code``,
  ``redirect_uri``, ``code_verifier`` (PKCE, checked against the S256 ``code_challenge`` of the
  consent) and the client (``client_id``/``client_secret`` in the body, or HTTP Basic);
  ``grant_type=refresh_token`` with ``refresh_token``, the client, and an optional ``scope``
  (a subset of the grant). Answers ``{"access_token", "expires_in", "scope", "token_type",
  "refresh_token" (code grant only, or on rotation), "id_token" (with ``openid``)}``; errors are
  ``{"error", "error_description"}``: ``invalid_grant`` 400, ``invalid_client`` 401,
  ``invalid_scope`` / ``invalid_request`` / ``unsupported_grant_type`` 400.
- ``POST /revoke?token=...`` (or the token in a form body): an access or refresh token; either
  revokes the whole grant. 200 ``{}``, or 400 ``{"error": "invalid_token"}``.

Scripting::

    code = fake.oauth.approve(auth_url)               # the user clicks "Allow"
    urlopen(fake.oauth.redirect_url(auth_url, code))  # the browser follows the redirect
    info = fake.oauth.authorized_user(SCOPES, email="ada@example.com", token_uri=...)
    fake.oauth.expire_access_tokens(); fake.oauth.revoke_all()
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

if TYPE_CHECKING:
    from tests.fakes.google import FakeRequest, FakeResponse

CLIENT_ID = "1234567890-fakeclient.apps.googleusercontent.com"
CLIENT_SECRET = "GOCSPX-fake-client-secret"
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"
GOOGLE_AUTH_URI = "https://accounts.google.com/o/oauth2/auth"
IDENTITY_SCOPES = frozenset({"openid", "https://www.googleapis.com/auth/userinfo.email", "email"})
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]", "::1"})


@dataclass
class _Grant:
    """What one consent gave one client: the refresh token's meaning."""

    client_id: str
    scopes: frozenset[str]
    email: str | None
    subject: str = field(default_factory=lambda: str(secrets.randbelow(10**20)))
    revoked: bool = False


@dataclass
class _Code:
    client_id: str
    redirect_uri: str
    scopes: frozenset[str]
    challenge: str | None
    method: str | None
    email: str | None
    used: bool = False


@dataclass
class _Access:
    scopes: frozenset[str]
    grant: _Grant | None
    expires_at: float


class FakeOAuth:
    """Google's authorization server, as far as Hark talks to it. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._access: dict[str, _Access] = {}
        self._clients: dict[str, str] = {CLIENT_ID: CLIENT_SECRET}
        self._codes: dict[str, _Code] = {}
        self._refresh: dict[str, _Grant] = {}
        self.token_uri = GOOGLE_TOKEN_URI
        """Written into :meth:`client_config` and :meth:`authorized_user` unless one is given
        (the server sets it to its own ``/token`` when it knows its address)."""
        self.access_token_lifetime_s = 3599
        self.rotate_refresh_tokens = False
        """When true, every refresh answers a new refresh token and retires the old one."""
        self.refresh_count = 0
        """Successful ``refresh_token`` grants."""
        self.code_exchange_count = 0
        """Successful ``authorization_code`` grants."""
        self.revoked_count = 0
        self.token_requests: list[dict[str, str]] = []
        """Every ``/token`` form, secrets masked (``grant_type``, ``client_id``, ``scope``...)."""

    # --- scripting: clients and consent ---------------------------------------------------

    def add_client(self, client_id: str | None = None, client_secret: str | None = None) -> str:
        """Register another OAuth client; returns its id."""
        cid = client_id or f"{secrets.randbelow(10**12)}-fake.apps.googleusercontent.com"
        with self._lock:
            self._clients[cid] = client_secret or "GOCSPX-" + secrets.token_urlsafe(12)
        return cid

    def client_secret_of(self, client_id: str = CLIENT_ID) -> str:
        with self._lock:
            return self._clients[client_id]

    def client_config(
        self,
        kind: str = "installed",
        *,
        client_id: str = CLIENT_ID,
        token_uri: str | None = None,
        auth_uri: str = GOOGLE_AUTH_URI,
    ) -> dict[str, Any]:
        """The client secrets JSON the Cloud console's "Download JSON" gives for this client."""
        return {
            kind: {
                "client_id": client_id,
                "project_id": "hark-test",
                "auth_uri": auth_uri,
                "token_uri": token_uri or self.token_uri,
                "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
                "client_secret": self.client_secret_of(client_id),
                "redirect_uris": ["http://localhost"],
            }
        }

    def approve(
        self,
        auth_url_or_params: str | Mapping[str, str],
        scopes: Iterable[str] | None = None,
        *,
        email: str | None = "user@example.com",
    ) -> str:
        """Play the user pressing "Allow" on the consent screen; returns the authorization code.

        ``scopes`` narrows what the user ticked (default: everything asked for). With
        ``include_granted_scopes=true`` the code also carries what this user already granted
        the client. Raises ``ValueError`` where Google would show an error page instead.
        """
        params = _params(auth_url_or_params)
        client_id = params.get("client_id", "")
        redirect_uri = params.get("redirect_uri", "")
        with self._lock:
            if client_id not in self._clients:
                raise ValueError("Error 401: invalid_client (The OAuth client was not found.)")
        if params.get("response_type") != "code":
            raise ValueError("Error 400: invalid_request (response_type must be code)")
        host = urlsplit(redirect_uri).hostname or ""
        if urlsplit(redirect_uri).scheme != "http" or host not in LOOPBACK_HOSTS:
            raise ValueError(
                "Error 400: redirect_uri_mismatch (a Desktop client redirects "
                "to a loopback address)"
            )
        method = params.get("code_challenge_method")
        challenge = params.get("code_challenge")
        if challenge is not None and method not in ("S256", "plain", None):
            raise ValueError("Error 400: invalid_request (code_challenge_method)")
        asked = frozenset(params.get("scope", "").split())
        if not asked:
            raise ValueError("Error 400: invalid_request (Missing required parameter: scope)")
        chosen = asked if scopes is None else frozenset(scopes)
        if not chosen <= asked:
            raise ValueError("the user cannot grant scopes that were not asked for")
        if params.get("include_granted_scopes") == "true":
            with self._lock:
                for grant in self._refresh.values():
                    if grant.client_id == client_id and grant.email == email and not grant.revoked:
                        chosen |= grant.scopes
        code = "4/0Afake-" + secrets.token_urlsafe(24)
        with self._lock:
            self._codes[code] = _Code(
                client_id, redirect_uri, chosen, challenge, method or "plain", email
            )
        return code

    @staticmethod
    def redirect_url(
        auth_url_or_params: str | Mapping[str, str],
        code: str | None = None,
        *,
        error: str | None = None,
        state: str | None = None,
    ) -> str:
        """Where the browser goes after consent: ``redirect_uri?code=...&state=...`` (or
        ``?error=access_denied`` when the user pressed Cancel)."""
        params = _params(auth_url_or_params)
        answer: dict[str, str] = {}
        if code is not None:
            answer["code"] = code
            answer["scope"] = params.get("scope", "")
        if error is not None:
            answer["error"] = error
        answer["state"] = state if state is not None else params.get("state", "")
        return params["redirect_uri"] + "?" + urlencode(answer)

    def authorized_user(
        self,
        scopes: Iterable[str],
        *,
        email: str | None = None,
        client_id: str = CLIENT_ID,
        token_uri: str | None = None,
    ) -> dict[str, Any]:
        """A refresh token the fake honours, in Google's authorized-user JSON shape (with
        ``account`` when an email is given; the ID token names it too if ``openid`` and the
        email scope are among ``scopes``)."""
        refresh = self._new_grant(client_id, frozenset(scopes), email)
        info = {
            "type": "authorized_user",
            "client_id": client_id,
            "client_secret": self.client_secret_of(client_id),
            "refresh_token": refresh,
            "token_uri": token_uri or self.token_uri,
        }
        if email:
            info["account"] = email  # as google-auth's Credentials.to_json() writes it
        return info

    def credentials(
        self,
        scopes: Iterable[str],
        *,
        email: str | None = None,
        token_uri: str | None = None,
    ) -> Any:
        """``google.oauth2.credentials.Credentials`` holding a refresh token the fake honours
        (no access token yet: the first call refreshes)."""
        from google.oauth2.credentials import Credentials

        scopes = sorted(scopes)
        info = self.authorized_user(scopes, email=email, token_uri=token_uri)
        # not from_authorized_user_info: google-auth pins that to Google's own token URI
        return Credentials(
            None,
            refresh_token=info["refresh_token"],
            token_uri=info["token_uri"],
            client_id=info["client_id"],
            client_secret=info["client_secret"],
            scopes=scopes,
        )

    def issue_access_token(self, scopes: Iterable[str]) -> str:
        """A valid access token with these scopes (for tests that need no refresh)."""
        return self._issue(frozenset(scopes), None)

    def scopes_of(self, token: str) -> frozenset[str] | None:
        """The scopes of a valid access token; ``None`` for an unknown, expired or revoked one."""
        with self._lock:
            access = self._access.get(token)
            if access is None or access.expires_at <= time.time():
                return None
            if access.grant is not None and access.grant.revoked:
                return None
            return access.scopes

    def expire_access_tokens(self) -> None:
        """Every access token issued so far expires now (refresh tokens stay good)."""
        with self._lock:
            for access in self._access.values():
                access.expires_at = 0.0

    def revoke_all(self) -> None:
        """The user removed the app's access (or a Testing consent's 7 days ran out)."""
        with self._lock:
            for grant in self._refresh.values():
                grant.revoked = True

    def refresh_token_valid(self, refresh_token: str) -> bool:
        with self._lock:
            grant = self._refresh.get(refresh_token)
            return grant is not None and not grant.revoked

    def granted(self, refresh_token: str) -> frozenset[str]:
        """The scopes behind a refresh token (empty for an unknown one)."""
        with self._lock:
            grant = self._refresh.get(refresh_token)
            return grant.scopes if grant is not None else frozenset()

    # --- the wire protocol ----------------------------------------------------------------

    def handle(self, request: FakeRequest) -> FakeResponse | None:
        if request.path == "/token":
            if request.method != "POST":
                return _error(405, "invalid_request", "Use POST.")
            return self._token(request)
        if request.path == "/revoke":
            if request.method != "POST":
                return _error(405, "invalid_request", "Use POST.")
            return self._revoke(request)
        return None

    def _token(self, request: FakeRequest) -> FakeResponse:
        form = _form(request)
        with self._lock:
            self.token_requests.append(
                {k: ("***" if k in _SECRET_FIELDS else v) for k, v in form.items()}
            )
        client_id, client_secret = _client_auth(request, form)
        with self._lock:
            known = self._clients.get(client_id or "")
        if known is None or client_secret != known:
            return _error(401, "invalid_client", "The OAuth client was not found.")
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            return self._code_grant(client_id or "", form)
        if grant_type == "refresh_token":
            return self._refresh_grant(client_id or "", form)
        return _error(400, "unsupported_grant_type", "Invalid grant_type: " + str(grant_type))

    def _code_grant(self, client_id: str, form: Mapping[str, str]) -> FakeResponse:
        code = form.get("code")
        if not code:
            return _error(400, "invalid_request", "Missing required parameter: code")
        with self._lock:
            pending = self._codes.get(code)
            if pending is None or pending.used or pending.client_id != client_id:
                return _error(400, "invalid_grant", "Malformed auth code.")
            if form.get("redirect_uri") != pending.redirect_uri:
                return _error(400, "redirect_uri_mismatch", "Bad Request")
            if pending.challenge is not None:
                verifier = form.get("code_verifier")
                if not verifier:
                    return _error(400, "invalid_grant", "Missing code verifier.")
                if _challenge(verifier, pending.method) != pending.challenge:
                    return _error(400, "invalid_grant", "Invalid code verifier.")
            pending.used = True
        refresh = self._new_grant(client_id, pending.scopes, pending.email)
        with self._lock:
            grant = self._refresh[refresh]
            self.code_exchange_count += 1
        body = self._token_body(grant, pending.scopes)
        body["refresh_token"] = refresh
        body["refresh_token_expires_in"] = 604799
        return _ok(body)

    def _refresh_grant(self, client_id: str, form: Mapping[str, str]) -> FakeResponse:
        refresh = form.get("refresh_token")
        if not refresh:
            return _error(400, "invalid_request", "Missing required parameter: refresh_token")
        with self._lock:
            grant = self._refresh.get(refresh)
            if grant is None or grant.revoked:
                return _error(400, "invalid_grant", "Token has been expired or revoked.")
            if grant.client_id != client_id:
                return _error(400, "unauthorized_client", "Unauthorized")
        scopes = grant.scopes
        if form.get("scope"):
            asked = frozenset(form["scope"].split())
            if not asked <= grant.scopes:
                return _error(400, "invalid_scope", "Bad Request")
            scopes = asked
        body = self._token_body(grant, scopes)
        with self._lock:
            self.refresh_count += 1
            if self.rotate_refresh_tokens:
                new = "1//0fake-" + secrets.token_urlsafe(32)
                self._refresh[new] = grant
                del self._refresh[refresh]
                body["refresh_token"] = new
        return _ok(body)

    def _token_body(self, grant: _Grant, scopes: frozenset[str]) -> dict[str, Any]:
        body: dict[str, Any] = {
            "access_token": self._issue(scopes, grant),
            "expires_in": self.access_token_lifetime_s,
            "scope": " ".join(sorted(scopes)),
            "token_type": "Bearer",
        }
        if "openid" in scopes:
            body["id_token"] = _id_token(grant, scopes)
        return body

    def _revoke(self, request: FakeRequest) -> FakeResponse:
        token = request.arg("token") or _form(request).get("token")
        with self._lock:
            grant = self._refresh.get(token or "")
            if grant is None and token in self._access:
                grant = self._access[token].grant
                if grant is None:  # an access token issued without a grant
                    del self._access[token]
                    self.revoked_count += 1
                    return _ok({})
            if grant is None or grant.revoked:
                return _error(400, "invalid_token", "Token expired or revoked")
            grant.revoked = True
            self.revoked_count += 1
        return _ok({})

    # --- internals ------------------------------------------------------------------------

    def _new_grant(self, client_id: str, scopes: frozenset[str], email: str | None) -> str:
        refresh = "1//0fake-" + secrets.token_urlsafe(32)
        with self._lock:
            self._refresh[refresh] = _Grant(client_id, scopes, email)
        return refresh

    def _issue(self, scopes: frozenset[str], grant: _Grant | None) -> str:
        token = "ya29.fake-" + secrets.token_urlsafe(24)
        with self._lock:
            expires = time.time() + self.access_token_lifetime_s
            self._access[token] = _Access(scopes, grant, expires)
        return token


_SECRET_FIELDS = frozenset({"client_secret", "code", "code_verifier", "refresh_token"})


def _params(auth_url_or_params: str | Mapping[str, str]) -> dict[str, str]:
    if isinstance(auth_url_or_params, str):
        query = parse_qs(urlsplit(auth_url_or_params).query, keep_blank_values=True)
        return {k: v[0] for k, v in query.items()}
    return dict(auth_url_or_params)


def _form(request: FakeRequest) -> dict[str, str]:
    ctype = request.headers.get("content-type", "")
    if request.body and "json" in ctype:
        data = request.json()
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}
    parsed = parse_qs(request.body.decode("utf-8", "replace"), keep_blank_values=True)
    return {k: v[0] for k, v in parsed.items()}


def _client_auth(request: FakeRequest, form: Mapping[str, str]) -> tuple[str | None, str | None]:
    """``client_secret_basic`` (an Authorization header) or ``client_secret_post`` (the form)."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("basic "):
        try:
            raw = base64.b64decode(header[6:].strip()).decode("utf-8")
        except ValueError:
            return None, None
        cid, _, secret = raw.partition(":")
        return unquote(cid), unquote(secret)
    return form.get("client_id"), form.get("client_secret")


def _challenge(verifier: str, method: str | None) -> str:
    if method == "S256":
        digest = hashlib.sha256(verifier.encode("ascii")).digest()
        return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")
    return verifier


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _id_token(grant: _Grant, scopes: frozenset[str]) -> str:
    """A JWT shaped like Google's ID token (the signature is random: clients that take it
    straight from the token endpoint over TLS need not check it)."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": "https://accounts.google.com",
        "aud": grant.client_id,
        "azp": grant.client_id,
        "sub": grant.subject,
        "iat": now,
        "exp": now + 3600,
    }
    if grant.email and scopes & {"email", "https://www.googleapis.com/auth/userinfo.email"}:
        claims["email"] = grant.email
        claims["email_verified"] = True
    header = {"alg": "RS256", "kid": "fake", "typ": "JWT"}
    parts = [json.dumps(header).encode(), json.dumps(claims).encode(), secrets.token_bytes(64)]
    return ".".join(_b64(p) for p in parts)


def _ok(body: dict[str, Any]) -> FakeResponse:
    from tests.fakes.google import FakeResponse

    return FakeResponse(200, body, {"Cache-Control": "no-cache, no-store, max-age=0"})


def _error(status: int, error: str, description: str) -> FakeResponse:
    from tests.fakes.google import FakeResponse

    return FakeResponse(status, {"error": error, "error_description": description})


class ConsentBrowser:
    """Plays the user's browser: shown the authorization URL, it consents at the fake (or
    cancels) and follows Google's redirect back to the program, on a thread of its own (the
    program is blocked waiting for that redirect).

    Pass :meth:`open` as the ``on_url`` callback, or register the instance with
    ``webbrowser.register(name, None, browser)``. After the program returns, :meth:`join`
    re-raises anything that went wrong on the browser's side.
    """

    def __init__(
        self,
        oauth: FakeOAuth,
        *,
        scopes: Iterable[str] | None = None,
        email: str | None = "user@example.com",
        error: str | None = None,
        wrong_state_first: bool = False,
    ) -> None:
        self.oauth = oauth
        self.scopes = scopes
        self.email = email
        self.error = error
        self.wrong_state_first = wrong_state_first
        self.urls: list[str] = []
        """Authorization URLs shown to the browser."""
        self.pages: list[tuple[int, str]] = []
        """``(status, body)`` of each redirect the program answered."""
        self._threads: list[threading.Thread] = []
        self._errors: list[BaseException] = []

    def open(self, url: str, new: int = 0, autoraise: bool = True) -> bool:
        self.urls.append(url)
        thread = threading.Thread(target=self._consent, args=(url,), daemon=True)
        self._threads.append(thread)
        thread.start()
        return True

    def open_new(self, url: str) -> bool:
        return self.open(url, 1)

    def open_new_tab(self, url: str) -> bool:
        return self.open(url, 2)

    def _consent(self, url: str) -> None:
        try:
            if self.wrong_state_first:
                self._get(self.oauth.redirect_url(url, "4/0Aforged", state="forged"))
            if self.error is not None:
                self._get(self.oauth.redirect_url(url, error=self.error))
            else:
                code = self.oauth.approve(url, self.scopes, email=self.email)
                self._get(self.oauth.redirect_url(url, code))
        except BaseException as exc:  # reported by join()
            self._errors.append(exc)

    def _get(self, url: str) -> None:
        from urllib.error import HTTPError
        from urllib.request import urlopen

        try:
            with urlopen(url, timeout=30) as response:
                self.pages.append((response.status, response.read().decode("utf-8", "replace")))
        except HTTPError as exc:
            self.pages.append((exc.code, exc.read().decode("utf-8", "replace")))

    def join(self, timeout: float = 30) -> None:
        for thread in self._threads:
            thread.join(timeout)
            if thread.is_alive():
                raise AssertionError("the browser is still waiting for the redirect to finish")
        if self._errors:
            raise self._errors[0]
