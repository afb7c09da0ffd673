"""Calendar against the fake Google Calendar, through the real client library and GoogleApi:
time zones (with a DST change), ranges, writes, free time, and every way a call can fail."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from google.oauth2.credentials import Credentials

from app.google.api import GoogleApi
from app.google.calendar import Calendar
from app.google.calendar_events import CalendarEvent
from app.google.time_zones import local_zone, zone_named
from app.settings.schema import GoogleSettings
from app.shared.errors import ConfigError, GoogleError
from tests.fakes.google import FakeGoogle
from tests.support.clocks import Sleeps

AUTH = "https://www.googleapis.com/auth/"
WRITE = (AUTH + "calendar.events",)
READ = (AUTH + "calendar.readonly",)
NY = ZoneInfo("America/New_York")
# 2024-11-03 02:00 EDT -> 01:00 EST: New York leaves daylight saving time.
BEFORE_DST_END = datetime(2024, 11, 2, 9, tzinfo=NY)
AFTER_DST_END = datetime(2024, 11, 3, 9, tzinfo=NY)
MONDAY = date(2024, 11, 4)

MakeCalendar = Callable[..., Calendar]


@pytest.fixture
def google() -> Iterator[FakeGoogle]:
    with FakeGoogle() as g:
        g.calendar.time_zone = "America/New_York"
        yield g


@pytest.fixture
def make(google: FakeGoogle) -> Iterator[MakeCalendar]:
    """Builds Calendars on the fake; closes their connections before the fake stops."""
    apis: list[GoogleApi] = []

    def build(
        scopes: tuple[str, ...] = WRITE,
        *,
        credentials: Any = None,
        endpoint: str | None = None,
        sleep: Any = None,
        calendar_id: str = "primary",
        retries: int = 3,
    ) -> Calendar:
        creds = credentials or Credentials(token=google.oauth.issue_access_token(scopes))
        settings = GoogleSettings(
            api_endpoint=endpoint or google.url,
            token_uri=google.url + "/token",
            retry_backoff_s=0.01,
            retry_attempts=retries,
            timeout_s=10,
        )
        extra = {"sleep": sleep} if sleep is not None else {}
        api = GoogleApi("calendar", creds, settings, **extra)
        apis.append(api)
        return Calendar(api, calendar_id=calendar_id, tz=NY)

    yield build
    for api in apis:
        api.service.close()


@pytest.fixture
def cal(make: MakeCalendar) -> Calendar:
    return make()


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), NY)


# --- reading ------------------------------------------------------------------------------


async def test_timed_and_all_day_events_come_in_the_users_zone_across_a_dst_change(
    google: FakeGoogle, cal: Calendar
) -> None:
    add = google.calendar.add_event
    add("before", BEFORE_DST_END, BEFORE_DST_END + timedelta(hours=1), time_zone="UTC")
    add("after", AFTER_DST_END, AFTER_DST_END + timedelta(hours=1))
    add("holiday", date(2024, 11, 3), date(2024, 11, 4))
    add("next week", at(MONDAY + timedelta(days=7), 9), at(MONDAY + timedelta(days=7), 10))

    events = await cal.list_events(datetime(2024, 11, 2), datetime(2024, 11, 4))

    assert [e.title for e in events] == ["before", "holiday", "after"]
    before, holiday, after = events
    assert before.start == BEFORE_DST_END
    assert before.start.utcoffset() == timedelta(hours=-4)  # type: ignore[union-attr]
    assert after.start == AFTER_DST_END
    assert after.start.utcoffset() == timedelta(hours=-5)  # type: ignore[union-attr]
    assert isinstance(after.end, datetime)
    assert after.end.tzinfo == NY
    assert (holiday.start, holiday.end, holiday.all_day) == (
        date(2024, 11, 3),
        date(2024, 11, 4),
        True,
    )
    assert not after.all_day
    assert holiday.brief() == {
        "id": holiday.id,
        "title": "holiday",
        "start": "2024-11-03",
        "end": "2024-11-04",
        "last_day": "2024-11-03",
        "all_day": True,
    }
    assert after.brief()["start"] == "2024-11-03T09:00:00-05:00"


async def test_the_range_keeps_events_that_overlap_it(google: FakeGoogle, cal: Calendar) -> None:
    add = google.calendar.add_event
    add("ends at the start", at(MONDAY, 8), at(MONDAY, 10))
    add("spans the range", at(MONDAY, 9), at(MONDAY, 13))
    add("inside", at(MONDAY, 10, 30), at(MONDAY, 11))
    add("starts inside", at(MONDAY, 11, 30), at(MONDAY, 14))
    add("starts at the end", at(MONDAY, 12), at(MONDAY, 13))

    events = await cal.list_events(at(MONDAY, 10), at(MONDAY, 12))

    assert [e.title for e in events] == ["spans the range", "inside", "starts inside"]


async def test_listing_follows_pages_and_stops_at_the_limit(
    google: FakeGoogle, cal: Calendar
) -> None:
    google.calendar.page_size = 2
    for hour in range(9, 14):
        google.calendar.add_event(f"at {hour}", at(MONDAY, hour), at(MONDAY, hour, 30))
    day = (at(MONDAY, 0), at(MONDAY + timedelta(days=1), 0))

    everything = await cal.list_events(*day)
    assert [e.title for e in everything] == [f"at {h}" for h in range(9, 14)]
    assert google.count("GET", "/calendars/primary/events") == 3

    first_three = await cal.list_events(*day, limit=3)
    assert [e.title for e in first_three] == ["at 9", "at 10", "at 11"]
    assert google.count("GET", "/calendars/primary/events") == 5


async def test_search_and_cancelled_events(google: FakeGoogle, cal: Calendar) -> None:
    add = google.calendar.add_event
    add("Dentist", at(MONDAY, 9), at(MONDAY, 10), location="Main Street")
    add("Lunch with Ann", at(MONDAY, 12), at(MONDAY, 13), attendees=["ann@example.com"])
    add("Dentist (old)", at(MONDAY, 15), at(MONDAY, 16), status="cancelled")
    day = (at(MONDAY, 0), at(MONDAY, 23))

    assert [e.title for e in await cal.list_events(*day, query="dentist")] == ["Dentist"]
    lunch = await cal.list_events(*day, query="ann@example.com")
    assert [(e.title, e.attendees) for e in lunch] == [("Lunch with Ann", ("ann@example.com",))]
    assert len(await cal.list_events(*day)) == 2


async def test_get_event_reads_one_and_unknown_ids_are_not_found(
    google: FakeGoogle, cal: Calendar
) -> None:
    event_id = google.calendar.add_event(
        "Review", at(MONDAY, 9), at(MONDAY, 10), description="Q3 numbers", location="Room 1"
    )
    event = await cal.get_event(event_id)
    assert (event.title, event.description, event.location) == ("Review", "Q3 numbers", "Room 1")
    assert event.html_link.startswith("https://www.google.com/calendar/event?eid=")
    with pytest.raises(GoogleError) as caught:
        await cal.get_event("nosuchevent")
    assert caught.value.code == "google-not-found"


# --- writing ------------------------------------------------------------------------------


async def test_create_a_timed_event_with_guests(google: FakeGoogle, cal: Calendar) -> None:
    made = await cal.create_event(
        "  Planning  ",
        datetime(2024, 11, 4, 15),  # naive: read in the calendar's zone
        datetime(2024, 11, 4, 16, 30),
        attendees=["ann@example.com", " bob@example.org", "ANN@example.com"],
        description="Agenda: budget",
        location="Room 2",
    )
    assert isinstance(made, CalendarEvent)
    assert made.title == "Planning"
    assert made.start == at(MONDAY, 15)
    assert made.end == at(MONDAY, 16, 30)
    assert made.attendees == ("ann@example.com", "bob@example.org")
    stored = google.calendar.events[made.id]
    assert stored["start"] == {"dateTime": "2024-11-04T15:00:00-05:00", "timeZone": NY.key}
    assert stored["description"] == "Agenda: budget"
    assert google.calendar.send_updates == [("insert", made.id, "all")]


async def test_create_without_guests_sends_no_updates(google: FakeGoogle, cal: Calendar) -> None:
    made = await cal.create_event("Focus", at(MONDAY, 9), at(MONDAY, 11))
    assert google.calendar.send_updates == [("insert", made.id, None)]


async def test_all_day_events_end_the_day_after_and_a_same_day_end_means_one_day(
    google: FakeGoogle, cal: Calendar
) -> None:
    one = await cal.create_event("Holiday", date(2024, 11, 3), date(2024, 11, 3))
    trip = await cal.create_event("Trip", date(2024, 11, 5), date(2024, 11, 8))
    assert google.calendar.events[one.id]["start"] == {"date": "2024-11-03"}
    assert google.calendar.events[one.id]["end"] == {"date": "2024-11-04"}
    assert (trip.start, trip.end, trip.all_day) == (date(2024, 11, 5), date(2024, 11, 8), True)
    listed = await cal.list_events(datetime(2024, 11, 3), datetime(2024, 11, 4))
    assert [e.title for e in listed] == ["Holiday"]


async def test_create_with_an_event_id_twice_makes_one_event(
    google: FakeGoogle, cal: Calendar
) -> None:
    event_id = uuid.uuid4().hex
    first = await cal.create_event("Call", at(MONDAY, 9), at(MONDAY, 10), event_id=event_id)
    second = await cal.create_event("Call", at(MONDAY, 9), at(MONDAY, 10), event_id=event_id)
    assert first.id == second.id == event_id
    assert second.title == "Call"
    assert list(google.calendar.events) == [event_id]
    assert google.count("POST", "/calendars/primary/events") == 2


async def test_create_with_an_event_id_is_retried_after_a_503(
    google: FakeGoogle, cal: Calendar
) -> None:
    google.fail("/calendars/primary/events", 503, times=2)
    made = await cal.create_event("Call", at(MONDAY, 9), at(MONDAY, 10), event_id="abcdef01")
    assert made.id == "abcdef01"
    assert google.count("POST", "/calendars/primary/events") == 3
    assert list(google.calendar.events) == ["abcdef01"]


async def test_create_without_an_event_id_is_not_retried_after_a_503(
    google: FakeGoogle, cal: Calendar
) -> None:
    google.fail("/calendars/primary/events", 503)
    with pytest.raises(GoogleError) as caught:
        await cal.create_event("Call", at(MONDAY, 9), at(MONDAY, 10))
    assert caught.value.code == "google-unavailable"
    assert "Try again" in caught.value.message
    assert google.count("POST", "/calendars/primary/events") == 1
    assert google.calendar.events == {}


async def test_update_moves_an_event_and_keeps_its_real_length_across_dst(
    google: FakeGoogle, cal: Calendar
) -> None:
    # 00:30 EDT to 01:30 EST: two hours, though the clock shows one.
    start, end = datetime(2024, 11, 3, 4, 30, tzinfo=UTC), datetime(2024, 11, 3, 6, 30, tzinfo=UTC)
    event_id = google.calendar.add_event("Night shift", start, end)
    moved = await cal.update_event(event_id, start=datetime(2024, 11, 4, 9), title="Day shift")
    assert moved.start == at(MONDAY, 9)
    assert moved.end == at(MONDAY, 11)
    assert moved.title == "Day shift"
    stored = google.calendar.events[event_id]
    assert stored["start"]["dateTime"] == "2024-11-04T09:00:00-05:00"
    assert stored["end"]["dateTime"] == "2024-11-04T11:00:00-05:00"
    assert stored["sequence"] == 1
    assert google.calendar.send_updates == [("patch", event_id, None)]


async def test_update_changes_only_what_is_given_and_tells_guests(
    google: FakeGoogle, cal: Calendar
) -> None:
    event_id = google.calendar.add_event(
        "Review", at(MONDAY, 9), at(MONDAY, 10), location="Room 1", description="numbers"
    )
    changed = await cal.update_event(
        event_id, end=at(MONDAY, 11), attendees=["ann@example.com"], location=""
    )
    assert (changed.start, changed.end) == (at(MONDAY, 9), at(MONDAY, 11))
    assert changed.attendees == ("ann@example.com",)
    assert changed.location == ""
    assert changed.description == "numbers"
    assert google.calendar.send_updates == [("patch", event_id, "all")]
    # The event has guests now: later changes tell them too.
    await cal.update_event(event_id, description="numbers and plans")
    assert google.calendar.send_updates[-1] == ("patch", event_id, "all")


async def test_update_turns_a_timed_event_into_an_all_day_one(
    google: FakeGoogle, cal: Calendar
) -> None:
    event_id = google.calendar.add_event("Offsite", at(MONDAY, 9), at(MONDAY, 17))
    changed = await cal.update_event(event_id, start=MONDAY, end=MONDAY)
    assert (changed.start, changed.end, changed.all_day) == (
        MONDAY,
        MONDAY + timedelta(days=1),
        True,
    )
    assert google.calendar.events[event_id]["start"] == {"date": "2024-11-04"}


async def test_update_problems(google: FakeGoogle, cal: Calendar) -> None:
    event_id = google.calendar.add_event("Offsite", MONDAY, MONDAY + timedelta(days=1))
    with pytest.raises(GoogleError) as nothing:
        await cal.update_event(event_id)
    assert nothing.value.code == "calendar-bad-input"
    with pytest.raises(GoogleError) as mixed:
        await cal.update_event(event_id, end=at(MONDAY, 17))
    assert mixed.value.code == "calendar-bad-input"
    with pytest.raises(GoogleError) as unknown:
        await cal.update_event("nosuchevent", title="x")
    assert unknown.value.code == "google-not-found"
    assert google.count("PATCH", "/calendars/") == 0


async def test_delete_twice_is_not_an_error(google: FakeGoogle, cal: Calendar) -> None:
    event_id = google.calendar.add_event("Call", at(MONDAY, 9), at(MONDAY, 10))
    assert await cal.delete_event(event_id) is True
    assert google.calendar.events[event_id]["status"] == "cancelled"
    assert await cal.delete_event(event_id) is False
    assert await cal.delete_event("nosuchevent") is False
    assert await cal.list_events(at(MONDAY, 0), at(MONDAY, 23)) == []
    assert (await cal.get_event(event_id)).status == "cancelled"
    assert google.calendar.send_updates == [("delete", event_id, "all")]


# --- free time ----------------------------------------------------------------------------


async def test_free_slots_skip_busy_time_and_keep_to_working_hours(
    google: FakeGoogle, cal: Calendar
) -> None:
    add = google.calendar.add_event
    add("early", at(MONDAY, 7), at(MONDAY, 10))
    add("a", at(MONDAY, 11), at(MONDAY, 11, 30))
    add("b", at(MONDAY, 11, 20), at(MONDAY, 12))
    add("tentative free", at(MONDAY, 12), at(MONDAY, 13), transparency="transparent")
    add("long", at(MONDAY, 14), at(MONDAY, 17, 30))
    add("gone", at(MONDAY, 10), at(MONDAY, 11), status="cancelled")
    add("conference", date(2024, 11, 5), date(2024, 11, 6))
    start, end = at(MONDAY, 8), at(MONDAY + timedelta(days=2), 23)

    hour = await cal.find_free_time(start, end, timedelta(hours=1))
    assert hour == [
        (at(MONDAY, 10), at(MONDAY, 11)),
        (at(MONDAY, 12), at(MONDAY, 14)),
        (at(MONDAY + timedelta(days=2), 9), at(MONDAY + timedelta(days=2), 18)),
    ]
    half = await cal.find_free_time(start, end, timedelta(minutes=30), limit=3)
    assert half == [
        (at(MONDAY, 10), at(MONDAY, 11)),
        (at(MONDAY, 12), at(MONDAY, 14)),
        (at(MONDAY, 17, 30), at(MONDAY, 18)),
    ]
    assert all(a.tzinfo == NY for a, _ in half)
    late = await cal.find_free_time(
        at(MONDAY, 12, 30),
        at(MONDAY, 23),
        timedelta(minutes=30),
        day_start=time(8),
        day_end=time(20),
    )
    assert late == [(at(MONDAY, 12, 30), at(MONDAY, 14)), (at(MONDAY, 17, 30), at(MONDAY, 20))]


async def test_free_slots_on_the_day_daylight_saving_ends(
    google: FakeGoogle, cal: Calendar
) -> None:
    google.calendar.add_event(
        "brunch", AFTER_DST_END + timedelta(hours=2), AFTER_DST_END + timedelta(hours=3)
    )
    free = await cal.find_free_time(
        datetime(2024, 11, 3), datetime(2024, 11, 4), timedelta(hours=2)
    )
    assert free == [
        (AFTER_DST_END, AFTER_DST_END + timedelta(hours=2)),
        (datetime(2024, 11, 3, 12, tzinfo=NY), datetime(2024, 11, 3, 18, tzinfo=NY)),
    ]


async def test_free_slots_of_an_unknown_calendar(make: MakeCalendar) -> None:
    cal = make(calendar_id="nobody@example.com")
    with pytest.raises(GoogleError) as caught:
        await cal.find_free_time(at(MONDAY, 9), at(MONDAY, 18), timedelta(hours=1))
    assert caught.value.code == "google-not-found"
    assert "google.calendar_id" in caught.value.message


# --- input Hark refuses before asking Google ----------------------------------------------


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda c: c.list_events(at(MONDAY, 10), at(MONDAY, 9)), "after its start"),
        (lambda c: c.create_event("x", at(MONDAY, 10), at(MONDAY, 9)), "end after it starts"),
        (lambda c: c.create_event("x", MONDAY, MONDAY - timedelta(days=1)), "end day"),
        (lambda c: c.create_event("   ", at(MONDAY, 9), at(MONDAY, 10)), "title"),
        (lambda c: c.create_event("x", MONDAY, at(MONDAY, 10)), "both as dates"),
        (
            lambda c: c.create_event("x", at(MONDAY, 9), at(MONDAY, 10), attendees=["ann at home"]),
            "'ann at home' is not an email address",
        ),
        (
            lambda c: c.create_event("x", at(MONDAY, 9), at(MONDAY, 10), event_id="Not-Valid"),
            "event id",
        ),
        (lambda c: c.update_event("", title="x"), "event id"),
        (lambda c: c.update_event("abcdef", attendees=["@example.com"]), "email"),
        (
            lambda c: c.find_free_time(at(MONDAY, 9), at(MONDAY, 18), timedelta(hours=10)),
            "does not fit in working hours 09:00-18:00",
        ),
        (lambda c: c.find_free_time(at(MONDAY, 9), at(MONDAY, 18), timedelta(0)), "more than zero"),
    ],
)
async def test_bad_input_gets_a_clear_error_and_sends_nothing(
    google: FakeGoogle, cal: Calendar, call: Callable[[Calendar], Any], words: str
) -> None:
    with pytest.raises(GoogleError) as caught:
        await call(cal)
    assert caught.value.code == "calendar-bad-input"
    assert words in caught.value.message
    assert google.requests == []


def test_zones() -> None:
    assert zone_named("Europe/Berlin") == ZoneInfo("Europe/Berlin")
    assert local_zone().utcoffset(datetime(2024, 1, 1)) is not None
    with pytest.raises(ConfigError) as caught:
        zone_named("Mars/Olympus")
    assert caught.value.code == "config-invalid"
    assert "Mars/Olympus" in caught.value.message


# --- failures -----------------------------------------------------------------------------


async def test_a_token_google_keeps_refusing_is_unauthorized(
    google: FakeGoogle, make: MakeCalendar
) -> None:
    def refresh(request: Any, scopes: Any) -> tuple[str, datetime]:
        expiry = datetime.now(UTC).replace(tzinfo=None) + timedelta(hours=1)
        return "ya29.revoked", expiry

    cal = make(credentials=Credentials(token="ya29.revoked", refresh_handler=refresh))
    with pytest.raises(GoogleError) as caught:
        await cal.list_events(at(MONDAY, 0), at(MONDAY, 23))
    assert caught.value.code == "google-unauthorized"
    assert "hark google login" in caught.value.message
    assert google.count("GET", "/calendars/") == 3  # the first try and two refreshed ones


async def test_a_read_only_token_can_list_but_not_create(
    google: FakeGoogle, make: MakeCalendar
) -> None:
    cal = make(READ)
    assert await cal.list_events(at(MONDAY, 0), at(MONDAY, 23)) == []
    with pytest.raises(GoogleError) as caught:
        await cal.create_event("x", at(MONDAY, 9), at(MONDAY, 10))
    assert caught.value.code == "google-scope"
    assert google.calendar.events == {}


async def test_a_429_waits_as_long_as_retry_after_says(
    google: FakeGoogle, make: MakeCalendar
) -> None:
    sleeps = Sleeps()
    cal = make(sleep=sleeps)
    google.calendar.add_event("Call", at(MONDAY, 9), at(MONDAY, 10))
    google.fail("/calendars/", 429, reason="rateLimitExceeded", retry_after=7)
    events = await cal.list_events(at(MONDAY, 0), at(MONDAY, 23))
    assert [e.title for e in events] == ["Call"]
    assert sleeps.waits == [7.0]
    assert google.count("GET", "/calendars/") == 2


async def test_a_read_is_retried_after_two_503s(google: FakeGoogle, cal: Calendar) -> None:
    google.calendar.add_event("Call", at(MONDAY, 9), at(MONDAY, 10))
    google.fail("/calendars/", 503, times=2)
    assert len(await cal.list_events(at(MONDAY, 0), at(MONDAY, 23))) == 1
    assert google.count("GET", "/calendars/") == 3


async def test_a_read_gives_up_after_the_last_retry(google: FakeGoogle, make: MakeCalendar) -> None:
    cal = make(retries=1)
    google.fail("/calendars/", 503, times=5)
    with pytest.raises(GoogleError) as caught:
        await cal.list_events(at(MONDAY, 0), at(MONDAY, 23))
    assert caught.value.code == "google-unavailable"
    assert google.count("GET", "/calendars/") == 2


async def test_no_network_is_unreachable(make: MakeCalendar) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    cal = make(endpoint=closed, retries=1)
    with pytest.raises(GoogleError) as caught:
        await cal.list_events(at(MONDAY, 0), at(MONDAY, 23))
    assert caught.value.code == "google-unreachable"
    assert "internet connection" in caught.value.message
