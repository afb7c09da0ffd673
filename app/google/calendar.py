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

import logging
import re
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from app.google.api import GoogleApi
from app.google.calendar_events import (
    DAY,
    CalendarEvent,
    aware,
    calendar_bad_input,
    event_from,
    moved,
    when_pair,
)
from app.google.time_zones import iana_name, local_zone
from app.shared.errors import GoogleCode, GoogleError

log = logging.getLogger(__name__)

EVENT_ID = re.compile(r"[a-v0-9]{5,1024}")
"""Google's rule for client-chosen ids: base32hex (lowercase ``0-9a-v``), 5 to 1024 long."""
EMAIL = re.compile(r"[^@\s,;<>()\"']+@[^@\s,;<>()\"']+\.[^@\s,;<>()\"'.][^@\s,;<>()\"']*")
PAGE_MAX = 250


class Calendar:
    """One Google calendar (``primary`` unless told otherwise) seen from one time zone."""

    def __init__(
        self, api: GoogleApi, *, calendar_id: str = "primary", tz: tzinfo | None = None
    ) -> None:
        self._api = api
        self.calendar_id = calendar_id
        self.tz: tzinfo = tz if tz is not None else local_zone()
        self._zone_name = iana_name(self.tz)

    # --- reading --------------------------------------------------------------------------

    async def list_events(
        self, start: datetime, end: datetime, *, query: str | None = None, limit: int = 25
    ) -> list[CalendarEvent]:
        """Events overlapping ``[start, end)``, earliest first, at most ``limit``. Recurring
        events come as their single occurrences; cancelled ones are left out."""
        start, end = aware(start, self.tz), aware(end, self.tz)
        if end <= start:
            raise calendar_bad_input("The end of the time range must be after its start.")
        if limit < 1:
            raise calendar_bad_input("Ask for at least one event.")
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
                    found.append(event_from(item, self.tz))
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
        return event_from(item, self.tz)

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
            raise calendar_bad_input("The event needs a title.")
        if event_id is not None and not EVENT_ID.fullmatch(event_id):
            raise calendar_bad_input(
                "An event id must be 5 to 1024 characters of lowercase letters a-v and digits."
            )
        start_body, end_body = when_pair(start, end, self.tz)
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
        event = event_from(item, self.tz)
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
                raise calendar_bad_input("The event needs a title.")
            body["summary"] = title.strip()
        if description is not None:
            body["description"] = description
        if location is not None:
            body["location"] = location
        guests = _emails(attendees) if attendees is not None else None
        if guests is not None:
            body["attendees"] = [{"email": g} for g in guests]
        if not body and start is None and end is None:
            raise calendar_bad_input(
                "Nothing to change: give a new title, time, guests, place or description."
            )
        current = await self.get_event(event_id)
        if start is not None or end is not None:
            new_start, new_end = moved(current, start, end, self.tz)
            body["start"], body["end"] = when_pair(new_start, new_end, self.tz)
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
        return event_from(item, self.tz)

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
        start, end = aware(start, self.tz), aware(end, self.tz)
        if end <= start:
            raise calendar_bad_input("The end of the time range must be after its start.")
        if duration <= timedelta(0):
            raise calendar_bad_input("The meeting length must be more than zero.")
        if day_end <= day_start:
            raise calendar_bad_input("Working hours must end after they start.")
        hours = datetime.combine(date.min, day_end) - datetime.combine(date.min, day_start)
        if duration > hours:
            raise calendar_bad_input(
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


def _lister(args: dict[str, Any]) -> Callable[[Any], Any]:
    return lambda service: service.events().list(**args)


def _emails(addresses: Sequence[str]) -> list[str]:
    if isinstance(addresses, str):
        addresses = [addresses]
    out: list[str] = []
    for raw in addresses:
        address = raw.strip()
        if not EMAIL.fullmatch(address):
            raise calendar_bad_input(f"{raw!r} is not an email address (like name@example.com).")
        if address.lower() not in (a.lower() for a in out):
            out.append(address)
    return out


def _check_id_given(event_id: str) -> None:
    if not event_id or not event_id.strip():
        raise calendar_bad_input("Which event? An event id is needed (list the events to find it).")


def _rfc3339(moment: datetime) -> str:
    return moment.isoformat()


def _parse_instant(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


def _span(length: timedelta) -> str:
    hours, minutes = divmod(int(length.total_seconds() // 60), 60)
    parts = ([f"{hours} h"] if hours else []) + ([f"{minutes} min"] if minutes else [])
    return " ".join(parts) or "0 min"
