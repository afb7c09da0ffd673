"""``hark google login|logout|status`` through the real parser and ``app.cli.google.run``,
against the fake Google and the (file) keyring. Output is captured and checked for secrets."""

from __future__ import annotations

import argparse
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.cli import google as cli
from app.google.auth import TOKEN_SECRET
from app.google.scopes import CALENDAR_EVENTS, CALENDAR_READ, GMAIL_READ, IDENTITY_SCOPES
from app.settings.schema import GoogleSettings
from app.settings.secrets import SecretStore
from app.shared.errors import GoogleError
from tests.fakes.google import FakeGoogle
from tests.fakes.google_oauth import ConsentBrowser


@pytest.fixture
def google(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGoogle]:
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # the fake's token URI is http
    with FakeGoogle() as fake:
        fake.oauth.token_uri = fake.url + "/token"
        yield fake


@pytest.fixture
def settings(google: FakeGoogle) -> GoogleSettings:
    return GoogleSettings(
        calendar="write",
        mail="read",
        api_endpoint=google.url,
        token_uri=google.url + "/token",
        auth_uri=google.url + "/o/oauth2/auth",
        retry_backoff_s=0.01,
    )


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="hark")
    parser.add_argument("--debug", action="store_true")
    cli.add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


class Terminal(io.StringIO):
    """stderr as the user sees it; when the sign-in URL is printed, the "user" opens it."""

    def __init__(self, browser: ConsentBrowser | None = None) -> None:
        super().__init__()
        self.browser = browser

    def write(self, text: str) -> int:
        stripped = text.strip()
        if self.browser is not None and stripped.startswith("http"):
            self.browser.open(stripped)
        return super().write(text)


def hark_google(
    settings: GoogleSettings, *argv: str, browser: ConsentBrowser | None = None
) -> tuple[int, str, str]:
    out, err = io.StringIO(), Terminal(browser)
    code = cli.run(parse("google", *argv), settings, out=out, err=err)
    if browser is not None:
        browser.join()
    return code, out.getvalue(), err.getvalue()


def authorized_user_file(google: FakeGoogle, tmp_path: Path, scopes: list[str]) -> Path:
    info = google.oauth.authorized_user(scopes, email="ada@example.com")
    path = tmp_path / "authorized_user.json"
    path.write_text(json.dumps(info), encoding="utf-8")
    return path


def secrets_of() -> list[str]:
    raw = SecretStore().get(TOKEN_SECRET)
    assert raw is not None
    info = json.loads(raw)
    return [info["refresh_token"], info["client_secret"]]


def test_parser_actions_and_defaults() -> None:
    args = parse("google", "login", "--no-browser", "--port", "8765", "--timeout", "60")
    assert (args.command, args.google_command) == ("google", "login")
    assert args.no_browser is True
    assert args.port == 8765
    assert args.timeout == 60.0
    assert args.client_file is None
    assert parse("google", "login").timeout is None  # run() fills in the default
    assert parse("google", "status", "--json").json is True
    assert parse("google", "logout").google_command == "logout"
    with pytest.raises(SystemExit):
        parse("google")


def test_status_when_not_connected(settings: GoogleSettings) -> None:
    code, out, _ = hark_google(settings, "status")
    assert code == 0
    assert "not connected" in out
    assert "hark google login" in out

    code, out, _ = hark_google(settings, "status", "--json")
    data = json.loads(out)
    assert data["connected"] is False
    assert CALENDAR_EVENTS in data["missing"]


def test_login_with_authorized_user_then_status(
    google: FakeGoogle, settings: GoogleSettings, tmp_path: Path
) -> None:
    path = authorized_user_file(
        google, tmp_path, [CALENDAR_READ, CALENDAR_EVENTS, *IDENTITY_SCOPES]
    )

    code, out, err = hark_google(settings, "login", "--authorized-user", str(path))

    assert code == 0, err
    assert "connected as ada@example.com" in out
    assert "missing for your settings: gmail.readonly" in out
    assert "run `hark google login` to grant gmail.readonly" in out
    status_code, text, _ = hark_google(settings, "status")
    _, as_json, _ = hark_google(settings, "status", "--json")
    assert status_code == 0
    assert "calendar.events" in text
    data = json.loads(as_json)
    assert data["email"] == "ada@example.com"
    assert data["missing"] == [GMAIL_READ]
    for secret in secrets_of():
        for shown in (out, err, text, as_json):
            assert secret not in shown


def test_browser_login_prints_the_url(
    google: FakeGoogle, settings: GoogleSettings, tmp_path: Path
) -> None:
    client = tmp_path / "client.json"
    client.write_text(json.dumps(google.oauth.client_config()), encoding="utf-8")
    browser = ConsentBrowser(google.oauth, email="ada@example.com")

    code, out, err = hark_google(
        settings,
        "login",
        "--client-file",
        str(client),
        "--no-browser",
        "--timeout",
        "30",
        browser=browser,
    )

    assert code == 0, err
    assert browser.urls
    assert browser.urls[0] in err
    assert "Waiting up to 30 s" in err
    assert "connected as ada@example.com" in out
    assert "everything your settings need is granted" in out
    for secret in secrets_of():
        assert secret not in out + err


def test_login_errors_are_one_line_with_exit_2(settings: GoogleSettings, tmp_path: Path) -> None:
    web = tmp_path / "web.json"
    web.write_text('{"web": {"client_id": "a", "client_secret": "b"}}', encoding="utf-8")

    code, out, err = hark_google(settings, "login", "--client-file", str(web), "--no-browser")

    assert code == 2
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("hark: ")
    assert "Desktop app" in err

    code, _, err = hark_google(settings, "login", "--no-browser")  # no client file anywhere
    assert code == 2
    assert "APIs & Services → Credentials" in err


def test_login_with_a_revoked_authorized_user(
    google: FakeGoogle, settings: GoogleSettings, tmp_path: Path
) -> None:
    path = authorized_user_file(google, tmp_path, [CALENDAR_READ])
    google.oauth.revoke_all()

    code, _, err = hark_google(settings, "login", "--authorized-user", str(path))

    assert code == 2
    assert "hark google login" in err
    assert SecretStore().get(TOKEN_SECRET) is None


def test_debug_lets_the_error_through(settings: GoogleSettings, tmp_path: Path) -> None:
    args = parse("--debug", "google", "login", "--authorized-user", str(tmp_path / "none.json"))
    with pytest.raises(GoogleError):
        cli.run(args, settings, out=io.StringIO(), err=io.StringIO())


def test_logout(google: FakeGoogle, settings: GoogleSettings, tmp_path: Path) -> None:
    path = authorized_user_file(google, tmp_path, [CALENDAR_READ])
    hark_google(settings, "login", "--authorized-user", str(path))
    secrets = secrets_of()

    code, out, err = hark_google(settings, "logout")

    assert code == 0
    assert "revoked and deleted" in err
    assert google.oauth.revoked_count == 1
    assert SecretStore().get(TOKEN_SECRET) is None
    assert all(s not in out + err for s in secrets)

    code, _, err = hark_google(settings, "logout")
    assert code == 0
    assert "no Google account was connected" in err


def test_logout_warns_when_google_cannot_be_told(
    google: FakeGoogle, settings: GoogleSettings, tmp_path: Path
) -> None:
    path = authorized_user_file(google, tmp_path, [CALENDAR_READ])
    hark_google(settings, "login", "--authorized-user", str(path))
    google.fail("/revoke", 500)

    code, _, err = hark_google(settings, "logout")

    assert code == 0
    assert "hark: warning: Google did not confirm the revocation (HTTP 500" in err
    assert SecretStore().get(TOKEN_SECRET) is None


def test_run_takes_the_whole_settings(settings: GoogleSettings) -> None:
    from app.settings.schema import Settings

    out = io.StringIO()
    code = cli.run(
        parse("google", "status", "--json"),
        Settings(google=settings.model_copy(update={"calendar": "off", "mail": "read"})),
        out=out,
        err=io.StringIO(),
    )
    assert code == 0
    assert json.loads(out.getvalue())["needed"] == [GMAIL_READ]


def test_browser_login_waits_300_s_by_default(
    google: FakeGoogle, settings: GoogleSettings, tmp_path: Path
) -> None:
    client = tmp_path / "client.json"
    client.write_text(json.dumps(google.oauth.client_config()), encoding="utf-8")
    with_file = settings.model_copy(update={"client_file": client})

    code, _, err = hark_google(
        with_file, "login", "--no-browser", browser=ConsentBrowser(google.oauth)
    )

    assert code == 0, err
    assert "Waiting up to 300 s" in err
