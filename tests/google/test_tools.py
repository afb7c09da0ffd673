"""The Calendar and Gmail tools as the model calls them: through the tool registry and the
action policy, against the fake Google with the real client library."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from google.oauth2.credentials import Credentials

from app.core.tools import ToolRegistry
from app.core.types import ActionProposal, Decision, ToolCall
from app.google.api import GoogleApi
from app.google.calendar import Calendar
from app.google.calendar_tools import calendar_tools, parse_when
from app.google.gmail import Gmail
from app.google.mail_tools import GmailContacts, mail_tools
from app.google.scopes import scopes_for
from app.google.tools import register
from app.safety.audit import AuditLog
from app.safety.policy import ActionPolicy
from app.settings.schema import GoogleSettings, PolicySettings
from app.shared.errors import GoogleError
from tests.fakes.google import FakeGoogle

ZONE = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 11, 23, 9, 30, tzinfo=ZONE)


@pytest.fixture
def google() -> Iterator[FakeGoogle]:
    with FakeGoogle() as fake:
        yield fake


def google_settings(fake: FakeGoogle) -> GoogleSettings:
    return GoogleSettings(
        api_endpoint=fake.url,
        token_uri=fake.url + "/token",
        retry_backoff_s=0.01,
        calendar="write",
        mail="send",
    )


class Scripted:
    """A Confirmer that answers from a list and keeps what it was asked."""

    def __init__(self, *answers: Decision) -> None:
        self.answers = list(answers)
        self.asked: list[ActionProposal] = []

    async def confirm(self, proposal: ActionProposal) -> Decision:
        self.asked.append(proposal)
        return self.answers.pop(0)


class Setup:
    def __init__(self, fake: FakeGoogle, tmp_path: Path) -> None:
        settings = google_settings(fake)
        creds = Credentials(token=fake.oauth.issue_access_token(scopes_for(settings)))
        self.calendar = Calendar(GoogleApi("calendar", creds, settings), tz=ZONE)
        self.gmail = Gmail(GoogleApi("gmail", creds, settings))
        self.registry = ToolRegistry()
        self.actions = register(
            self.registry, calendar_tools(self.calendar, lambda: NOW, write=True)
        )
        self.actions |= register(self.registry, mail_tools(self.gmail, level="send"))
        self.audit = AuditLog(tmp_path / "audit.sqlite3")

    def policy(self, confirmer: Scripted | None, **rules: Any) -> ActionPolicy:
        return ActionPolicy(
            self.registry,
            self.actions,
            PolicySettings(**rules),
            audit=self.audit,
            confirmer=confirmer,
            contacts=GmailContacts(self.gmail),
        )


@pytest.fixture
def setup(google: FakeGoogle, tmp_path: Path) -> Iterator[Setup]:
    made = Setup(google, tmp_path)
    yield made
    made.audit.close()


async def call(tools: Any, name: str, **arguments: Any) -> tuple[bool, Any]:
    result = await tools.call(ToolCall(name, arguments))
    return result.ok, json.loads(result.content)


def test_times_the_model_may_give() -> None:
    assert parse_when("tomorrow", NOW) == date(2026, 11, 24)
    assert parse_when("today", NOW) == date(2026, 11, 23)
    assert parse_when("2026-12-01", NOW) == date(2026, 12, 1)
    assert parse_when("2026-12-01T15:00", NOW) == datetime(2026, 12, 1, 15, tzinfo=ZONE)
    utc = parse_when("2026-12-01T15:00:00Z", NOW)
    assert isinstance(utc, datetime)
    assert utc.hour == 16  # shown in the user's zone
    with pytest.raises(GoogleError) as bad:
        parse_when("next blue moon", NOW)
    assert "2026-11-24T15:00" in bad.value.message


def test_the_tool_names_are_the_fixed_ones(setup: Setup) -> None:
    assert sorted(setup.registry.names()) == sorted(
        [
            "calendar_list_events",
            "calendar_create_event",
            "calendar_update_event",
            "calendar_delete_event",
            "calendar_find_free_time",
            "mail_search",
            "mail_read",
            "mail_draft",
            "mail_send",
            "mail_reply",
            "mail_mark_read",
            "mail_archive",
        ]
    )
    for spec in setup.registry.specs():
        assert spec.parameters["type"] == "object"
        assert set(spec.parameters["required"]) <= set(spec.parameters["properties"])


async def test_read_only_settings_offer_only_reading_tools(setup: Setup) -> None:
    reads = ToolRegistry()
    register(reads, calendar_tools(setup.calendar, lambda: NOW, write=False))
    register(reads, mail_tools(setup.gmail, level="read"))
    assert sorted(reads.names()) == [
        "calendar_find_free_time",
        "calendar_list_events",
        "mail_read",
        "mail_search",
    ]


async def test_listing_tomorrow_gives_tomorrows_events_only(
    setup: Setup, google: FakeGoogle
) -> None:
    google.calendar.add_event("Dentist", NOW + timedelta(days=1), NOW + timedelta(days=1, hours=1))
    google.calendar.add_event("Holiday", date(2026, 11, 24), date(2026, 11, 25))
    google.calendar.add_event("Today's call", NOW + timedelta(hours=2), NOW + timedelta(hours=3))
    google.calendar.add_event(
        "Next week", NOW + timedelta(days=8), NOW + timedelta(days=8, hours=1)
    )
    ok, result = await call(setup.policy(None), "calendar_list_events", start="tomorrow")
    assert ok, result
    assert sorted(e["title"] for e in result["events"]) == ["Dentist", "Holiday"]
    assert result["from"].startswith("2026-11-24T00:00")
    assert result["to"].startswith("2026-11-25T00:00")
    dentist = next(e for e in result["events"] if e["title"] == "Dentist")
    assert dentist["start"] == "2026-11-24T09:30:00+01:00"


async def test_an_event_without_guests_is_made_at_once_and_only_once(
    setup: Setup, google: FakeGoogle
) -> None:
    policy = setup.policy(None)  # nobody to ask: only what needs no approval can run
    args = {"title": "Focus time", "start": "2026-11-24T14:00", "duration_minutes": 90}
    ok, first = await call(policy, "calendar_create_event", **args)
    assert ok, first
    ok, again = await call(policy, "calendar_create_event", **args)  # the model repeats itself
    assert ok, again
    made = [e for e in google.calendar.events.values() if e["summary"] == "Focus time"]
    assert len(made) == 1
    assert made[0]["end"]["dateTime"].startswith("2026-11-24T15:30")


async def test_an_invitation_needs_a_yes_and_the_edited_version_is_sent(
    setup: Setup, google: FakeGoogle
) -> None:
    confirmer = Scripted(Decision(True, edits={"title": "Lunch with Bea"}))
    ok, result = await call(
        setup.policy(confirmer),
        "calendar_create_event",
        title="Lunch",
        start="2026-11-25T12:30",
        attendees=["bea@example.org"],
    )
    assert ok, result
    [asked] = confirmer.asked
    assert asked.tool == "calendar_create_event"
    assert "bea@example.org" in asked.summary
    assert asked.preview["attendees"] == ["bea@example.org"]
    [event] = google.calendar.events.values()
    assert event["summary"] == "Lunch with Bea"
    assert [a["email"] for a in event["attendees"]] == ["bea@example.org"]


async def test_mail_is_never_sent_without_a_yes(setup: Setup, google: FakeGoogle) -> None:
    args = {"to": ["carl@example.org"], "subject": "Invoice", "body": "Paid, thanks."}
    ok, result = await call(setup.policy(None), "mail_send", **args)
    assert not ok
    assert "approval" in json.dumps(result)
    rejected = Scripted(Decision(False, note="rejected"))
    ok, result = await call(setup.policy(rejected), "mail_send", **args)
    assert not ok
    assert google.gmail.sent == []

    approved = Scripted(Decision(True, edits={"body": "Paid today, thanks."}))
    ok, result = await call(setup.policy(approved), "mail_send", **args)
    assert ok, result
    [sent] = google.gmail.sent
    assert sent.addresses("To") == ["carl@example.org"]
    assert "Paid today, thanks." in sent.text
    # carl was never written to before: the proposal says so
    assert any("carl@example.org" in reason for reason in approved.asked[0].reasons)


async def test_a_reply_shows_whom_it_goes_to_and_stays_in_the_thread(
    setup: Setup, google: FakeGoogle
) -> None:
    mid = google.gmail.add_message(
        sender="Dora <dora@example.org>",
        subject="Saturday?",
        body="Are you free on Saturday?",
        message_id="<sat-1@mail.example.org>",
    )
    confirmer = Scripted(Decision(True))
    ok, result = await call(
        setup.policy(confirmer), "mail_reply", message_id=mid, body="Yes, I am."
    )
    assert ok, result
    [asked] = confirmer.asked
    assert asked.preview["to"] == ["Dora <dora@example.org>"] or asked.preview["to"] == [
        "dora@example.org"
    ]
    assert asked.preview["subject"] == "Re: Saturday?"
    [sent] = google.gmail.sent
    assert sent["In-Reply-To"] == "<sat-1@mail.example.org>"
    assert sent.thread_id == google.gmail.message(mid).thread_id


async def test_reading_the_inbox_needs_no_approval(setup: Setup, google: FakeGoogle) -> None:
    google.gmail.add_message(subject="Unread one")
    google.gmail.add_message(subject="Old one", unread=False)
    ok, result = await call(setup.policy(None), "mail_search")
    assert ok, result
    assert [m["subject"] for m in result["messages"]] == ["Unread one"]
    ok, read = await call(setup.policy(None), "mail_read", message_id=result["messages"][0]["id"])
    assert ok, read
    assert read["subject"] == "Unread one"
