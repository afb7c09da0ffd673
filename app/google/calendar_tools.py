"""The calendar tools the model may call (list, find free time; with write access also create,
change and delete events), and reading the times the model gives.

Times the model gives may be ISO dates (``2026-11-24``, all-day), ISO date-times
(``2026-11-24T15:00``, in the user's zone unless an offset is given) or the words ``today``,
``tomorrow``, ``yesterday`` and ``now``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime, time, timedelta
from typing import Any

from app.core.types import Risk, ToolSpec
from app.core.wording import event_words
from app.google.calendar import Calendar
from app.google.tools import (
    GoogleTool,
    address_list,
    addresses_schema,
    object_schema,
    string_schema,
    text_arg,
)
from app.safety.actions import ActionSpec
from app.shared.errors import GoogleCode, GoogleError

DAY = timedelta(days=1)
MAX_EVENTS = 50
WHEN_HELP = (
    "ISO date (2026-11-24, all day) or date-time (2026-11-24T15:00, the user's time zone), or "
    "today / tomorrow / yesterday / now"
)
Now = Callable[[], datetime]
EVENT_FIELDS = ("title", "start", "end", "attendees", "description", "location")


def parse_when(value: Any, now: datetime) -> datetime | date:
    """A model-given time: a ``date`` for a whole day, else an aware ``datetime`` in ``now``'s
    zone (a naive one is taken as local time)."""
    text = str(value or "").strip().lower()
    words = {"today": 0, "tomorrow": 1, "yesterday": -1}
    if text in words:
        return now.date() + timedelta(days=words[text])
    if text == "now":
        return now
    try:
        if len(text) == 10:
            return date.fromisoformat(text)
        moment = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    except ValueError:
        raise GoogleError(
            GoogleCode.TOOL_BAD_INPUT, f"could not read the time {value!r}: use an {WHEN_HELP}"
        ) from None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=now.tzinfo)
    return moment.astimezone(now.tzinfo)


def _start_of(when: datetime | date, now: datetime) -> datetime:
    if isinstance(when, datetime):
        return when
    return datetime.combine(when, time(0), tzinfo=now.tzinfo)


def _range(args: Mapping[str, Any], now: datetime, default_days: int) -> tuple[datetime, datetime]:
    start_when = parse_when(args.get("start") or "now", now)
    start = _start_of(start_when, now)
    if args.get("end"):
        end_when = parse_when(args["end"], now)
        # an end given as a date means "through that day"
        end = _start_of(end_when + DAY, now) if not isinstance(end_when, datetime) else end_when
    elif isinstance(start_when, datetime):
        end = start + timedelta(days=default_days)
    else:
        end = _start_of(start_when + DAY, now)
    if end <= start:
        raise GoogleError(GoogleCode.TOOL_BAD_INPUT, "the end of the range is not after its start")
    return start, end


def _event_times(args: Mapping[str, Any], now: datetime) -> tuple[datetime | date, datetime | date]:
    start = parse_when(args.get("start"), now)
    if args.get("end"):
        end = parse_when(args["end"], now)
    elif isinstance(start, datetime):
        minutes = int(args.get("duration_minutes") or 60)
        end = start + timedelta(minutes=minutes)
    else:
        end = start + DAY
    if isinstance(start, datetime) != isinstance(end, datetime):
        raise GoogleError(
            GoogleCode.TOOL_BAD_INPUT,
            "give start and end both as dates (all day) or both as date-times",
        )
    if not isinstance(end, datetime) and end == start:
        end = start + DAY
    return start, end


def calendar_tools(calendar: Calendar, now: Now, *, write: bool) -> list[GoogleTool]:
    """The calendar tools; ``write`` adds create/update/delete (``google.calendar = write``)."""

    def local_now() -> datetime:
        return now().astimezone(calendar.tz)

    async def list_events(args: Mapping[str, Any]) -> dict[str, Any]:
        start, end = _range(args, local_now(), default_days=7)
        limit = min(int(args.get("limit") or 20), MAX_EVENTS)
        events = await calendar.list_events(start, end, query=args.get("query"), limit=limit)
        return {
            "from": start.isoformat(timespec="minutes"),
            "to": end.isoformat(timespec="minutes"),
            "count": len(events),
            "events": [e.brief() for e in events],
        }

    async def create_event(args: Mapping[str, Any]) -> dict[str, Any]:
        start, end = _event_times(args, local_now())
        event = await calendar.create_event(
            text_arg(args, "title"),
            start,
            end,
            attendees=address_list(args.get("attendees")),
            description=text_arg(args, "description"),
            location=text_arg(args, "location"),
            event_id=args.get("request_id"),
        )
        return {"created": event.brief(), "link": event.html_link}

    async def update_event(args: Mapping[str, Any]) -> dict[str, Any]:
        start = end = None
        if args.get("start"):
            start, end = _event_times(args, local_now())
        elif args.get("end"):
            end = parse_when(args["end"], local_now())
        attendees = address_list(args["attendees"]) if "attendees" in args else None
        event = await calendar.update_event(
            str(args["event_id"]),
            title=args.get("title"),
            start=start,
            end=end,
            attendees=attendees,
            description=args.get("description"),
            location=args.get("location"),
        )
        return {"updated": event.brief()}

    async def delete_event(args: Mapping[str, Any]) -> dict[str, Any]:
        deleted = await calendar.delete_event(str(args["event_id"]))
        return {"deleted": deleted, "event_id": args["event_id"]}

    async def find_free_time(args: Mapping[str, Any]) -> dict[str, Any]:
        start, end = _range(args, local_now(), default_days=5)
        minutes = int(args.get("duration_minutes") or 30)
        if minutes <= 0:
            raise GoogleError(GoogleCode.TOOL_BAD_INPUT, "duration_minutes must be more than 0")
        slots = await calendar.find_free_time(start, end, timedelta(minutes=minutes))
        return {
            "duration_minutes": minutes,
            "free": [
                {"start": a.isoformat(timespec="minutes"), "end": b.isoformat(timespec="minutes")}
                for a, b in slots
            ],
        }

    when = {"type": "string", "description": WHEN_HELP}
    tools = [
        GoogleTool(
            ToolSpec(
                "calendar_list_events",
                "List the events in the user's calendar between two times (default: the next "
                "7 days from now; a single date means that whole day). Use it for any question "
                "about the user's schedule.",
                object_schema(
                    {
                        "start": when,
                        "end": when,
                        "query": string_schema("only events matching these words"),
                        "limit": {"type": "integer", "description": "at most this many"},
                    }
                ),
            ),
            list_events,
            ActionSpec(Risk.READ, lambda a: "List calendar events"),
        ),
        GoogleTool(
            ToolSpec(
                "calendar_find_free_time",
                "Find free slots of a given length in the user's calendar (working hours).",
                object_schema(
                    {
                        "start": when,
                        "end": when,
                        "duration_minutes": {"type": "integer", "description": "slot length"},
                    }
                ),
            ),
            find_free_time,
            ActionSpec(Risk.READ, lambda a: "Look for free time in the calendar"),
        ),
    ]
    if not write:
        return tools
    guests = addresses_schema("email addresses of people to invite (they get an invitation)")
    event_fields = {
        "title": string_schema("the event's title"),
        "start": when,
        "end": when,
        "duration_minutes": {"type": "integer", "description": "length if no end (60)"},
        "attendees": guests,
        "description": string_schema("notes"),
        "location": string_schema("where"),
    }
    tools += [
        GoogleTool(
            ToolSpec(
                "calendar_create_event",
                "Create an event in the user's calendar. Guests get an invitation.",
                object_schema(event_fields, ["title", "start"]),
            ),
            create_event,
            ActionSpec(
                Risk.WRITE,
                _describe_create,
                editable=EVENT_FIELDS,
                recipients=lambda a: address_list(a.get("attendees")),
                risk_with_recipients=Risk.EXTERNAL,
                key_argument="request_id",
            ),
        ),
        GoogleTool(
            ToolSpec(
                "calendar_update_event",
                "Change an event (by its id from calendar_list_events): title, times, guests, "
                "notes or place. Only the fields given change; its guests are told.",
                object_schema(
                    {"event_id": string_schema("the event's id"), **event_fields}, ["event_id"]
                ),
            ),
            update_event,
            ActionSpec(
                Risk.EXTERNAL,
                _describe_update,
                editable=EVENT_FIELDS,
                recipients=lambda a: address_list(a.get("attendees")),
            ),
        ),
        GoogleTool(
            ToolSpec(
                "calendar_delete_event",
                "Delete an event (by its id from calendar_list_events); its guests are told.",
                object_schema({"event_id": string_schema("the event's id")}, ["event_id"]),
            ),
            delete_event,
            ActionSpec(
                Risk.EXTERNAL,
                lambda a: f"Delete the calendar event {a.get('event_id')}",
                deletes=True,
            ),
        ),
    ]
    return tools


def _describe_create(args: Mapping[str, Any]) -> str:
    return event_words("Create the event", args)


def _describe_update(args: Mapping[str, Any]) -> str:
    changed = [
        k for k in ("title", "start", "end", "attendees", "description", "location") if k in args
    ]
    what = ", ".join(changed) or "nothing"
    return f"Change the calendar event {args.get('event_id')} ({what})"
