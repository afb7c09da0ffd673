"""Contract test: the official google-api-python-client, built from its shipped Calendar v3
discovery document, must accept everything the fake Calendar sends.

If one of these fails after a client upgrade, the fake has drifted from the real service: fix
the fake, not the test.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import httplib2
import pytest
from google.oauth2.credentials import Credentials
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError

from tests.fakes.google import FakeGoogle

AUTH = "https://www.googleapis.com/auth/"
NY = ZoneInfo("America/New_York")


Service = Callable[..., Any]


@pytest.fixture
def google() -> Iterator[FakeGoogle]:
    with FakeGoogle() as g:
        g.calendar.time_zone = "America/New_York"
        yield g


@pytest.fixture
def service(google: FakeGoogle) -> Iterator[Service]:
    """Builds clients with tokens of the given scopes; closes their connections afterwards (the
    fake's handler threads end when their keep-alive connections do)."""
    built: list[Any] = []

    def make(*scopes: str) -> Any:
        creds = Credentials(token=google.oauth.issue_access_token([AUTH + s for s in scopes]))
        built.append(
            build(
                "calendar",
                "v3",
                credentials=creds,
                static_discovery=True,
                cache_discovery=False,
                client_options={"api_endpoint": google.url},
            )
        )
        return built[-1]

    yield make
    for client in built:
        client.close()


def reason_of(error: HttpError) -> str:
    return str(json.loads(error.content)["error"]["errors"][0]["reason"])


def test_the_client_sends_the_paths_the_fake_serves(google: FakeGoogle, service: Service) -> None:
    cal = service("calendar")
    assert (
        cal.events()
        .list(calendarId="primary")
        .uri.startswith(google.url + "/calendars/primary/events?")
    )
    assert (
        cal.events()
        .get(calendarId="a@b.c", eventId="abcde")
        .uri.startswith(google.url + "/calendars/a%40b.c/events/abcde")
    )
    assert cal.freebusy().query(body={}).uri.startswith(google.url + "/freeBusy")


def test_list_follows_pages_in_start_order(google: FakeGoogle, service: Service) -> None:
    google.calendar.page_size = 2
    for day in (7, 3, 5, 4, 6):
        google.calendar.add_event(
            f"day {day}", datetime(2024, 11, day, 9), datetime(2024, 11, day, 10)
        )
    google.calendar.add_event("later", datetime(2024, 12, 1, 9), datetime(2024, 12, 1, 10))
    cal = service("calendar.readonly")
    request = cal.events().list(
        calendarId="primary",
        timeMin="2024-11-01T00:00:00-04:00",
        timeMax="2024-11-30T00:00:00Z",
        singleEvents=True,
        orderBy="startTime",
        maxResults=25,
        timeZone="Europe/Berlin",
    )
    titles, pages = [], 0
    while request is not None:
        page = request.execute()
        pages += 1
        assert page["kind"] == "calendar#events"
        titles += [item["summary"] for item in page["items"]]
        request = cal.events().list_next(request, page)
    assert titles == ["day 3", "day 4", "day 5", "day 6", "day 7"]
    assert pages == 3
    first = google.calendar.events
    assert len(first) == 6


def test_list_renders_times_in_the_asked_zone_and_all_day_as_dates(
    google: FakeGoogle, service: Service
) -> None:
    google.calendar.add_event(
        "standup", datetime(2024, 11, 4, 9, tzinfo=NY), datetime(2024, 11, 4, 9, 15, tzinfo=NY)
    )
    google.calendar.add_event("holiday", date(2024, 11, 5), date(2024, 11, 6))
    cal = service("calendar.events")
    items = (
        cal.events()
        .list(calendarId="primary", singleEvents=True, orderBy="startTime", timeZone="UTC")
        .execute()["items"]
    )
    assert [i["summary"] for i in items] == ["standup", "holiday"]
    assert items[0]["start"] == {
        "dateTime": "2024-11-04T09:00:00-05:00",
        "timeZone": "America/New_York",
    }
    assert items[1]["start"] == {"date": "2024-11-05"}
    assert items[1]["end"] == {"date": "2024-11-06"}


def test_ordering_by_start_time_needs_single_events(google: FakeGoogle, service: Service) -> None:
    cal = service("calendar")
    with pytest.raises(HttpError) as caught:
        cal.events().list(calendarId="primary", orderBy="startTime").execute()
    assert caught.value.resp.status == 400


def test_insert_get_patch_delete(google: FakeGoogle, service: Service) -> None:
    cal = service("calendar.events")
    body = {
        "summary": "Dentist",
        "location": "Main St 1",
        "start": {"dateTime": "2024-11-04T15:00:00", "timeZone": "America/New_York"},
        "end": {"dateTime": "2024-11-04T16:00:00-05:00"},
        "attendees": [{"email": "ann@example.com"}],
    }
    made = cal.events().insert(calendarId="primary", body=body, sendUpdates="all").execute()
    assert made["status"] == "confirmed"
    assert made["start"]["dateTime"] == "2024-11-04T15:00:00-05:00"
    assert made["attendees"] == [{"email": "ann@example.com", "responseStatus": "needsAction"}]
    assert made["htmlLink"].startswith("https://www.google.com/calendar/event?eid=")
    event_id = made["id"]
    assert google.calendar.send_updates == [("insert", event_id, "all")]

    got = cal.events().get(calendarId="primary", eventId=event_id).execute()
    assert got["summary"] == "Dentist"

    patched = (
        cal.events()
        .patch(
            calendarId="primary",
            eventId=event_id,
            body={"summary": "Dentist (moved)", "start": {"dateTime": "2024-11-04T14:00:00-05:00"}},
        )
        .execute()
    )
    assert patched["summary"] == "Dentist (moved)"
    assert patched["location"] == "Main St 1"
    assert patched["start"]["dateTime"] == "2024-11-04T14:00:00-05:00"
    assert patched["sequence"] == 1
    assert patched["etag"] != made["etag"]

    assert cal.events().delete(calendarId="primary", eventId=event_id).execute() == ""
    assert (
        cal.events().get(calendarId="primary", eventId=event_id).execute()["status"] == "cancelled"
    )
    with pytest.raises(HttpError) as again:
        cal.events().delete(calendarId="primary", eventId=event_id).execute()
    assert again.value.resp.status == 410
    assert reason_of(again.value) == "deleted"
    with pytest.raises(HttpError) as unknown:
        cal.events().get(calendarId="primary", eventId="nosuchevent").execute()
    assert unknown.value.resp.status == 404


def test_patch_can_switch_a_timed_event_to_all_day(google: FakeGoogle, service: Service) -> None:
    event_id = google.calendar.add_event(
        "trip", datetime(2024, 11, 4, 9), datetime(2024, 11, 4, 10)
    )
    cal = service("calendar")
    patched = (
        cal.events()
        .patch(
            calendarId="primary",
            eventId=event_id,
            body={
                "start": {"date": "2024-11-04", "dateTime": None, "timeZone": None},
                "end": {"date": "2024-11-06", "dateTime": None, "timeZone": None},
            },
        )
        .execute()
    )
    assert patched["start"] == {"date": "2024-11-04"}
    assert patched["end"] == {"date": "2024-11-06"}


def test_insert_with_an_existing_id_is_a_409_duplicate(
    google: FakeGoogle, service: Service
) -> None:
    cal = service("calendar")
    body = {
        "id": "0123456789abcdef",
        "summary": "once",
        "start": {"date": "2024-11-04"},
        "end": {"date": "2024-11-05"},
    }
    assert (
        cal.events().insert(calendarId="primary", body=body).execute()["id"] == "0123456789abcdef"
    )
    with pytest.raises(HttpError) as caught:
        cal.events().insert(calendarId="primary", body=body).execute()
    assert caught.value.resp.status == 409
    assert reason_of(caught.value) == "duplicate"
    assert len(google.calendar.events) == 1


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (
            {"id": "UPPER-case", "start": {"date": "2024-11-04"}, "end": {"date": "2024-11-05"}},
            "invalid",
        ),
        ({"start": {"date": "2024-11-05"}, "end": {"date": "2024-11-04"}}, "timeRangeEmpty"),
        ({"start": {"date": "2024-11-05"}}, "required"),
        (
            {
                "start": {"dateTime": "2024-11-05T09:00:00"},
                "end": {"dateTime": "2024-11-05T10:00:00"},
            },
            "required",
        ),
    ],
)
def test_invalid_inserts_are_400s(
    google: FakeGoogle, service: Service, body: dict[str, Any], reason: str
) -> None:
    cal = service("calendar")
    with pytest.raises(HttpError) as caught:
        cal.events().insert(calendarId="primary", body=body).execute()
    assert caught.value.resp.status == 400
    assert reason_of(caught.value) == reason
    assert google.calendar.events == {}


def test_freebusy_merges_and_clips_busy_time(google: FakeGoogle, service: Service) -> None:
    add = google.calendar.add_event
    add("a", datetime(2024, 11, 4, 8), datetime(2024, 11, 4, 10))
    add("b", datetime(2024, 11, 4, 9, 30), datetime(2024, 11, 4, 11))
    add("free", datetime(2024, 11, 4, 12), datetime(2024, 11, 4, 13), transparency="transparent")
    add("gone", datetime(2024, 11, 4, 14), datetime(2024, 11, 4, 15), status="cancelled")
    add("c", datetime(2024, 11, 4, 16), datetime(2024, 11, 4, 17))
    cal = service("calendar.readonly")
    answer = (
        cal.freebusy()
        .query(
            body={
                "timeMin": "2024-11-04T09:00:00-05:00",
                "timeMax": "2024-11-04T18:00:00-05:00",
                "timeZone": "America/New_York",
                "items": [{"id": "primary"}, {"id": "nobody@example.com"}],
            }
        )
        .execute()
    )
    assert answer["kind"] == "calendar#freeBusy"
    assert answer["calendars"]["primary"]["busy"] == [
        {"start": "2024-11-04T14:00:00Z", "end": "2024-11-04T16:00:00Z"},
        {"start": "2024-11-04T21:00:00Z", "end": "2024-11-04T22:00:00Z"},
    ]
    assert answer["calendars"]["nobody@example.com"]["errors"][0]["reason"] == "notFound"


def test_calendar_list_names_the_primary_calendar(google: FakeGoogle, service: Service) -> None:
    items = service("calendar.readonly").calendarList().list().execute()["items"]
    assert [(i["id"], i.get("primary")) for i in items] == [("me@example.com", True)]


def test_a_request_without_a_valid_token_is_a_401(google: FakeGoogle, service: Service) -> None:
    cal = build(
        "calendar",
        "v3",
        http=httplib2.Http(timeout=10),
        static_discovery=True,
        cache_discovery=False,
        client_options={"api_endpoint": google.url},
    )
    try:
        with pytest.raises(HttpError) as caught:
            cal.events().list(calendarId="primary").execute()
    finally:
        cal.close()
    assert caught.value.resp.status == 401
    assert reason_of(caught.value) == "authError"


def test_writes_need_a_write_scope(google: FakeGoogle, service: Service) -> None:
    cal = service("calendar.readonly")
    assert cal.events().list(calendarId="primary").execute()["items"] == []
    body = {"summary": "x", "start": {"date": "2024-11-04"}, "end": {"date": "2024-11-05"}}
    with pytest.raises(HttpError) as caught:
        cal.events().insert(calendarId="primary", body=body).execute()
    assert caught.value.resp.status == 403
    assert reason_of(caught.value) == "insufficientPermissions"
    assert google.calendar.events == {}
    with pytest.raises(HttpError) as unscoped:
        service("gmail.readonly").events().list(calendarId="primary").execute()
    assert unscoped.value.resp.status == 403
