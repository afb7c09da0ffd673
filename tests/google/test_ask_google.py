"""End to end: ``hark ask "what's on my calendar tomorrow?"`` with the fake Ollama choosing
``calendar_list_events`` and the fake Google answering through the real client library."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from app.cli.main import main
from app.google.scopes import scopes_for
from app.safety.audit import AuditLog, default_audit_path
from app.settings.schema import GoogleSettings, PolicySettings
from tests.fakes.google import FakeGoogle
from tests.fakes.ollama import FakeOllama

ZONE = "America/New_York"


@pytest.fixture
def google(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGoogle]:
    with FakeGoogle() as fake:
        monkeypatch.setenv("HARK_GOOGLE__API_ENDPOINT", fake.url)
        monkeypatch.setenv("HARK_GOOGLE__TOKEN_URI", fake.url + "/token")
        monkeypatch.setenv("HARK_GOOGLE__TIME_ZONE", ZONE)
        monkeypatch.setenv("HARK_GOOGLE__MAIL", "send")
        yield fake


@pytest.fixture
def ollama(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOllama]:
    with FakeOllama(models=["llama3.2:3b"]) as fake:
        monkeypatch.setenv("HARK_LLM__HOST", fake.url)
        yield fake


def sign_in(google: FakeGoogle, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """What a user on a headless machine does: import an authorized-user file."""
    scopes = scopes_for(GoogleSettings(calendar="write", mail="send"))
    info = google.oauth.authorized_user(scopes, email="me@example.com")
    path = tmp_path / "authorized_user.json"
    path.write_text(json.dumps(info))
    assert main(["google", "login", "--authorized-user", str(path)]) == 0
    capsys.readouterr()


def test_whats_on_my_calendar_tomorrow(
    google: FakeGoogle,
    ollama: FakeOllama,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sign_in(google, tmp_path, capsys)
    zone = ZoneInfo(ZONE)
    tomorrow = datetime.now(zone).date() + timedelta(days=1)
    at = datetime.combine(tomorrow, time(10), zone)
    google.calendar.add_event("Dentist", at, at + timedelta(hours=1))
    google.calendar.add_event("Team lunch", at + timedelta(hours=2), at + timedelta(hours=3))
    google.calendar.add_event("Yesterday's call", at - timedelta(days=2), at - timedelta(days=2))
    ollama.reply_tool_call("calendar_list_events", {"start": "tomorrow"})
    ollama.reply("Tomorrow you have the dentist at ten and team lunch at noon.")

    code = main(["ask", "what's on my calendar tomorrow?", "--json", "--no-voice"])

    out, err = capsys.readouterr()
    assert code == 0, err
    data = json.loads(out)
    assert data["reply"] == "Tomorrow you have the dentist at ten and team lunch at noon."
    [tool] = data["tool_calls"]
    assert tool["name"] == "calendar_list_events"
    assert tool["ok"] is True
    listed = json.loads(tool["result"])
    assert [e["title"] for e in listed["events"]] == ["Dentist", "Team lunch"]
    assert listed["events"][0]["start"] == at.isoformat()
    # What the model was given to write its reply from: the events themselves.
    tool_message = ollama.requests[1]["messages"][-1]
    assert tool_message["role"] == "tool"
    assert "Dentist" in tool_message["content"]
    # The model was offered the Google tools, and the reading left its trace in the audit log.
    offered = {t["function"]["name"] for t in ollama.requests[0]["tools"]}
    assert {"calendar_list_events", "mail_send", "mail_reply"} <= offered
    with AuditLog(default_audit_path(PolicySettings())) as audit:
        kinds = [(r.tool, r.kind) for r in audit.rows()]
    assert ("calendar_list_events", "executed") in kinds
    assert audit_ok()


def audit_ok() -> bool:
    with AuditLog(default_audit_path(PolicySettings())) as audit:
        return audit.verify().ok


def test_without_a_terminal_hark_does_not_send_mail_and_says_why(
    google: FakeGoogle,
    ollama: FakeOllama,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sign_in(google, tmp_path, capsys)
    monkeypatch.setattr("sys.stdin", open("/dev/null"))  # noqa: SIM115 - closed by pytest
    ollama.reply_tool_call(
        "mail_send", {"to": ["boss@example.org"], "subject": "Quit", "body": "I quit."}
    )
    ollama.reply("I could not send it: it needs your approval.")
    code = main(["ask", "tell my boss I quit", "--json", "--no-voice"])
    out, err = capsys.readouterr()
    assert code == 0, err
    data = json.loads(out)
    [tool] = data["tool_calls"]
    assert tool["name"] == "mail_send"
    assert tool["ok"] is False
    assert "approval" in tool["result"]
    assert google.gmail.sent == []


def google_check(capsys: pytest.CaptureFixture[str]) -> dict[str, str]:
    main(["doctor", "--json"])
    checks = json.loads(capsys.readouterr().out)["checks"]
    [google] = [c for c in checks if c["name"] == "google"]
    return google


def test_doctor_tells_whether_google_is_connected_and_still_accepted(
    google: FakeGoogle, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = google_check(capsys)
    assert before["status"] == "warn"
    assert "not connected" in before["detail"]
    assert "hark google login" in before["fix"]

    sign_in(google, tmp_path, capsys)
    refreshes = google.oauth.refresh_count
    connected = google_check(capsys)
    assert connected["status"] == "ok", connected
    assert connected["detail"] == "me@example.com (calendar write, mail send)"
    assert google.oauth.refresh_count == refreshes + 1  # it asked Google, not just the keyring

    google.oauth.revoke_all()
    revoked = google_check(capsys)
    assert revoked["status"] == "fail"
    assert "no longer accepts" in revoked["detail"]
    assert revoked["fix"] == "hark google login"
