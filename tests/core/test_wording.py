"""Actions and times in a person's words (what the dialog, the conversation and the terminal
show instead of ISO timestamps and Python call syntax)."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from app.core.wording import action_words, duration_words, mail_words, when_words


def test_event_times_read_as_a_day_a_span_and_a_length() -> None:
    assert when_words("2026-12-01T14:00", "2026-12-01T15:00") == "Tue 1 Dec, 14:00–15:00 (1 h)"
    assert when_words("2026-12-01T14:00") == "Tue 1 Dec, 14:00–15:00 (1 h)"
    assert (
        when_words("2026-12-01T09:00:00+01:00", None, 90) == "Tue 1 Dec, 09:00–10:30 (1 h 30 min)"
    )
    assert when_words("2026-12-01T23:00", "2026-12-02T01:00") == (
        "Tue 1 Dec, 23:00 – Wed 2 Dec, 01:00 (2 h)"
    )
    assert when_words("2026-12-01") == "Tue 1 Dec (all day)"
    assert when_words(date(2026, 12, 1), date(2026, 12, 4)) == "Tue 1 Dec – Thu 3 Dec (all day)"
    tokyo = ZoneInfo("Asia/Tokyo")
    start = datetime(2026, 12, 1, 14, 0, tzinfo=tokyo)
    assert when_words(start, None, 15) == "Tue 1 Dec, 14:00–14:15 (15 min)"
    assert when_words("tomorrow at noon") == "tomorrow at noon"  # the tool says what is wrong


def test_durations() -> None:
    assert [duration_words(m) for m in (5, 60, 90, 1440, 2880)] == [
        "5 min",
        "1 h",
        "1 h 30 min",
        "1 day",
        "2 days",
    ]


def test_actions_read_as_sentences_not_calls() -> None:
    mail = {"to": ["ann@x.org"], "cc": "bo@y.org", "subject": "Lunch", "body": "…"}
    assert (
        action_words("mail_send", mail) == "Send an email to ann@x.org, bo@y.org, subject “Lunch”"
    )
    assert mail_words("Save a draft", {"subject": "x" * 80}).endswith("x…”")
    event = {"title": "Standup", "start": "2026-12-01T09:00", "duration_minutes": 15}
    assert action_words("calendar_create_event", {**event, "attendees": ["ann@x.org"]}) == (
        "Create the event “Standup” on Tue 1 Dec, 09:00–09:15 (15 min), inviting ann@x.org"
    )
    assert action_words("calendar_list_events", {"start": "today"}) == "Look at your calendar"
    assert action_words("weather_lookup", {}) == "Weather lookup"
