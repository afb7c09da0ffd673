"""Google Calendar for Hark: upcoming events, creating, moving and deleting them, and finding
free time, all in the user's time zone.

Times a person says ("tomorrow at nine") are wall-clock times in one zone, so naive datetimes
are read in :attr:`Calendar.tz` and every datetime Hark hands back is in that zone too. All-day
events use plain :class:`~datetime.date` values with Google's convention: the end date is
*exclusive* (a one-day event on 3 November ends on 4 November). When creating, an end equal to
the start also means one day, because that is what a person means by "all day on the 3rd".

Failures arrive as :class:`~app.shared.errors.GoogleError`: ``calendar-bad-input`` for requests
Hark refuses before sending anything, and the ``google-*`` codes of
:class:`~app.google.api.GoogleApi` for what Google or the network refused. Reads, patches and
deletes are retried when safe; a create only when it carries a client-chosen ``event_id`` (a
repeated create then finds the first one instead of making a duplicate).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from app.google.api import GoogleApi
from app.shared.errors import ConfigCode, ConfigError, GoogleCode, GoogleError

log = logging.getLogger(__name__)

EVENT_ID = re.compile(r"[a-v0-9]{5,1024}")
"""Google's rule for client-chosen ids: base32hex (lowercase ``0-9a-v``), 5 to 1024 long."""
EMAIL = re.compile(r"[^@\s,;<>()\"']+@[^@\s,;<>()\"']+\.[^@\s,;<>()\"'.][^@\s,;<>()\"']*")
PAGE_MAX = 250
DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class CalendarEvent:
    """One event as Hark shows it: times in the user's zone (``date`` values when all-day, with
    an exclusive end, as Google keeps them)."""

    id: str
    title: str
    start: datetime | date
    end: datetime | date
    all_day: bool
    location: str = ""
    description: str = ""
    attendees: tuple[str, ...] = ()
    html_link: str = ""
    status: str = "confirmed"

    def brief(self) -> dict[str, Any]:
        """A short form for the language model: enough to talk about the event and to name it
        in a later update or delete, without the long description. All-day events also get
        ``last_day`` so that nobody reads the exclusive end as one more day."""
        out: dict[str, Any] = {
            "id": self.id,
            "title": self.title,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "all_day": self.all_day,
        }
        if self.all_day and not isinstance(self.end, datetime):
            out["last_day"] = (self.end - DAY).isoformat()
        if self.attendees:
            out["attendees"] = list(self.attendees)
        if self.location:
            out["location"] = self.location
        if self.status != "confirmed":
            out["status"] = self.status
        return {k: v for k, v in out.items() if v not in ("", None)}


def local_zone() -> tzinfo:
    """This computer's time zone, as a DST-aware zone where it can be found (``TZ``, then
    ``/etc/localtime``, then ``/etc/timezone``); a fixed offset as the last resort."""
    name = os.environ.get("TZ", "").lstrip(":")
    candidates = [name] if name else []
    try:
        target = str(Path("/etc/localtime").resolve())
        if "zoneinfo/" in target:
            candidates.append(target.split("zoneinfo/", 1)[1])
    except OSError:
        pass
    with contextlib.suppress(OSError):
        candidates.append(Path("/etc/timezone").read_text(encoding="utf-8").strip())
    for candidate in candidates:
        try:
            return ZoneInfo(candidate)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            continue
    return datetime.now().astimezone().tzinfo or UTC


def zone_named(name: str | None) -> tzinfo:
    """The zone for ``google.time_zone`` (an IANA name); ``None`` means this computer's zone."""
    if not name:
        return local_zone()
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ConfigError(
            ConfigCode.CONFIG_INVALID,
            f"Unknown time zone {name!r}. Use an IANA name such as 'Europe/Berlin' "
            "(setting google.time_zone).",
        ) from None


class Calendar:
    """One Google calendar (``primary`` unless told otherwise) seen from one time zone."""

    def __init__(
        self, api: GoogleApi, *, calendar_id: str = "primary", tz: tzinfo | None = None
    ) -> None:
        self._api = api
        self.calendar_id = calendar_id
        self.tz: tzinfo = tz if tz is not None else local_zone()
        self._zone_name = _zone_name(self.tz)

    # --- reading --------------------------------------------------------------------------

    async def list_events(
        self, start: datetime, end: datetime, *, query: str | None = None, limit: int = 25
    ) -> list[CalendarEvent]:
        """Events overlapping ``[start, end)``, earliest first, at most ``limit``. Recurring
        events come as their single occurrences; cancelled ones are left out."""
        start, end = self._aware(start), self._aware(end)
        if end <= start:
            raise _bad("The end of the time range must be after its start.")
        if limit < 1:
            raise _bad("Ask for at least one event.")
        found: list[CalendarEvent] = []
        token: str | None = None
        while True:
            args: dict[str, Any] = {
                "calendarId": self.calendar_id,
                "timeMin": _rfc3339(start),
                "timeMax": _rfc3339(end),
                "singleEvents": True,
                "orderBy": "startTime",
                "maxResults": min(limit, PAGE_MAX),
            }
            if self._zone_name:
                args["timeZone"] = self._zone_name
            if query:
                args["q"] = query
            if token:
                args["pageToken"] = token
            page = await self._api.call(_lister(args), what="list your events")
            for item in page.get("items") or []:
                if item.get("status") != "cancelled":
                    found.append(self._event(item))
            token = page.get("nextPageToken")
            if len(found) >= limit or not token:
                break
        log.debug("Calendar: %d events between %s and %s", len(found), start, end)
        return found[:limit]

    async def get_event(self, event_id: str) -> CalendarEvent:
        """One event by id (a deleted one comes back with status ``cancelled``)."""
        _check_id_given(event_id)
        item = await self._api.call(
            lambda s: s.events().get(calendarId=self.calendar_id, eventId=event_id),
            what="read the event",
        )
        return self._event(item)

    # --- writing --------------------------------------------------------------------------

    async def create_event(
        self,
        title: str,
        start: datetime | date,
        end: datetime | date,
        *,
        attendees: Sequence[str] = (),
        description: str = "",
        location: str = "",
        event_id: str | None = None,
    ) -> CalendarEvent:
        """Create an event (invitations go out when it has attendees). With ``event_id`` the
        create is idempotent: if that id exists already, that event is returned."""
        title = title.strip()
        if not title:
            raise _bad("The event needs a title.")
        if event_id is not None and not EVENT_ID.fullmatch(event_id):
            raise _bad(
                "An event id must be 5 to 1024 characters of lowercase letters a-v and digits."
            )
        start_body, end_body = self._when_pair(start, end)
        guests = _emails(attendees)
        body: dict[str, Any] = {"summary": title, "start": start_body, "end": end_body}
        if description:
            body["description"] = description
        if location:
            body["location"] = location
        if guests:
            body["attendees"] = [{"email": g} for g in guests]
        if event_id is not None:
            body["id"] = event_id
        args: dict[str, Any] = {"calendarId": self.calendar_id, "body": body}
        if guests:
            args["sendUpdates"] = "all"
        try:
            item = await self._api.call(
                lambda s: s.events().insert(**args),
                what="create the event",
                idempotent=event_id is not None,
            )
        except GoogleError as exc:
            if exc.code != GoogleCode.CONFLICT or event_id is None:
                raise
            existing = await self.get_event(event_id)
            if existing.status == "cancelled":
                raise GoogleError(
                    GoogleCode.CONFLICT,
                    "Google Calendar: an event with this id existed and was deleted; create it "
                    "again without the id.",
                ) from exc
            log.info("Calendar: event %s exists already; not creating it twice", event_id)
            return existing
        event = self._event(item)
        log.info("Calendar: created event %s (%d attendees)", event.id, len(guests))
        return event

    async def update_event(
        self,
        event_id: str,
        *,
        title: str | None = None,
        start: datetime | date | None = None,
        end: datetime | date | None = None,
        attendees: Sequence[str] | None = None,
        description: str | None = None,
        location: str | None = None,
    ) -> CalendarEvent:
        """Change only what is given. A new start alone moves the event and keeps its length;
        a new end alone keeps its start. ``attendees`` replaces the guest list. Guests hear
        about the change when the event has (or had) any."""
        _check_id_given(event_id)
        body: dict[str, Any] = {}
        if title is not None:
            if not title.strip():
                raise _bad("The event needs a title.")
            body["summary"] = title.strip()
        if description is not None:
            body["description"] = description
        if location is not None:
            body["location"] = location
        guests = _emails(attendees) if attendees is not None else None
        if guests is not None:
            body["attendees"] = [{"email": g} for g in guests]
        if not body and start is None and end is None:
            raise _bad("Nothing to change: give a new title, time, guests, place or description.")
        current = await self.get_event(event_id)
        if start is not None or end is not None:
            new_start, new_end = self._moved(current, start, end)
            body["start"], body["end"] = self._when_pair(new_start, new_end)
            # Patch merges objects: clear the other kind of time explicitly.
            for when in (body["start"], body["end"]):
                if "date" in when:
                    when.update(dateTime=None, timeZone=None)
                else:
                    when["date"] = None
        args: dict[str, Any] = {"calendarId": self.calendar_id, "eventId": event_id, "body": body}
        if current.attendees or guests:
            args["sendUpdates"] = "all"
        item = await self._api.call(lambda s: s.events().patch(**args), what="change the event")
        log.info("Calendar: updated event %s (%s)", event_id, ", ".join(sorted(body)))
        return self._event(item)

    async def delete_event(self, event_id: str) -> bool:
        """Delete an event and tell its guests. False when it was already gone, so deleting
        twice (or after a lost answer) is not an error."""
        _check_id_given(event_id)
        try:
            await self._api.call(
                lambda s: s.events().delete(
                    calendarId=self.calendar_id, eventId=event_id, sendUpdates="all"
                ),
                what="delete the event",
            )
        except GoogleError as exc:
            if exc.code == GoogleCode.NOT_FOUND:
                log.info("Calendar: event %s was already gone", event_id)
                return False
            raise
        log.info("Calendar: deleted event %s", event_id)
        return True

    # --- free time ------------------------------------------------------------------------

    async def find_free_time(
        self,
        start: datetime,
        end: datetime,
        duration: timedelta,
        *,
        day_start: time = time(9),
        day_end: time = time(18),
        limit: int = 5,
    ) -> list[tuple[datetime, datetime]]:
        """Free stretches of at least ``duration`` inside working hours (``day_start`` to
        ``day_end`` each day, in :attr:`tz`) between ``start`` and ``end``, earliest first.
        Each is the whole gap, so a caller can pick any part of it."""
        start, end = self._aware(start), self._aware(end)
        if end <= start:
            raise _bad("The end of the time range must be after its start.")
        if duration <= timedelta(0):
            raise _bad("The meeting length must be more than zero.")
        if day_end <= day_start:
            raise _bad("Working hours must end after they start.")
        hours = datetime.combine(date.min, day_end) - datetime.combine(date.min, day_start)
        if duration > hours:
            raise _bad(
                f"A {_span(duration)} slot does not fit in working hours "
                f"{day_start:%H:%M}-{day_end:%H:%M}."
            )
        body: dict[str, Any] = {
            "timeMin": _rfc3339(start),
            "timeMax": _rfc3339(end),
            "items": [{"id": self.calendar_id}],
        }
        if self._zone_name:
            body["timeZone"] = self._zone_name
        answer = await self._api.call(
            lambda s: s.freebusy().query(body=body), what="check when you are free"
        )
        busy = self._busy(answer)
        free: list[tuple[datetime, datetime]] = []
        day = start.astimezone(self.tz).date()
        last = end.astimezone(self.tz).date()
        while day <= last and len(free) < limit:
            opens = max(start, datetime.combine(day, day_start, self.tz)).astimezone(UTC)
            closes = min(end, datetime.combine(day, day_end, self.tz)).astimezone(UTC)
            cursor = opens
            for busy_start, busy_end in busy:
                if busy_end <= cursor or busy_start >= closes:
                    continue
                if busy_start - cursor >= duration:
                    free.append((cursor, busy_start))
                cursor = max(cursor, busy_end)
            if closes - cursor >= duration:
                free.append((cursor, closes))
            day += DAY
        return [(a.astimezone(self.tz), b.astimezone(self.tz)) for a, b in free[:limit]]

    def _busy(self, answer: dict[str, Any]) -> list[tuple[datetime, datetime]]:
        calendars = answer.get("calendars") or {}
        entry = calendars.get(self.calendar_id)
        if entry is None and len(calendars) == 1:
            entry = next(iter(calendars.values()))
        if entry is None:
            raise GoogleError(
                GoogleCode.FAILED, "Google Calendar did not say when you are busy. Try again."
            )
        errors = {str(e.get("reason")) for e in entry.get("errors") or []}
        if errors:
            code = GoogleCode.NOT_FOUND if "notFound" in errors else GoogleCode.FORBIDDEN
            raise GoogleError(
                code,
                f"Google Calendar could not check calendar {self.calendar_id!r} "
                f"({', '.join(sorted(errors))}). Check google.calendar_id.",
            )
        spans = [
            (_parse_instant(b["start"]), _parse_instant(b["end"])) for b in entry.get("busy") or []
        ]
        return sorted(spans)

    # --- conversions ----------------------------------------------------------------------

    def _aware(self, moment: datetime) -> datetime:
        return moment if moment.tzinfo is not None else moment.replace(tzinfo=self.tz)

    def _moved(
        self, current: CalendarEvent, start: datetime | date | None, end: datetime | date | None
    ) -> tuple[datetime | date, datetime | date]:
        """The new start and end when only one of them is given: a new start keeps the
        event's length (measured in real time, so a DST change does not stretch it)."""
        if start is not None and end is not None:
            return start, end
        if start is None:
            assert end is not None
            if isinstance(end, datetime) != isinstance(current.start, datetime):
                raise _bad("Give the new start too when changing between all-day and timed.")
            return current.start, end
        if isinstance(start, datetime):
            begin = self._aware(start)
            if isinstance(current.start, datetime) and isinstance(current.end, datetime):
                length = current.end.astimezone(UTC) - current.start.astimezone(UTC)
            else:
                length = timedelta(hours=1)
            return begin, (begin.astimezone(UTC) + length).astimezone(begin.tzinfo)
        if isinstance(current.start, datetime) or isinstance(current.end, datetime):
            return start, start + DAY
        return start, start + (current.end - current.start)

    def _when_pair(
        self, start: datetime | date, end: datetime | date
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Google's ``start``/``end`` objects for a timed or an all-day event, checked."""
        if isinstance(start, datetime) != isinstance(end, datetime):
            raise _bad(
                "Give both start and end as times (a timed event) or both as dates (all day)."
            )
        if isinstance(start, datetime) and isinstance(end, datetime):
            begin, finish = self._aware(start), self._aware(end)
            if finish <= begin:
                raise _bad("The event must end after it starts.")
            return self._timed(begin), self._timed(finish)
        if end < start:
            raise _bad("The event must end after it starts (the end day is before the start).")
        if end == start:
            end = start + DAY
        return {"date": start.isoformat()}, {"date": end.isoformat()}

    def _timed(self, moment: datetime) -> dict[str, Any]:
        local = moment.astimezone(self.tz)
        when: dict[str, Any] = {"dateTime": local.isoformat()}
        if self._zone_name:
            when["timeZone"] = self._zone_name
        return when

    def _event(self, item: dict[str, Any]) -> CalendarEvent:
        start, all_day = self._when(item.get("start") or {})
        end, _ = self._when(item.get("end") or {})
        return CalendarEvent(
            id=str(item.get("id", "")),
            title=str(item.get("summary") or "(no title)"),
            start=start,
            end=end,
            all_day=all_day,
            location=str(item.get("location") or ""),
            description=str(item.get("description") or ""),
            attendees=tuple(str(a["email"]) for a in item.get("attendees") or [] if a.get("email")),
            html_link=str(item.get("htmlLink") or ""),
            status=str(item.get("status") or "confirmed"),
        )

    def _when(self, when: dict[str, Any]) -> tuple[datetime | date, bool]:
        if when.get("date"):
            return date.fromisoformat(str(when["date"])), True
        moment = datetime.fromisoformat(str(when["dateTime"]))
        if moment.tzinfo is None:
            try:  # Google always sends an offset; this is for a proxy that does not
                zone: tzinfo = ZoneInfo(str(when["timeZone"]))
            except (KeyError, ZoneInfoNotFoundError, ValueError, OSError):
                zone = self.tz
            moment = moment.replace(tzinfo=zone)
        return moment.astimezone(self.tz), False


def _lister(args: dict[str, Any]) -> Callable[[Any], Any]:
    return lambda service: service.events().list(**args)


def _emails(addresses: Sequence[str]) -> list[str]:
    if isinstance(addresses, str):
        addresses = [addresses]
    out: list[str] = []
    for raw in addresses:
        address = raw.strip()
        if not EMAIL.fullmatch(address):
            raise _bad(f"{raw!r} is not an email address (like name@example.com).")
        if address.lower() not in (a.lower() for a in out):
            out.append(address)
    return out


def _check_id_given(event_id: str) -> None:
    if not event_id or not event_id.strip():
        raise _bad("Which event? An event id is needed (list the events to find it).")


def _bad(message: str) -> GoogleError:
    return GoogleError(GoogleCode.CALENDAR_BAD_INPUT, message)


def _zone_name(tz: tzinfo) -> str | None:
    """An IANA name Google understands, when the zone has one."""
    key = getattr(tz, "key", None)
    if isinstance(key, str) and key:
        return key
    if tz is UTC or tz == UTC:
        return "UTC"
    return None


def _rfc3339(moment: datetime) -> str:
    return moment.isoformat()


def _parse_instant(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


def _span(length: timedelta) -> str:
    hours, minutes = divmod(int(length.total_seconds() // 60), 60)
    parts = ([f"{hours} h"] if hours else []) + ([f"{minutes} min"] if minutes else [])
    return " ".join(parts) or "0 min"
