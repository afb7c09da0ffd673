"""The Google account: scopes per feature, the browser sign-in end to end (PKCE checked by the
fake), importing an authorized-user file, refresh, revocation and sign-out, all against the
fake Google with the real google-auth / google-auth-oauthlib and the (file) keyring."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from app.google.api import GoogleApi
from app.google.auth import TOKEN_SECRET, GoogleAccount
from app.google.scopes import (
    CALENDAR_EVENTS,
    CALENDAR_READ,
    GMAIL_COMPOSE,
    GMAIL_MODIFY,
    GMAIL_READ,
    GMAIL_SEND,
    IDENTITY_SCOPES,
    scopes_for,
)
from app.settings.schema import GoogleSettings
from app.settings.secrets import SecretStore
from app.shared.errors import GoogleError
from tests.fakes.google import FakeGoogle
from tests.fakes.google_oauth import CLIENT_ID, ConsentBrowser

EMAIL_SCOPE = IDENTITY_SCOPES[1]


@pytest.fixture
def google(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGoogle]:
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # the fake's token URI is http
    with FakeGoogle() as fake:
        fake.oauth.token_uri = fake.url + "/token"
        yield fake


def settings_for(google: FakeGoogle, **features: Any) -> GoogleSettings:
    return GoogleSettings(
        api_endpoint=google.url,
        token_uri=google.url + "/token",
        auth_uri=google.url + "/o/oauth2/auth",
        retry_backoff_s=0.01,
        **features,
    )


def client_file(google: FakeGoogle, tmp_path: Path, kind: str = "installed") -> Path:
    path = tmp_path / "client_secret.json"
    path.write_text(json.dumps(google.oauth.client_config(kind)), encoding="utf-8")
    return path


def stored() -> dict[str, Any]:
    raw = SecretStore().get(TOKEN_SECRET)
    assert raw is not None
    info: dict[str, Any] = json.loads(raw)
    return info


def sign_in(
    account: GoogleAccount, google: FakeGoogle, tmp_path: Path, **browser: Any
) -> tuple[Any, ConsentBrowser]:
    consent = ConsentBrowser(google.oauth, **browser)
    try:
        status = account.login(
            client_file(google, tmp_path), open_browser=False, timeout_s=30, on_url=consent.open
        )
    finally:
        consent.join()
    return status, consent


# --- scopes ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("calendar", "mail", "expected"),
    [
        ("off", "off", []),
        ("read", "off", [CALENDAR_READ]),
        ("write", "off", [CALENDAR_READ, CALENDAR_EVENTS]),
        ("off", "read", [GMAIL_READ]),
        ("off", "compose", [GMAIL_READ, GMAIL_COMPOSE]),
        ("off", "send", [GMAIL_READ, GMAIL_COMPOSE, GMAIL_SEND, GMAIL_MODIFY]),
        ("read", "compose", [CALENDAR_READ, GMAIL_READ, GMAIL_COMPOSE]),
    ],
)
def test_scopes_follow_the_enabled_features(calendar: str, mail: str, expected: list[str]) -> None:
    assert sorted(scopes_for(GoogleSettings(calendar=calendar, mail=mail))) == sorted(expected)


def test_scope_urls_are_googles() -> None:
    assert scopes_for(GoogleSettings(calendar="write", mail="off")) == [
        "https://www.googleapis.com/auth/calendar.events",
        "https://www.googleapis.com/auth/calendar.readonly",
    ]


# --- the browser sign-in ---------------------------------------------------------------------


def test_browser_sign_in_end_to_end(google: FakeGoogle, tmp_path: Path) -> None:
    account = GoogleAccount(settings_for(google, calendar="write", mail="read"), SecretStore())
    assert not account.connected

    status, consent = sign_in(account, google, tmp_path, email="ada@example.com")

    query = parse_qs(urlsplit(consent.urls[0]).query)
    assert query["code_challenge_method"] == ["S256"]
    assert query["include_granted_scopes"] == ["true"]
    assert query["access_type"] == ["offline"]
    assert query["client_id"] == [CLIENT_ID]
    assert urlsplit(query["redirect_uri"][0]).hostname == "127.0.0.1"
    assert set(query["scope"][0].split()) == {
        CALENDAR_READ,
        CALENDAR_EVENTS,
        GMAIL_READ,
        *IDENTITY_SCOPES,
    }
    assert consent.pages[0][0] == 200
    assert "connected" in consent.pages[0][1]
    assert google.oauth.code_exchange_count == 1  # the fake checked the PKCE verifier
    assert status.connected
    assert status.email == "ada@example.com"
    assert status.missing == ()
    assert account.connected
    info = stored()
    assert google.oauth.refresh_token_valid(info["refresh_token"])
    assert info["client_id"] == CLIENT_ID
    assert info["account"] == "ada@example.com"
    assert "token" not in info  # access tokens stay in memory


async def test_signed_in_account_calls_calendar(google: FakeGoogle, tmp_path: Path) -> None:
    settings = settings_for(google, calendar="read", mail="off")
    account = GoogleAccount(settings, SecretStore())
    sign_in(account, google, tmp_path)
    api = GoogleApi("calendar", account.credentials(), settings)

    await _list_events(api)

    assert google.oauth.refresh_count == 1  # the stored refresh token gave an access token
    assert google.count("GET", "/calendars/primary/events") == 1


async def _list_events(api: GoogleApi) -> Any:
    """A Calendar read through the real client library; the fake answers only a valid token."""
    result = await api.call(
        lambda s: s.events().list(calendarId="primary"), what="list your events"
    )
    assert result["kind"] == "calendar#events"
    return result


def test_incremental_sign_in_adds_scopes(google: FakeGoogle, tmp_path: Path) -> None:
    store = SecretStore()
    first = GoogleAccount(settings_for(google, calendar="read", mail="off"), store)
    sign_in(first, google, tmp_path)
    more = GoogleAccount(settings_for(google, calendar="read", mail="send"), store)
    assert more.missing_scopes() == sorted([GMAIL_READ, GMAIL_COMPOSE, GMAIL_SEND, GMAIL_MODIFY])

    status, consent = sign_in(more, google, tmp_path)

    asked = set(parse_qs(urlsplit(consent.urls[0]).query)["scope"][0].split())
    assert CALENDAR_READ in asked  # still needed, so asked again
    assert status.missing == ()
    assert {CALENDAR_READ, GMAIL_SEND, GMAIL_MODIFY} <= set(status.granted)
    assert more.missing_scopes() == []


def test_scopes_the_user_unticks_are_reported_missing(google: FakeGoogle, tmp_path: Path) -> None:
    account = GoogleAccount(settings_for(google, calendar="write", mail="off"), SecretStore())

    status, _ = sign_in(account, google, tmp_path, scopes=[CALENDAR_READ, *IDENTITY_SCOPES])

    assert status.connected
    assert status.missing == (CALENDAR_EVENTS,)
    assert account.missing_scopes() == [CALENDAR_EVENTS]
    assert account.granted_scopes() == frozenset({CALENDAR_READ, *IDENTITY_SCOPES})


def test_cancel_in_the_browser(google: FakeGoogle, tmp_path: Path) -> None:
    account = GoogleAccount(settings_for(google, calendar="read"), SecretStore())

    with pytest.raises(GoogleError) as caught:
        sign_in(account, google, tmp_path, error="access_denied")

    assert caught.value.code == "google-login-denied"
    assert "hark google login" in caught.value.message
    assert not account.connected


def test_redirect_with_a_foreign_state_is_ignored(google: FakeGoogle, tmp_path: Path) -> None:
    account = GoogleAccount(settings_for(google, calendar="read"), SecretStore())

    status, consent = sign_in(account, google, tmp_path, wrong_state_first=True)

    assert [page[0] for page in consent.pages] == [400, 200]
    assert status.connected
    assert google.oauth.code_exchange_count == 1


def test_sign_in_times_out(google: FakeGoogle, tmp_path: Path) -> None:
    account = GoogleAccount(settings_for(google, calendar="read"), SecretStore())
    shown: list[str] = []

    with pytest.raises(GoogleError) as caught:
        account.login(
            client_file(google, tmp_path), open_browser=False, timeout_s=0.3, on_url=shown.append
        )

    assert caught.value.code == "google-login-timeout"
    assert len(shown) == 1
    assert not account.connected


def test_nothing_to_sign_in_for(google: FakeGoogle, tmp_path: Path) -> None:
    account = GoogleAccount(settings_for(google, calendar="off", mail="off"), SecretStore())
    with pytest.raises(GoogleError) as caught:
        account.login(client_file(google, tmp_path), open_browser=False)
    assert caught.value.code == "google-nothing-to-grant"


@pytest.mark.parametrize(
    ("content", "code", "words"),
    [
        (None, "google-client-file-missing", "Desktop app"),
        ("{not json", "google-file-invalid", "not valid JSON"),
        ('["installed"]', "google-file-invalid", "JSON object"),
        ('{"web": {"client_id": "x", "client_secret": "y"}}', "google-client-web", "Desktop app"),
        ('{"other": {}}', "google-client-file-invalid", "APIs & Services → Credentials"),
        ('{"installed": {"client_id": "x"}}', "google-client-file-invalid", "client_secret"),
    ],
)
def test_bad_client_files(
    google: FakeGoogle, tmp_path: Path, content: str | None, code: str, words: str
) -> None:
    path = tmp_path / "client.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    account = GoogleAccount(settings_for(google, calendar="read"), SecretStore())

    with pytest.raises(GoogleError) as caught:
        account.login(path, open_browser=False, timeout_s=1)

    assert caught.value.code == code
    assert words in caught.value.message


def test_no_client_file_at_all_says_where_to_get_one(google: FakeGoogle) -> None:
    account = GoogleAccount(settings_for(google, calendar="read"), SecretStore())
    with pytest.raises(GoogleError) as caught:
        account.login(None, open_browser=False)
    assert caught.value.code == "google-client-file-missing"
    assert "Create credentials → OAuth client ID" in caught.value.message
    assert "google.client_file" in caught.value.message


def test_client_file_from_the_settings(google: FakeGoogle, tmp_path: Path) -> None:
    settings = settings_for(google, calendar="read").model_copy(
        update={"client_file": client_file(google, tmp_path)}
    )
    account = GoogleAccount(settings, SecretStore())
    consent = ConsentBrowser(google.oauth)

    status = account.login(open_browser=False, timeout_s=30, on_url=consent.open)
    consent.join()

    assert status.connected


# --- importing an authorized-user file -------------------------------------------------------


def write_json(tmp_path: Path, data: Any, name: str = "authorized_user.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_import_authorized_user(google: FakeGoogle, tmp_path: Path) -> None:
    granted = [CALENDAR_READ, CALENDAR_EVENTS, *IDENTITY_SCOPES]
    info = google.oauth.authorized_user(granted, email="grace@example.com")
    account = GoogleAccount(settings_for(google, calendar="write", mail="read"), SecretStore())

    status = account.import_authorized_user(write_json(tmp_path, info))

    assert google.oauth.refresh_count == 1  # one refresh proved it works
    assert status.email == "grace@example.com"
    assert set(status.granted) == set(granted)
    assert status.missing == (GMAIL_READ,)
    assert stored()["refresh_token"] == info["refresh_token"]


def test_import_learns_scopes_even_without_identity(google: FakeGoogle, tmp_path: Path) -> None:
    info = google.oauth.authorized_user([GMAIL_READ], email="x@example.com")
    assert info["account"] == "x@example.com"
    del info["account"]
    account = GoogleAccount(settings_for(google, calendar="off", mail="read"), SecretStore())

    status = account.import_authorized_user(write_json(tmp_path, info))

    assert status.granted == (GMAIL_READ,)
    assert status.email is None  # no openid/email scope and no "account": nobody said who
    assert status.missing == ()


def test_import_takes_the_email_from_google_first(google: FakeGoogle, tmp_path: Path) -> None:
    info = google.oauth.authorized_user([GMAIL_READ, *IDENTITY_SCOPES], email="now@example.com")
    info["account"] = "then@example.com"
    account = GoogleAccount(settings_for(google, calendar="off", mail="read"), SecretStore())
    assert account.import_authorized_user(write_json(tmp_path, info)).email == "now@example.com"

    info = google.oauth.authorized_user([GMAIL_READ], email="file@example.com")
    assert account.import_authorized_user(write_json(tmp_path, info)).email == "file@example.com"


@pytest.mark.parametrize("field", ["client_id", "client_secret", "refresh_token"])
def test_import_with_a_missing_field(google: FakeGoogle, tmp_path: Path, field: str) -> None:
    info = google.oauth.authorized_user([CALENDAR_READ])
    del info[field]
    account = GoogleAccount(settings_for(google), SecretStore())

    with pytest.raises(GoogleError) as caught:
        account.import_authorized_user(write_json(tmp_path, info))

    assert caught.value.code == "google-authorized-user-invalid"
    assert field in caught.value.message
    assert google.oauth.refresh_count == 0
    assert not account.connected


def test_import_bad_json_and_missing_file(google: FakeGoogle, tmp_path: Path) -> None:
    account = GoogleAccount(settings_for(google), SecretStore())
    bad = tmp_path / "bad.json"
    bad.write_text('{"client_id": ', encoding="utf-8")

    with pytest.raises(GoogleError) as caught:
        account.import_authorized_user(bad)
    assert caught.value.code == "google-file-invalid"
    assert str(bad) in caught.value.message

    with pytest.raises(GoogleError) as caught:
        account.import_authorized_user(tmp_path / "absent.json")
    assert caught.value.code == "google-file-missing"


def test_import_a_service_account_file(google: FakeGoogle, tmp_path: Path) -> None:
    account = GoogleAccount(settings_for(google), SecretStore())
    path = write_json(tmp_path, {"type": "service_account", "client_email": "a@b.iam"})
    with pytest.raises(GoogleError) as caught:
        account.import_authorized_user(path)
    assert caught.value.code == "google-authorized-user-invalid"
    assert "service_account" in caught.value.message


def test_import_revoked_token(google: FakeGoogle, tmp_path: Path) -> None:
    info = google.oauth.authorized_user([CALENDAR_READ])
    google.oauth.revoke_all()
    account = GoogleAccount(settings_for(google), SecretStore())

    with pytest.raises(GoogleError) as caught:
        account.import_authorized_user(write_json(tmp_path, info))

    assert caught.value.code == "google-reconnect"
    assert "hark google login" in caught.value.message
    assert "7 days" in caught.value.message
    assert not account.connected


def test_import_with_a_wrong_client_secret(google: FakeGoogle, tmp_path: Path) -> None:
    info = google.oauth.authorized_user([CALENDAR_READ])
    info["client_secret"] = "GOCSPX-wrong"
    account = GoogleAccount(settings_for(google), SecretStore())

    with pytest.raises(GoogleError) as caught:
        account.import_authorized_user(write_json(tmp_path, info))

    assert caught.value.code == "google-client-invalid"
    assert "GOCSPX-wrong" not in caught.value.message


def test_import_when_google_is_unreachable(tmp_path: Path) -> None:
    with FakeGoogle() as gone:
        dead_uri = gone.url + "/token"
    info = {"client_id": "c", "client_secret": "s", "refresh_token": "r", "token_uri": dead_uri}
    settings = GoogleSettings(token_uri=dead_uri, timeout_s=5)
    account = GoogleAccount(settings, SecretStore())

    with pytest.raises(GoogleError) as caught:
        account.import_authorized_user(write_json(tmp_path, info))

    assert caught.value.code == "google-unreachable"


# --- using the sign-in -----------------------------------------------------------------------


def connect(google: FakeGoogle, tmp_path: Path, settings: GoogleSettings) -> GoogleAccount:
    account = GoogleAccount(settings, SecretStore())
    info = google.oauth.authorized_user(scopes_for(settings), email="ada@example.com")
    account.import_authorized_user(write_json(tmp_path, info))
    return account


def test_credentials_without_a_sign_in(google: FakeGoogle) -> None:
    account = GoogleAccount(settings_for(google), SecretStore())
    with pytest.raises(GoogleError) as caught:
        account.credentials()
    assert caught.value.code == "google-not-connected"
    assert "hark google login" in caught.value.message


def test_corrupt_stored_sign_in_counts_as_none(google: FakeGoogle) -> None:
    SecretStore().set(TOKEN_SECRET, "{broken")
    account = GoogleAccount(settings_for(google), SecretStore())
    assert not account.connected
    assert account.status().connected is False
    with pytest.raises(GoogleError) as caught:
        account.credentials()
    assert caught.value.code == "google-not-connected"


async def test_expired_access_token_is_refreshed(google: FakeGoogle, tmp_path: Path) -> None:
    settings = settings_for(google, calendar="read", mail="off")
    account = connect(google, tmp_path, settings)
    api = GoogleApi("calendar", account.credentials(), settings)
    await _list_events(api)
    before = google.oauth.refresh_count

    google.oauth.expire_access_tokens()
    await _list_events(api)

    assert google.oauth.refresh_count == before + 1
    assert google.count("GET", "/calendars/primary/events") == 3  # 401, then the retry


async def test_rotated_refresh_token_is_kept(google: FakeGoogle, tmp_path: Path) -> None:
    settings = settings_for(google, calendar="read", mail="off")
    account = connect(google, tmp_path, settings)
    old = stored()["refresh_token"]
    google.oauth.rotate_refresh_tokens = True

    await _list_events(GoogleApi("calendar", account.credentials(), settings))

    new = stored()["refresh_token"]
    assert new != old
    assert google.oauth.refresh_token_valid(new)
    assert not google.oauth.refresh_token_valid(old)


async def test_revoked_sign_in_asks_to_reconnect(google: FakeGoogle, tmp_path: Path) -> None:
    settings = settings_for(google, calendar="read", mail="off")
    account = connect(google, tmp_path, settings)
    google.oauth.revoke_all()
    api = GoogleApi("calendar", account.credentials(), settings)

    with pytest.raises(GoogleError) as caught:
        await api.call(lambda s: s.events().list(calendarId="primary"), what="list your events")

    assert caught.value.code == "google-reconnect"
    assert "hark google login" in caught.value.message


def test_credentials_are_shared_and_hold_no_stored_access_token(
    google: FakeGoogle, tmp_path: Path
) -> None:
    settings = settings_for(google, calendar="read", mail="off")
    account = connect(google, tmp_path, settings)
    creds = account.credentials()
    assert account.credentials() is creds
    assert creds.token is None
    assert creds.token_uri == settings.token_uri
    assert set(creds.scopes) == {CALENDAR_READ}


# --- signing out -----------------------------------------------------------------------------


def test_logout_revokes_and_forgets(google: FakeGoogle, tmp_path: Path) -> None:
    account = connect(google, tmp_path, settings_for(google, calendar="read", mail="off"))
    refresh = stored()["refresh_token"]
    warnings: list[str] = []

    assert account.logout(on_warning=warnings.append) is True

    assert warnings == []
    assert google.oauth.revoked_count == 1
    assert not google.oauth.refresh_token_valid(refresh)
    assert google.count("POST", "/revoke") == 1
    assert SecretStore().get(TOKEN_SECRET) is None
    assert not account.connected
    assert account.logout() is False


def test_logout_when_revoking_fails_still_forgets(google: FakeGoogle, tmp_path: Path) -> None:
    account = connect(google, tmp_path, settings_for(google, calendar="read", mail="off"))
    google.fail("/revoke", 503)
    warnings: list[str] = []

    assert account.logout(on_warning=warnings.append) is True

    assert len(warnings) == 1
    assert "503" in warnings[0]
    assert "myaccount.google.com/permissions" in warnings[0]
    assert SecretStore().get(TOKEN_SECRET) is None


def test_logout_of_an_already_revoked_sign_in(google: FakeGoogle, tmp_path: Path) -> None:
    account = connect(google, tmp_path, settings_for(google, calendar="read", mail="off"))
    google.oauth.revoke_all()
    warnings: list[str] = []

    assert account.logout(on_warning=warnings.append) is True

    assert "invalid_token" in warnings[0]
    assert not account.connected


def test_status(google: FakeGoogle, tmp_path: Path) -> None:
    settings = settings_for(google, calendar="write", mail="compose")
    account = GoogleAccount(settings, SecretStore())
    assert account.status().as_dict() == {
        "connected": False,
        "email": None,
        "granted": [],
        "needed": scopes_for(settings),
        "missing": scopes_for(settings),
        "advice": "run `hark google login` to connect",
    }
    info = google.oauth.authorized_user(
        [CALENDAR_READ, GMAIL_READ, *IDENTITY_SCOPES], email="a@b.c"
    )
    account.import_authorized_user(write_json(tmp_path, info))

    status = account.status()

    assert status.connected
    assert status.email == "a@b.c"
    assert status.missing == (CALENDAR_EVENTS, GMAIL_COMPOSE)
    assert status.advice == "run `hark google login` to grant calendar.events, gmail.compose"
    assert EMAIL_SCOPE in status.granted
    text = json.dumps(status.as_dict())
    assert info["refresh_token"] not in text
    assert info["client_secret"] not in text


def test_plain_http_oauth_uris_are_refused(
    google: FakeGoogle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OAUTHLIB_INSECURE_TRANSPORT")
    account = GoogleAccount(settings_for(google, calendar="read"), SecretStore())

    with pytest.raises(GoogleError) as caught:
        account.login(client_file(google, tmp_path), open_browser=False, timeout_s=1)

    assert caught.value.code == "google-insecure-uri"


def test_busy_port_is_a_clear_error(google: FakeGoogle, tmp_path: Path) -> None:
    import socket

    account = GoogleAccount(settings_for(google, calendar="read"), SecretStore())
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(GoogleError) as caught:
            account.login(client_file(google, tmp_path), open_browser=False, port=port)

    assert caught.value.code == "google-login-port"
    assert str(port) in caught.value.message


def test_no_secret_reaches_the_log(
    google: FakeGoogle, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    account = GoogleAccount(settings_for(google, calendar="read", mail="off"), SecretStore())
    google.oauth.rotate_refresh_tokens = True
    sign_in(account, google, tmp_path)
    first = stored()["refresh_token"]
    from google.auth.transport.requests import Request

    account.credentials().refresh(Request())
    account.logout()

    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("app."))
    assert "refresh token" in ours  # the rotation was logged (without the token)
    assert first not in ours
    assert google.oauth.client_secret_of() not in ours
    assert "4/0Afake" not in ours  # no authorization code either


def test_token_endpoint_errors_are_explained() -> None:
    """(google-auth retries a 5xx itself with real waits, so its final error is built here.)"""
    from google.auth.exceptions import RefreshError

    from app.google.token_endpoint import token_endpoint_error

    busy = token_endpoint_error(RefreshError("server_error", retryable=True), "check it")
    revoked = token_endpoint_error(RefreshError("invalid_grant: Token has been expired"), "x")
    unknown = token_endpoint_error(RefreshError("invalid_client: not found"), "x")

    assert busy.code == "google-unavailable"
    assert "check it" in busy.message
    assert revoked.code == "google-reconnect"
    assert unknown.code == "google-client-invalid"
