"""Calendar events as Hark shows them (:class:`CalendarEvent`), and the conversions between them
and Google's event resources: times read and written in the user's zone, all-day events as
``date`` values with Google's *exclusive* end date."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from app.google.time_zones import iana_name
from app.shared.errors import GoogleCode, GoogleError

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


def calendar_bad_input(message: str) -> GoogleError:
    """The error for a request Hark refuses before sending anything (``calendar-bad-input``)."""
    return GoogleError(GoogleCode.CALENDAR_BAD_INPUT, message)


def aware(moment: datetime, tz: tzinfo) -> datetime:
    """``moment`` as is when it has a zone, else read as wall-clock time in ``tz``."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=tz)


def moved(
    current: CalendarEvent, start: datetime | date | None, end: datetime | date | None, tz: tzinfo
) -> tuple[datetime | date, datetime | date]:
    """The new start and end when only one of them is given: a new start keeps the
    event's length (measured in real time, so a DST change does not stretch it)."""
    if start is not None and end is not None:
        return start, end
    if start is None:
        assert end is not None
        if isinstance(end, datetime) != isinstance(current.start, datetime):
            raise calendar_bad_input(
                "Give the new start too when changing between all-day and timed."
            )
        return current.start, end
    if isinstance(start, datetime):
        begin = aware(start, tz)
        if isinstance(current.start, datetime) and isinstance(current.end, datetime):
            length = current.end.astimezone(UTC) - current.start.astimezone(UTC)
        else:
            length = timedelta(hours=1)
        return begin, (begin.astimezone(UTC) + length).astimezone(begin.tzinfo)
    if isinstance(current.start, datetime) or isinstance(current.end, datetime):
        return start, start + DAY
    return start, start + (current.end - current.start)


def when_pair(
    start: datetime | date, end: datetime | date, tz: tzinfo
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Google's ``start``/``end`` objects for a timed or an all-day event, checked."""
    if isinstance(start, datetime) != isinstance(end, datetime):
        raise calendar_bad_input(
            "Give both start and end as times (a timed event) or both as dates (all day)."
        )
    if isinstance(start, datetime) and isinstance(end, datetime):
        begin, finish = aware(start, tz), aware(end, tz)
        if finish <= begin:
            raise calendar_bad_input("The event must end after it starts.")
        return _timed(begin, tz), _timed(finish, tz)
    if end < start:
        raise calendar_bad_input(
            "The event must end after it starts (the end day is before the start)."
        )
    if end == start:
        end = start + DAY
    return {"date": start.isoformat()}, {"date": end.isoformat()}


def _timed(moment: datetime, tz: tzinfo) -> dict[str, Any]:
    local = moment.astimezone(tz)
    when: dict[str, Any] = {"dateTime": local.isoformat()}
    zone_name = iana_name(tz)
    if zone_name:
        when["timeZone"] = zone_name
    return when


def event_from(item: dict[str, Any], tz: tzinfo) -> CalendarEvent:
    """A Google event resource as Hark shows it, its times in ``tz``."""
    start, all_day = _when(item.get("start") or {}, tz)
    end, _ = _when(item.get("end") or {}, tz)
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


def _when(when: dict[str, Any], tz: tzinfo) -> tuple[datetime | date, bool]:
    if when.get("date"):
        return date.fromisoformat(str(when["date"])), True
    moment = datetime.fromisoformat(str(when["dateTime"]))
    if moment.tzinfo is None:
        try:  # Google always sends an offset; this is for a proxy that does not
            zone: tzinfo = ZoneInfo(str(when["timeZone"]))
        except (KeyError, ZoneInfoNotFoundError, ValueError, OSError):
            zone = tz
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(tz), False
