"""The fake OAuth server, driven by Google's own client libraries (google-auth and
google-auth-oauthlib), so that it cannot drift from what they send and expect."""

from __future__ import annotations

import json
import threading
import webbrowser
from collections.abc import Iterator
from typing import Any
from urllib.error import HTTPError
from urllib.parse import parse_qs, urlsplit
from urllib.request import Request as UrlRequest
from urllib.request import urlopen

import pytest
from google.auth.exceptions import RefreshError
from google.auth.transport.requests import Request
from google.oauth2.credentials import Credentials
from google_auth_oauthlib.flow import InstalledAppFlow

from tests.fakes.google import FakeGoogle
from tests.fakes.google_oauth import CLIENT_ID, ConsentBrowser

CAL = "https://www.googleapis.com/auth/calendar.readonly"
GMAIL = "https://www.googleapis.com/auth/gmail.readonly"
EMAIL = "https://www.googleapis.com/auth/userinfo.email"


@pytest.fixture
def google(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGoogle]:
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # the fake speaks plain http
    with FakeGoogle() as fake:
        fake.oauth.token_uri = fake.url + "/token"
        yield fake


def _post(url: str, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
    from urllib.parse import urlencode

    request = UrlRequest(
        url,
        data=urlencode(form).encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        method="POST",
    )
    try:
        with urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_refresh_with_google_auth_gets_a_token_the_apis_accept(google: FakeGoogle) -> None:
    creds = google.oauth.credentials([CAL, "openid", EMAIL], email="ada@example.com")
    assert not creds.valid

    creds.refresh(Request())

    assert creds.valid
    assert google.oauth.scopes_of(creds.token) == frozenset({CAL, "openid", EMAIL})
    assert google.oauth.refresh_count == 1
    assert creds.id_token is not None
    from google.auth import jwt

    claims = jwt.decode(creds.id_token, verify=False)
    assert claims["email"] == "ada@example.com"
    assert claims["aud"] == CLIENT_ID
    sent = google.oauth.token_requests[-1]
    assert sent["grant_type"] == "refresh_token"
    assert sent["refresh_token"] == "***"  # the log masks secrets


def test_refresh_of_a_narrower_scope_and_a_wider_one(google: FakeGoogle) -> None:
    info = google.oauth.authorized_user([CAL, GMAIL])
    uri = info["token_uri"]  # google-auth pins from_authorized_user_info to Google's own
    narrow = Credentials.from_authorized_user_info(info, scopes=[CAL]).with_token_uri(uri)
    narrow.refresh(Request())
    assert google.oauth.scopes_of(narrow.token) == frozenset({CAL})

    wide = Credentials.from_authorized_user_info(info, scopes=[CAL, GMAIL, EMAIL])
    wide = wide.with_token_uri(uri)
    with pytest.raises(RefreshError, match="invalid_scope"):
        wide.refresh(Request())


def test_revoked_refresh_token_is_invalid_grant(google: FakeGoogle) -> None:
    creds = google.oauth.credentials([CAL])
    google.oauth.revoke_all()

    with pytest.raises(RefreshError, match="invalid_grant") as caught:
        creds.refresh(Request())

    assert "Token has been expired or revoked." in str(caught.value)
    assert google.oauth.refresh_count == 0


def test_unknown_client_is_invalid_client_401(google: FakeGoogle) -> None:
    info = google.oauth.authorized_user([CAL])
    info["client_secret"] = "GOCSPX-not-the-secret"
    creds = Credentials.from_authorized_user_info(info).with_token_uri(info["token_uri"])

    with pytest.raises(RefreshError, match="invalid_client"):
        creds.refresh(Request())

    status, body = _post(
        google.url + "/token",
        {"grant_type": "refresh_token", "refresh_token": "x", "client_id": "nobody"},
    )
    assert (status, body["error"]) == (401, "invalid_client")


def test_rotated_refresh_token_reaches_google_auth(google: FakeGoogle) -> None:
    creds = google.oauth.credentials([CAL])
    first = creds.refresh_token
    google.oauth.rotate_refresh_tokens = True

    creds.refresh(Request())

    assert creds.refresh_token != first
    assert google.oauth.refresh_token_valid(creds.refresh_token)
    assert not google.oauth.refresh_token_valid(first)


def test_expired_access_tokens_are_refused_until_refreshed(google: FakeGoogle) -> None:
    creds = google.oauth.credentials([CAL])
    creds.refresh(Request())
    old = creds.token

    google.oauth.expire_access_tokens()

    assert google.oauth.scopes_of(old) is None
    creds.refresh(Request())
    assert google.oauth.scopes_of(creds.token) == frozenset({CAL})


def test_installed_app_flow_with_pkce(google: FakeGoogle) -> None:
    """google-auth-oauthlib's own loopback flow, start to finish; the browser is ours."""
    browser = ConsentBrowser(google.oauth, email="ada@example.com")
    webbrowser.register("hark-consent-test", None, browser)  # type: ignore[arg-type]
    flow = InstalledAppFlow.from_client_config(
        google.oauth.client_config(auth_uri=google.url + "/o/oauth2/auth"),
        scopes=[CAL, "openid", EMAIL],
    )
    result: dict[str, Any] = {}

    def sign_in() -> None:
        try:
            result["creds"] = flow.run_local_server(
                host="127.0.0.1",
                port=0,
                browser="hark-consent-test",
                authorization_prompt_message=None,
                timeout_seconds=30,
            )
        except BaseException as exc:
            result["error"] = exc

    thread = threading.Thread(target=sign_in)
    thread.start()
    thread.join(60)
    browser.join()

    assert not thread.is_alive()
    assert "error" not in result, result.get("error")
    creds = result["creds"]
    query = parse_qs(urlsplit(browser.urls[0]).query)
    assert query["code_challenge_method"] == ["S256"]
    assert query["access_type"] == ["offline"]
    assert creds.refresh_token
    assert google.oauth.refresh_token_valid(creds.refresh_token)
    assert google.oauth.scopes_of(creds.token) == frozenset({CAL, "openid", EMAIL})
    assert google.oauth.code_exchange_count == 1
    assert browser.pages[0][0] == 200
    sent = google.oauth.token_requests[-1]
    assert sent["grant_type"] == "authorization_code"
    assert sent["code_verifier"] == "***"


def test_code_exchange_checks_the_pkce_verifier_and_redirect(google: FakeGoogle) -> None:
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"  # RFC 7636, appendix B
    auth = {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": "http://127.0.0.1:5555/",
        "scope": "openid",
        "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        "code_challenge_method": "S256",
    }
    secret = google.oauth.client_secret_of()
    base = {
        "grant_type": "authorization_code",
        "client_id": CLIENT_ID,
        "client_secret": secret,
        "redirect_uri": "http://127.0.0.1:5555/",
    }
    code = google.oauth.approve(auth)
    status, body = _post(google.url + "/token", {**base, "code": code, "code_verifier": "nope"})
    assert (status, body["error"]) == (400, "invalid_grant")

    code = google.oauth.approve(auth)
    status, body = _post(
        google.url + "/token",
        {**base, "code": code, "redirect_uri": "http://127.0.0.1:6666/", "code_verifier": "x"},
    )
    assert (status, body["error"]) == (400, "redirect_uri_mismatch")

    good = {**base, "code": code, "code_verifier": verifier}
    status, body = _post(google.url + "/token", good)
    assert status == 200, body
    assert body["token_type"] == "Bearer"
    assert body["scope"] == "openid"
    assert set(body) >= {"access_token", "expires_in", "refresh_token", "id_token"}

    status, body = _post(google.url + "/token", good)  # a code works once
    assert (status, body["error"]) == (400, "invalid_grant")


def test_consent_screen_errors(google: FakeGoogle) -> None:
    ok = {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": "http://127.0.0.1:1/",
        "scope": CAL,
    }
    with pytest.raises(ValueError, match="invalid_client"):
        google.oauth.approve({**ok, "client_id": "someone-else"})
    with pytest.raises(ValueError, match="redirect_uri_mismatch"):
        google.oauth.approve({**ok, "redirect_uri": "https://example.org/cb"})
    with pytest.raises(ValueError, match="scope"):
        google.oauth.approve({**ok, "scope": ""})


def test_revoke_endpoint(google: FakeGoogle) -> None:
    creds = google.oauth.credentials([CAL])
    creds.refresh(Request())
    status, body = _post(google.url + "/revoke?token=" + creds.refresh_token, {})
    assert (status, body) == (200, {})
    assert google.oauth.scopes_of(creds.token) is None  # the grant's access tokens go too
    with pytest.raises(RefreshError, match="invalid_grant"):
        creds.refresh(Request())

    status, body = _post(google.url + "/revoke", {"token": creds.refresh_token})
    assert (status, body["error"]) == (400, "invalid_token")
    assert google.oauth.revoked_count == 1
