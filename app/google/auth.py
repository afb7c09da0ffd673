"""The Google account: signing in (OAuth for installed apps), keeping the sign-in, and knowing
what it allows.

Hark asks only for the scopes the enabled features need (:func:`scopes_for`), plus ``openid``
and the account's email address so it can say which account is connected. Turning a feature on
later asks for more with the same sign-in (incremental authorization,
``include_granted_scopes``).

Sign-in runs the installed-app flow from google-auth-oauthlib: a loopback redirect on
127.0.0.1, PKCE (S256) and a ``state`` check, from the client secrets JSON of the user's own
Google Cloud project (a *Desktop app* OAuth client). A headless machine imports Google's
authorized-user JSON instead (:meth:`GoogleAccount.import_authorized_user`).

What is kept: the authorized-user JSON (client id and secret, refresh token, token URI, the
granted scopes, the account's email) in the OS keyring as the secret ``google-token``. Access
tokens live in memory only; google-auth refreshes them at ``google.token_uri`` when they
expire, and a refresh token Google rotates is written back to the keyring. ``google.token_uri``
and ``google.auth_uri`` always win over the URIs in a client or authorized-user file, so a
proxy (or a test server) set in the settings is used for everything.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import sys
import threading
import time
import webbrowser
import wsgiref.simple_server
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import google.auth.exceptions
import google.auth.jwt
import google.auth.transport.requests
import google.oauth2.credentials
import google.oauth2.reauth

from app.google.api import reconnect_error
from app.settings.schema import GoogleSettings
from app.settings.secrets import SecretStore
from app.shared.errors import GoogleCode, GoogleError

log = logging.getLogger(__name__)

TOKEN_SECRET = "google-token"
SCOPE_PREFIX = "https://www.googleapis.com/auth/"
CALENDAR_READ = SCOPE_PREFIX + "calendar.readonly"
CALENDAR_EVENTS = SCOPE_PREFIX + "calendar.events"
GMAIL_READ = SCOPE_PREFIX + "gmail.readonly"
GMAIL_COMPOSE = SCOPE_PREFIX + "gmail.compose"
GMAIL_SEND = SCOPE_PREFIX + "gmail.send"
GMAIL_MODIFY = SCOPE_PREFIX + "gmail.modify"
IDENTITY_SCOPES = ("openid", SCOPE_PREFIX + "userinfo.email")
"""Asked for at every sign-in so Hark can name the account; never counted as missing."""

CALENDAR_SCOPES: dict[str, tuple[str, ...]] = {
    "off": (),
    "read": (CALENDAR_READ,),
    "write": (CALENDAR_READ, CALENDAR_EVENTS),
}
MAIL_SCOPES: dict[str, tuple[str, ...]] = {
    "off": (),
    "read": (GMAIL_READ,),
    "compose": (GMAIL_READ, GMAIL_COMPOSE),
    "send": (GMAIL_READ, GMAIL_COMPOSE, GMAIL_SEND, GMAIL_MODIFY),
}
DEFAULT_LOGIN_TIMEOUT_S = 300.0
CLIENT_HOWTO = (
    "Get one in the Google Cloud console: APIs & Services → Credentials → Create credentials → "
    "OAuth client ID → Application type 'Desktop app' → Download JSON; then set google.client_file "
    "to that file (or pass --client-file FILE)."
)
SUCCESS_PAGE = (
    "<!doctype html><meta charset=utf-8><title>Hark</title>"
    "<p>Hark is connected to your Google account. You can close this window.</p>"
)


def scopes_for(settings: GoogleSettings) -> list[str]:
    """The OAuth scopes the enabled features need, and no more (least privilege)."""
    wanted = CALENDAR_SCOPES[settings.calendar] + MAIL_SCOPES[settings.mail]
    return sorted(set(wanted))


def short_scope(scope: str) -> str:
    """``https://www.googleapis.com/auth/gmail.send`` → ``gmail.send`` (for people to read)."""
    return scope.removeprefix(SCOPE_PREFIX)


@dataclass(frozen=True, slots=True)
class AccountStatus:
    """Where the Google account stands: what was granted and what the settings still need.
    Holds no token, so it is safe to print or send to the GUI."""

    connected: bool
    email: str | None = None
    granted: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    needed: tuple[str, ...] = ()

    @property
    def advice(self) -> str | None:
        """What to do next, for a person (None when nothing is to be done)."""
        if not self.connected:
            return "run `hark google login` to connect" if self.needed else None
        if self.missing:
            names = ", ".join(short_scope(s) for s in self.missing)
            return f"run `hark google login` to grant {names}"
        return None

    def as_dict(self) -> dict[str, Any]:
        return {
            "connected": self.connected,
            "email": self.email,
            "granted": list(self.granted),
            "needed": list(self.needed),
            "missing": list(self.missing),
            "advice": self.advice,
        }


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
            isinstance(info.get(k), str) and info[k] for k in _REQUIRED_FIELDS
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
        return frozenset(_scope_list(info.get("scopes"))) if info else frozenset()

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
        granted = frozenset(_scope_list(info.get("scopes")))
        return AccountStatus(
            True,
            _str_or_none(info.get("account")),
            tuple(sorted(granted)),
            tuple(s for s in needed if s not in granted),
            needed,
        )

    def credentials(self) -> google.oauth2.credentials.Credentials:
        """Credentials for Calendar and Gmail calls; the first call fetches an access token.

        Raises ``GoogleError("google-not-connected")`` when no sign-in is stored.
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
            scopes = _scope_list(info.get("scopes")) or None
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

        Asks for :func:`scopes_for` (plus identity); what was granted before stays granted
        (``include_granted_scopes``). ``prompt=consent`` makes Google show the consent screen
        every time, so the user sees what is asked and Google always returns a refresh token.
        The URL to open goes to ``on_url`` (the browser is opened too unless ``open_browser``
        is false); the loopback server on 127.0.0.1 (``port`` 0: any free one) waits at most
        ``timeout_s`` for Google's redirect.
        """
        from google_auth_oauthlib.flow import Flow  # type: ignore[import-untyped, unused-ignore]

        needed = scopes_for(self._settings)
        if not needed:
            raise GoogleError(
                GoogleCode.NOTHING_TO_GRANT,
                "google.calendar and google.mail are both off, so Hark needs no Google access. "
                "Turn one on in the settings, then run `hark google login`.",
            )
        path = client_file or self._settings.client_file
        client = load_client_file(path)
        client["auth_uri"] = self._settings.auth_uri
        client["token_uri"] = self._settings.token_uri
        asked = sorted(set(needed) | set(IDENTITY_SCOPES))
        flow = Flow.from_client_config({"installed": client}, scopes=asked)
        previous = self._stored()
        extra: dict[str, str] = {"include_granted_scopes": "true", "prompt": "consent"}
        if previous and previous.get("account"):
            extra["login_hint"] = str(previous["account"])
        with _Redirect(port) as redirect:
            flow.redirect_uri = redirect.uri
            try:
                auth_url, state = flow.authorization_url(**extra)
            except Exception as exc:
                raise _token_endpoint_error(exc, "start signing in") from exc
            log.info("Google sign-in: waiting for the browser on %s", redirect.uri)
            if on_url is not None:
                on_url(auth_url)
            if open_browser:
                _open_browser(auth_url)
            code = redirect.wait(state, timeout_s)
        token = self._exchange(flow, code)
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
        granted = _scope_list(token.get("scope")) or asked
        email = _email_of(token.get("id_token"))
        return self._keep(client["client_id"], client["client_secret"], refresh, granted, email)

    def _exchange(self, flow: Any, code: str) -> dict[str, Any]:
        """Trade the authorization code (and the PKCE verifier) for tokens."""
        try:
            with contextlib.closing(flow.oauth2session):
                return dict(flow.fetch_token(code=code, timeout=self._settings.timeout_s))
        except Warning as exc:  # oauthlib: "Scope has changed" — the user chose, or more was
            token = getattr(exc, "token", None)  # granted before; the token is still good
            if token is None:
                raise
            return dict(token)
        except Exception as exc:
            raise _token_endpoint_error(exc, "finish signing in") from exc

    def import_authorized_user(self, path: Path) -> AccountStatus:
        """Keep a refresh token from Google's authorized-user JSON (for machines without a
        browser), after one refresh proves Google accepts it and tells what it grants."""
        info = _read_json(path, "authorized-user file")
        kind = info.get("type", "authorized_user")
        if kind != "authorized_user":
            raise GoogleError(
                GoogleCode.AUTHORIZED_USER_INVALID,
                f"{path} is a {kind!r} credential, not an authorized-user file (a service "
                "account cannot read a person's calendar or mail). Use the JSON written for your "
                "own account, e.g. by `gcloud auth application-default login "
                "--client-id-file=CLIENT.json --scopes=...`.",
            )
        absent = [k for k in _REQUIRED_FIELDS if not isinstance(info.get(k), str) or not info[k]]
        if absent:
            raise GoogleError(
                GoogleCode.AUTHORIZED_USER_INVALID,
                f"{path} lacks {', '.join(absent)}. An authorized-user file holds client_id, "
                "client_secret, refresh_token and token_uri (Google's 'authorized_user' JSON).",
            )
        refresh_grant = google.oauth2.reauth.refresh_grant
        try:
            with _http(self._settings.timeout_s) as request:
                _access, rotated, _expiry, answer, _rapt = refresh_grant(  # type: ignore[no-untyped-call]
                    request,
                    self._settings.token_uri,
                    info["refresh_token"],
                    info["client_id"],
                    info["client_secret"],
                )
        except Exception as exc:
            raise _token_endpoint_error(exc, "check the authorized-user file") from exc
        granted = _scope_list(answer.get("scope")) or _scope_list(info.get("scopes"))
        email = _email_of(answer.get("id_token")) or _str_or_none(info.get("account"))
        refresh = rotated or info["refresh_token"]
        return self._keep(info["client_id"], info["client_secret"], refresh, granted, email)

    def _keep(
        self,
        client_id: str,
        client_secret: str,
        refresh_token: str,
        granted: Iterable[str],
        email: str | None,
    ) -> AccountStatus:
        info: dict[str, Any] = {
            "type": "authorized_user",
            "client_id": client_id,
            "client_secret": client_secret,
            "refresh_token": refresh_token,
            "token_uri": self._settings.token_uri,
            "scopes": sorted(set(granted)),
        }
        if email:
            info["account"] = email
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
            with _http(self._settings.timeout_s) as request:
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


# --- the client file -------------------------------------------------------------------------

_REQUIRED_FIELDS = ("client_id", "client_secret", "refresh_token")


def load_client_file(path: Path | None) -> dict[str, Any]:
    """The ``installed`` section of an OAuth client secrets JSON, checked, with a message
    that says how to get a right one when it is not."""
    if path is None:
        raise GoogleError(
            GoogleCode.CLIENT_FILE_MISSING,
            "Hark needs your OAuth client file to sign in to Google. " + CLIENT_HOWTO,
        )
    data = _read_json(path, "OAuth client file")
    if "installed" not in data:
        if "web" in data:
            raise GoogleError(
                GoogleCode.CLIENT_WEB,
                f"{path} is for a 'Web application' OAuth client; Hark signs in as a desktop "
                "program and needs a 'Desktop app' client. " + CLIENT_HOWTO,
            )
        raise GoogleError(
            GoogleCode.CLIENT_FILE_INVALID,
            f"{path} is not an OAuth client file (it has no 'installed' section). " + CLIENT_HOWTO,
        )
    client = data["installed"]
    absent = [
        k
        for k in ("client_id", "client_secret")
        if not isinstance(client, dict) or not isinstance(client.get(k), str) or not client[k]
    ]
    if absent:
        raise GoogleError(
            GoogleCode.CLIENT_FILE_INVALID,
            f"{path} lacks {', '.join(absent)}; download it again. " + CLIENT_HOWTO,
        )
    return dict(client)


def _read_json(path: Path, what: str) -> dict[str, Any]:
    path = path.expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        code = GoogleCode.CLIENT_FILE_MISSING if "client" in what else "google-file-missing"
        hint = " " + CLIENT_HOWTO if "client" in what else ""
        raise GoogleError(code, f"the {what} {path} does not exist.{hint}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise GoogleError(
            GoogleCode.FILE_UNREADABLE, f"cannot read the {what} {path}: {exc}"
        ) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise GoogleError(
            GoogleCode.FILE_INVALID,
            f"the {what} {path} is not valid JSON ({exc.msg}, line "
            f"{exc.lineno}). Download it again rather than editing it.",
        ) from None
    if not isinstance(data, dict):
        raise GoogleError(GoogleCode.FILE_INVALID, f"the {what} {path} is not a JSON object.")
    return data


# --- the loopback redirect -------------------------------------------------------------------


class _Redirect:
    """A one-shot HTTP server on 127.0.0.1 that catches Google's redirect to Hark."""

    def __init__(self, port: int) -> None:
        self._port = port
        self._answer: dict[str, str] | None = None
        self._state = ""
        self._server: wsgiref.simple_server.WSGIServer | None = None

    def __enter__(self) -> _Redirect:
        try:
            self._server = wsgiref.simple_server.make_server(
                "127.0.0.1", self._port, self._app, handler_class=_QuietHandler
            )
        except OSError as exc:
            raise GoogleError(
                GoogleCode.LOGIN_PORT,
                f"cannot listen on 127.0.0.1:{self._port} for Google's answer ({exc.strerror}). "
                "Choose another --port, or leave it out to use a free one.",
            ) from None
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.server_close()

    @property
    def uri(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_port}/"

    def wait(self, state: str, timeout_s: float) -> str:
        """Serve until the redirect with our ``state`` arrives; return its code."""
        assert self._server is not None
        self._state = state
        deadline = time.monotonic() + timeout_s
        while self._answer is None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise GoogleError(
                    GoogleCode.LOGIN_TIMEOUT,
                    f"no answer from the browser within {timeout_s:.0f} s. Run `hark google "
                    "login` again and finish in the browser (--timeout S gives more time).",
                )
            self._server.timeout = min(left, 1.0)
            self._server.handle_request()
        if "error" in self._answer:
            error = self._answer["error"]
            if error == "access_denied":
                raise GoogleError(
                    GoogleCode.LOGIN_DENIED,
                    "access was not granted in the browser. Run `hark google login` again and "
                    "allow the access Hark asks for (or turn features off in the settings).",
                )
            raise GoogleError(GoogleCode.LOGIN_FAILED, f"Google refused the sign-in ({error}).")
        return self._answer["code"]

    def _app(self, environ: dict[str, Any], start: Callable[..., Any]) -> list[bytes]:
        query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        if environ.get("PATH_INFO", "/") != "/" or not ({"code", "error"} & query.keys()):
            start("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
            return [b"Not found"]
        if query.get("state") != self._state:
            log.warning("Google sign-in: ignored a redirect with a wrong state")
            start("400 Bad Request", [("Content-Type", "text/plain; charset=utf-8")])
            return [b"This answer does not belong to the sign-in Hark started."]
        self._answer = query
        page = (
            SUCCESS_PAGE
            if "code" in query
            else SUCCESS_PAGE.replace("is connected to", "was not given access to")
        )
        start("200 OK", [("Content-Type", "text/html; charset=utf-8")])
        return [page.encode("utf-8")]


class _QuietHandler(wsgiref.simple_server.WSGIRequestHandler):
    timeout = 10  # a connection that sends nothing must not block the wait for the redirect

    def log_message(self, format: str, *args: Any) -> None:
        """The query string holds the authorization code: never print it."""


@contextlib.contextmanager
def _http(timeout_s: float) -> Iterator[Callable[..., Any]]:
    """google-auth's HTTP request callable with our timeout; its connections closed after."""
    request = google.auth.transport.requests.Request()
    try:
        yield functools.partial(request, timeout=timeout_s)
    finally:
        request.session.close()


def _open_browser(url: str) -> None:
    """Open the URL in a graphical browser; without a display (SSH, a server) do nothing
    rather than start a text browser in the terminal: the printed URL is enough there."""
    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):
        log.info("no display; open the printed URL in a browser on any device")
        return
    try:
        opened = webbrowser.open(url, new=1, autoraise=True)
    except webbrowser.Error:
        opened = False
    if not opened:
        log.info("no browser could be opened; open the printed URL yourself")


# --- helpers ---------------------------------------------------------------------------------


def _scope_list(value: Any) -> list[str]:
    if isinstance(value, str):
        return sorted(set(value.split()))
    if isinstance(value, (list, tuple, set, frozenset)):
        return sorted({str(s) for s in value if s})
    return []


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _email_of(id_token: Any) -> str | None:
    """The email claim of an ID token taken straight from the token endpoint over TLS (so its
    signature need not be checked, as OpenID Connect allows)."""
    if not isinstance(id_token, str) or not id_token:
        return None
    try:
        claims = google.auth.jwt.decode(id_token, verify=False)  # type: ignore[no-untyped-call]
    except (ValueError, google.auth.exceptions.GoogleAuthError):
        return None
    return _str_or_none(claims.get("email")) if isinstance(claims, dict) else None


def _token_endpoint_error(exc: BaseException, what: str) -> GoogleError:
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
