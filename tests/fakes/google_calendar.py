"""The fake Google Calendar v3 part: events (list, get, insert, patch, update, delete), freeBusy
and a one-entry calendarList, behaving like Google where Hark depends on it.

Paths are those google-api-python-client sends under an ``api_endpoint`` override (the
``calendar/v3/`` prefix is gone): ``/calendars/{calendarId}/events[/{eventId}]``, ``/freeBusy``,
``/users/me/calendarList``. What it copies from Google:

- times are RFC3339; ``start``/``end`` are ``{"dateTime", "timeZone"}`` or ``{"date"}`` (an
  all-day event's end date is exclusive, and its days are read in the calendar's time zone);
- ``events.list`` keeps events that overlap ``[timeMin, timeMax)`` (end > timeMin, start <
  timeMax), honours ``q``, ``orderBy`` (``startTime`` only with ``singleEvents``),
  ``showDeleted`` and ``maxResults`` with ``nextPageToken`` (a page holds at most
  ``page_size`` events, so tests can make pagination happen), and renders times in ``timeZone``;
- an insert with a client ``id`` that exists (even deleted) answers 409 ``duplicate``; a bad id
  400 ``invalid``; an end before the start 400 ``timeRangeEmpty``;
- deleting marks the event ``cancelled``: ``get`` still returns it, a second delete answers 410
  ``deleted``; unknown ids answer 404 ``notFound``;
- ``patch`` merges (``null`` clears a field) and keeps attendees' answers; ``sendUpdates`` is
  recorded in :attr:`FakeCalendar.send_updates`;
- reads need ``calendar.readonly``, ``calendar.events(.readonly)`` or ``calendar``; writes
  ``calendar.events`` or ``calendar``; otherwise 403 ``insufficientPermissions``.

Recurring events are not modelled (every event is a single one).
"""

from __future__ import annotations

import base64
import copy
import re
import secrets
import threading
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, tzinfo
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from tests.fakes.google import FakeRequest, FakeResponse

AUTH = "https://www.googleapis.com/auth/"
READ_SCOPES = frozenset(
    AUTH + s
    for s in ("calendar", "calendar.readonly", "calendar.events", "calendar.events.readonly")
)
WRITE_SCOPES = frozenset(AUTH + s for s in ("calendar", "calendar.events"))
FREEBUSY_SCOPES = READ_SCOPES | {AUTH + "calendar.freebusy"}
WRITABLE = (
    "summary",
    "description",
    "location",
    "start",
    "end",
    "attendees",
    "status",
    "transparency",
    "visibility",
    "colorId",
    "reminders",
)
EVENT_ID = re.compile(r"[a-v0-9]{5,1024}")
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
EVENTS_PATH = re.compile(r"/calendars/([^/]+)/events(?:/([^/]+))?")
MAX_RESULTS = 2500


class Invalid(Exception):
    """A request Google would refuse: status, reason and message of its error."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status, self.reason, self.message = status, reason, message


class FakeCalendar:
    """Calendar state plus the request handler. ``calendars`` maps a calendar id to its events
    (id -> the stored resource); ``primary`` is the owner's calendar."""

    def __init__(self, *, owner: str = "me@example.com", time_zone: str = "UTC") -> None:
        self.owner = owner
        self.time_zone = time_zone
        """The calendar's zone: all-day events' days and default rendering use it."""
        self.page_size = 250
        """The most events one ``events.list`` page holds (Google's default maxResults)."""
        self.calendars: dict[str, dict[str, dict[str, Any]]] = {"primary": {}}
        self.send_updates: list[tuple[str, str, str | None]] = []
        """``(method, event id, sendUpdates)`` for every write, in order."""
        self._lock = threading.Lock()
        self._version = 0

    # --- scripting ------------------------------------------------------------------------

    @property
    def events(self) -> dict[str, dict[str, Any]]:
        """The primary calendar's events by id (deleted ones included, status ``cancelled``)."""
        return self.calendars["primary"]

    def add_calendar(self, calendar_id: str) -> None:
        with self._lock:
            self.calendars.setdefault(calendar_id, {})

    def add_event(
        self,
        title: str,
        start: datetime | date,
        end: datetime | date,
        *,
        attendees: Iterable[str] = (),
        description: str = "",
        location: str = "",
        event_id: str | None = None,
        status: str = "confirmed",
        transparency: str = "opaque",
        time_zone: str | None = None,
        calendar_id: str = "primary",
    ) -> str:
        """Put an event straight into a calendar (naive datetimes are in the calendar's zone);
        returns its id."""
        body: dict[str, Any] = {
            "summary": title,
            "start": self._when_body(start, time_zone),
            "end": self._when_body(end, time_zone),
            "status": status,
            "transparency": transparency,
        }
        if attendees:
            body["attendees"] = [{"email": a} for a in attendees]
        if description:
            body["description"] = description
        if location:
            body["location"] = location
        if event_id is not None:
            body["id"] = event_id
        with self._lock:
            return str(self._insert(self._calendar(calendar_id), body)["id"])

    def _when_body(self, value: datetime | date, time_zone: str | None) -> dict[str, str]:
        if isinstance(value, datetime):
            zone = ZoneInfo(time_zone or self.time_zone)
            aware = value if value.tzinfo is not None else value.replace(tzinfo=zone)
            return {"dateTime": aware.isoformat(), "timeZone": time_zone or self.time_zone}
        return {"date": value.isoformat()}

    # --- dispatch -------------------------------------------------------------------------

    def handle(self, request: FakeRequest) -> FakeResponse | None:
        from tests.fakes.google import FakeResponse

        path = request.path
        if path == "/freeBusy":
            if request.method != "POST":
                return None
            route, needed = self._freebusy, FREEBUSY_SCOPES
        elif path == "/users/me/calendarList":
            route, needed = self._calendar_list, READ_SCOPES
        else:
            match = EVENTS_PATH.fullmatch(path)
            if match is None:
                return None
            needed = READ_SCOPES if request.method == "GET" else WRITE_SCOPES
            route = self._events
        if not request.scopes & needed:
            return _scope_error()
        try:
            with self._lock:
                status, body = route(request)
        except Invalid as exc:
            from tests.fakes.google import google_error

            return google_error(exc.status, exc.reason, exc.message)
        return FakeResponse(status, body)

    def _events(self, request: FakeRequest) -> tuple[int, Any]:
        match = EVENTS_PATH.fullmatch(request.path)
        assert match is not None
        events = self._calendar(unquote(match[1]))
        event_id = unquote(match[2]) if match[2] else None
        method = request.method
        updates = request.arg("sendUpdates")
        if event_id is None and method == "GET":
            return 200, self._list(events, request)
        if event_id is None and method == "POST":
            event = self._insert(events, _object(request))
            self.send_updates.append(("insert", event["id"], updates))
            return 200, self._render(event, request.arg("timeZone"))
        if event_id is None:
            raise Invalid(404, "notFound", "Not Found")
        event = events.get(event_id)
        if event is None:
            raise Invalid(404, "notFound", "Not Found")
        if method == "GET":
            return 200, self._render(event, request.arg("timeZone"))
        if method == "DELETE":
            if event["status"] == "cancelled":
                raise Invalid(410, "deleted", "Resource has been deleted")
            event["status"] = "cancelled"
            self._touch(event)
            self.send_updates.append(("delete", event_id, updates))
            return 204, None
        if method in ("PATCH", "PUT"):
            body = _object(request)
            if method == "PATCH":
                changed = _merge(copy.deepcopy(event), {k: body[k] for k in WRITABLE if k in body})
            else:
                changed = {k: v for k, v in event.items() if k not in WRITABLE}
                changed.update({k: body[k] for k in WRITABLE if k in body})
            changed["attendees"] = _keep_answers(event.get("attendees"), changed.get("attendees"))
            if not changed["attendees"]:
                del changed["attendees"]
            self._check(changed)
            changed["sequence"] = int(event.get("sequence", 0)) + 1
            self._touch(changed)
            events[event_id] = changed
            self.send_updates.append((method.lower(), event_id, updates))
            return 200, self._render(changed, request.arg("timeZone"))
        raise Invalid(404, "notFound", "Not Found")

    def _calendar(self, calendar_id: str) -> dict[str, dict[str, Any]]:
        key = "primary" if calendar_id == self.owner else calendar_id
        if key not in self.calendars:
            raise Invalid(404, "notFound", "Not Found")
        return self.calendars[key]

    # --- events.list ----------------------------------------------------------------------

    def _list(self, events: dict[str, dict[str, Any]], request: FakeRequest) -> dict[str, Any]:
        single = request.arg("singleEvents", "false") == "true"
        order = request.arg("orderBy")
        if order not in (None, "startTime", "updated"):
            raise Invalid(400, "invalid", "Invalid value for: orderBy")
        if order == "startTime" and not single:
            raise Invalid(
                400,
                "badRequest",
                "The requested ordering is not available for the particular query.",
            )
        try:
            wanted = int(request.arg("maxResults", "250") or "250")
        except ValueError:
            raise Invalid(400, "invalid", "Invalid value for: maxResults") from None
        if not 1 <= wanted <= MAX_RESULTS:
            raise Invalid(400, "invalid", "Invalid value for: maxResults")
        time_min = _instant_arg(request, "timeMin")
        time_max = _instant_arg(request, "timeMax")
        if time_min and time_max and time_max <= time_min:
            raise Invalid(400, "timeRangeEmpty", "The specified time range is empty.")
        terms = (request.arg("q") or "").lower().split()
        show_deleted = request.arg("showDeleted", "false") == "true"
        found = []
        for event in events.values():
            if event["status"] == "cancelled" and not show_deleted:
                continue
            start, end = self._bounds(event)
            if time_min is not None and end <= time_min:
                continue
            if time_max is not None and start >= time_max:
                continue
            if terms and not all(t in _searchable(event) for t in terms):
                continue
            found.append(event)
        if order == "startTime":
            found.sort(key=lambda e: self._bounds(e)[0])
        elif order == "updated":
            found.sort(key=lambda e: str(e["updated"]))
        offset = _page_offset(request.arg("pageToken"))
        size = min(wanted, self.page_size)
        page = found[offset : offset + size]
        answer: dict[str, Any] = {
            "kind": "calendar#events",
            "etag": f'"{self._version}"',
            "summary": self.owner,
            "description": "",
            "updated": _stamp(),
            "timeZone": self.time_zone,
            "accessRole": "owner",
            "defaultReminders": [{"method": "popup", "minutes": 10}],
            "items": [self._render(e, request.arg("timeZone")) for e in page],
        }
        if offset + size < len(found):
            answer["nextPageToken"] = _page_token(offset + size)
        return answer

    # --- writes ---------------------------------------------------------------------------

    def _insert(self, events: dict[str, dict[str, Any]], body: dict[str, Any]) -> dict[str, Any]:
        event_id = body.get("id")
        if event_id is None:
            event_id = _new_id()
        elif not isinstance(event_id, str) or not EVENT_ID.fullmatch(event_id):
            raise Invalid(400, "invalid", "Invalid resource id value.")
        elif event_id in events:
            raise Invalid(409, "duplicate", "The requested identifier already exists.")
        event: dict[str, Any] = {
            "kind": "calendar#event",
            "id": event_id,
            "status": "confirmed",
            "htmlLink": "https://www.google.com/calendar/event?eid="
            + base64.urlsafe_b64encode(f"{event_id} {self.owner}".encode()).decode().rstrip("="),
            "created": _stamp(),
            "creator": {"email": self.owner, "self": True},
            "organizer": {"email": self.owner, "self": True},
            "iCalUID": f"{event_id}@google.com",
            "sequence": 0,
            "reminders": {"useDefault": True},
            "eventType": "default",
        }
        event.update({k: copy.deepcopy(body[k]) for k in WRITABLE if body.get(k) is not None})
        event["attendees"] = _keep_answers(None, event.get("attendees"))
        if not event["attendees"]:
            del event["attendees"]
        self._check(event)
        self._touch(event)
        events[event_id] = event
        return event

    def _check(self, event: dict[str, Any]) -> None:
        for key in ("start", "end"):
            if not isinstance(event.get(key), dict) or not event[key]:
                raise Invalid(400, "required", f"Missing {key} time.")
        start, end = self._bounds(event)
        if ("date" in event["start"]) != ("date" in event["end"]):
            raise Invalid(
                400, "invalid", "Start and end times must either both be date or both be dateTime."
            )
        if end < start or ("date" in event["start"] and end == start):
            raise Invalid(400, "timeRangeEmpty", "The specified time range is empty.")
        for attendee in event.get("attendees", []):
            if not EMAIL.fullmatch(str(attendee.get("email", ""))):
                raise Invalid(400, "invalid", "Invalid attendee email.")
        if event.get("status") not in ("confirmed", "tentative", "cancelled"):
            raise Invalid(400, "invalid", "Invalid value for: status")

    def _touch(self, event: dict[str, Any]) -> None:
        self._version += 1
        event["updated"] = _stamp()
        event["etag"] = f'"{3000000000000000 + self._version}"'

    # --- times ----------------------------------------------------------------------------

    def _bounds(self, event: dict[str, Any]) -> tuple[datetime, datetime]:
        """The event's start and end as UTC instants (all-day days in the calendar's zone)."""
        return self._instant(event["start"], "start"), self._instant(event["end"], "end")

    def _instant(self, when: dict[str, Any], which: str) -> datetime:
        if "date" in when and when["date"] is not None:
            if when.get("dateTime") is not None:
                raise Invalid(400, "invalid", f"Invalid {which} time.")
            try:
                day = date.fromisoformat(str(when["date"]))
            except ValueError:
                raise Invalid(400, "invalid", f"Invalid {which} time.") from None
            return datetime.combine(day, time(), ZoneInfo(self.time_zone)).astimezone(UTC)
        try:
            moment = datetime.fromisoformat(str(when["dateTime"]))
        except (KeyError, ValueError):
            raise Invalid(400, "invalid", f"Invalid {which} time.") from None
        if moment.tzinfo is None:
            zone = when.get("timeZone")
            if not zone:
                raise Invalid(400, "required", f"Missing time zone definition for {which} time.")
            moment = moment.replace(tzinfo=_zone(str(zone)))
        return moment.astimezone(UTC)

    def _render(self, event: dict[str, Any], time_zone: str | None) -> dict[str, Any]:
        """The event as Google sends it: dateTimes in the event's zone, else the requested one."""
        out = copy.deepcopy(event)
        for key in ("start", "end"):
            when = out[key]
            if when.get("dateTime") is not None:
                zone = _zone(str(when.get("timeZone") or time_zone or self.time_zone))
                moment = self._instant(when, key).astimezone(zone)
                when["dateTime"] = moment.isoformat()
            out[key] = {k: v for k, v in when.items() if v is not None}
        return out

    # --- freeBusy and calendarList --------------------------------------------------------

    def _freebusy(self, request: FakeRequest) -> tuple[int, Any]:
        body = _object(request)
        time_min = _instant(body.get("timeMin"), "timeMin")
        time_max = _instant(body.get("timeMax"), "timeMax")
        if time_max <= time_min:
            raise Invalid(400, "timeRangeEmpty", "The specified time range is empty.")
        calendars: dict[str, Any] = {}
        for item in body.get("items") or []:
            cid = str(item.get("id", ""))
            key = "primary" if cid == self.owner else cid
            if key not in self.calendars:
                calendars[cid] = {
                    "errors": [{"domain": "global", "reason": "notFound"}],
                    "busy": [],
                }
                continue
            calendars[cid] = {"busy": self._busy(self.calendars[key], time_min, time_max)}
        return 200, {
            "kind": "calendar#freeBusy",
            "timeMin": _utc(time_min),
            "timeMax": _utc(time_max),
            "calendars": calendars,
        }

    def _busy(
        self, events: dict[str, dict[str, Any]], time_min: datetime, time_max: datetime
    ) -> list[dict[str, str]]:
        spans = []
        for event in events.values():
            if event["status"] == "cancelled" or event.get("transparency") == "transparent":
                continue
            if any(
                a.get("email") == self.owner and a.get("responseStatus") == "declined"
                for a in event.get("attendees", [])
            ):
                continue
            start, end = self._bounds(event)
            if end > time_min and start < time_max:
                spans.append((max(start, time_min), min(end, time_max)))
        merged: list[tuple[datetime, datetime]] = []
        for start, end in sorted(spans):
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], end))
            else:
                merged.append((start, end))
        return [{"start": _utc(s), "end": _utc(e)} for s, e in merged]

    def _calendar_list(self, request: FakeRequest) -> tuple[int, Any]:
        if request.method != "GET":
            raise Invalid(404, "notFound", "Not Found")
        items = [
            {
                "kind": "calendar#calendarListEntry",
                "id": self.owner if cid == "primary" else cid,
                "summary": self.owner if cid == "primary" else cid,
                "timeZone": self.time_zone,
                "accessRole": "owner",
                **({"primary": True} if cid == "primary" else {}),
            }
            for cid in self.calendars
        ]
        return 200, {"kind": "calendar#calendarList", "etag": '"1"', "items": items}


# --- helpers ------------------------------------------------------------------------------


def _scope_error() -> FakeResponse:
    from tests.fakes.google import google_error

    response = google_error(
        403, "insufficientPermissions", "Request had insufficient authentication scopes."
    )
    response.body["error"]["details"] = [
        {
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "ACCESS_TOKEN_SCOPE_INSUFFICIENT",
            "domain": "googleapis.com",
            "metadata": {"service": "calendar-json.googleapis.com"},
        }
    ]
    return response


def _object(request: FakeRequest) -> dict[str, Any]:
    try:
        body = request.json()
    except ValueError:
        raise Invalid(400, "parseError", "Parse Error") from None
    if not isinstance(body, dict):
        raise Invalid(400, "parseError", "Parse Error")
    return body


def _merge(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """Patch semantics: objects merge, ``null`` clears, anything else replaces."""
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)
    return target


def _keep_answers(old: Any, new: Any) -> list[dict[str, Any]]:
    """New attendee list, keeping the replies of attendees who stay (as Google does)."""
    answers = {a.get("email"): a.get("responseStatus") for a in old or [] if isinstance(a, dict)}
    out = []
    for attendee in new or []:
        if not isinstance(attendee, dict):
            raise Invalid(400, "invalid", "Invalid attendee.")
        item = dict(attendee)
        item.setdefault("responseStatus", answers.get(item.get("email")) or "needsAction")
        out.append(item)
    return out


def _searchable(event: dict[str, Any]) -> str:
    people = [
        a.get("email", "") + " " + a.get("displayName", "") for a in event.get("attendees", [])
    ]
    fields = [event.get("summary", ""), event.get("description", ""), event.get("location", "")]
    return " ".join([*fields, *people, event["organizer"]["email"]]).lower()


def _instant_arg(request: FakeRequest, name: str) -> datetime | None:
    value = request.arg(name)
    return None if value is None else _instant(value, name)


def _instant(value: Any, name: str) -> datetime:
    """An RFC3339 timestamp, which must carry an offset (Google refuses one without)."""
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        raise Invalid(400, "badRequest", f"Bad Request: {name}") from None
    if moment.tzinfo is None:
        raise Invalid(400, "badRequest", f"Bad Request: {name}")
    return moment.astimezone(UTC)


def _zone(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except (ValueError, KeyError, OSError):
        raise Invalid(400, "timeZone", f"Invalid time zone definition: {name}") from None


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + "000Z"


def _new_id() -> str:
    alphabet = "0123456789abcdefghijklmnopqrstuv"
    return "".join(secrets.choice(alphabet) for _ in range(26))


def _page_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


def _page_offset(token: str | None) -> int:
    if not token:
        return 0
    try:
        kind, _, number = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
        if kind == "offset":
            return int(number)
    except ValueError:
        pass
    raise Invalid(400, "invalid", "Invalid page token value.")
