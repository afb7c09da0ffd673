"""The Calendar and Gmail tools the model may call, and what the action policy must know about
each (its risk, whom it reaches, what the user may edit before approving).

Names and argument schemas are fixed: prompts, the audit log and the user's per-tool policy
settings refer to them. Results go back to the model short and structured (JSON). Times the
model gives may be ISO dates (``2026-11-24``, all-day), ISO date-times (``2026-11-24T15:00``,
in the user's zone unless an offset is given) or the words ``today``, ``tomorrow``,
``yesterday`` and ``now``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from app.core.tools import Handler, ToolRegistry
from app.core.types import Risk, ToolSpec
from app.core.wording import event_words, mail_words
from app.google.calendar import Calendar
from app.google.gmail import Gmail, OutgoingMail
from app.safety.policy import ActionSpec, normalize_address
from app.shared.errors import GoogleCode, GoogleError

DAY = timedelta(days=1)
MAX_EVENTS = 50
MAX_MESSAGES = 25
WHEN_HELP = (
    "ISO date (2026-11-24, all day) or date-time (2026-11-24T15:00, the user's time zone), or "
    "today / tomorrow / yesterday / now"
)
Now = Callable[[], datetime]
MAIL_FIELDS = ("to", "cc", "bcc", "subject", "body")
EVENT_FIELDS = ("title", "start", "end", "attendees", "description", "location")


@dataclass(frozen=True)
class GoogleTool:
    """One tool: its schema for the model, its handler, and its policy description."""

    spec: ToolSpec
    handler: Handler
    action: ActionSpec


def _schema(properties: Mapping[str, Any], required: Sequence[str] = ()) -> dict[str, Any]:
    return {"type": "object", "properties": dict(properties), "required": list(required)}


def _string(description: str) -> dict[str, str]:
    return {"type": "string", "description": description}


def _addresses(description: str) -> dict[str, Any]:
    return {"type": "array", "items": {"type": "string"}, "description": description}


def _list(value: Any) -> list[str]:
    """An address list as the model may send it: a list, or one string with commas."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [part.strip() for part in re.split(r"[,;]", value) if part.strip()]
    if isinstance(value, list | tuple):
        return [str(v).strip() for v in value if str(v).strip()]
    raise GoogleError(GoogleCode.TOOL_BAD_INPUT, f"expected a list of addresses, got {value!r}")


def _text(args: Mapping[str, Any], name: str, default: str = "") -> str:
    value = args.get(name, default)
    return default if value is None else str(value)


# --- times -----------------------------------------------------------------------------------


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


# --- calendar --------------------------------------------------------------------------------


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
            _text(args, "title"),
            start,
            end,
            attendees=_list(args.get("attendees")),
            description=_text(args, "description"),
            location=_text(args, "location"),
            event_id=args.get("request_id"),
        )
        return {"created": event.brief(), "link": event.html_link}

    async def update_event(args: Mapping[str, Any]) -> dict[str, Any]:
        start = end = None
        if args.get("start"):
            start, end = _event_times(args, local_now())
        elif args.get("end"):
            end = parse_when(args["end"], local_now())
        attendees = _list(args["attendees"]) if "attendees" in args else None
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
                _schema(
                    {
                        "start": when,
                        "end": when,
                        "query": _string("only events matching these words"),
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
                _schema(
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
    guests = _addresses("email addresses of people to invite (they get an invitation)")
    event_fields = {
        "title": _string("the event's title"),
        "start": when,
        "end": when,
        "duration_minutes": {"type": "integer", "description": "length if no end (60)"},
        "attendees": guests,
        "description": _string("notes"),
        "location": _string("where"),
    }
    tools += [
        GoogleTool(
            ToolSpec(
                "calendar_create_event",
                "Create an event in the user's calendar. Guests get an invitation.",
                _schema(event_fields, ["title", "start"]),
            ),
            create_event,
            ActionSpec(
                Risk.WRITE,
                _describe_create,
                editable=EVENT_FIELDS,
                recipients=lambda a: _list(a.get("attendees")),
                risk_with_recipients=Risk.EXTERNAL,
                key_argument="request_id",
            ),
        ),
        GoogleTool(
            ToolSpec(
                "calendar_update_event",
                "Change an event (by its id from calendar_list_events): title, times, guests, "
                "notes or place. Only the fields given change; its guests are told.",
                _schema({"event_id": _string("the event's id"), **event_fields}, ["event_id"]),
            ),
            update_event,
            ActionSpec(
                Risk.EXTERNAL,
                _describe_update,
                editable=EVENT_FIELDS,
                recipients=lambda a: _list(a.get("attendees")),
            ),
        ),
        GoogleTool(
            ToolSpec(
                "calendar_delete_event",
                "Delete an event (by its id from calendar_list_events); its guests are told.",
                _schema({"event_id": _string("the event's id")}, ["event_id"]),
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


# --- mail ------------------------------------------------------------------------------------


def _outgoing(args: Mapping[str, Any]) -> OutgoingMail:
    return OutgoingMail(
        to=tuple(_list(args.get("to"))),
        cc=tuple(_list(args.get("cc"))),
        bcc=tuple(_list(args.get("bcc"))),
        subject=_text(args, "subject"),
        body=_text(args, "body"),
        thread_id=args.get("thread_id") or None,
        in_reply_to=args.get("in_reply_to") or None,
        references=args.get("references") or None,
    )


def _mail_recipients(args: Mapping[str, Any]) -> list[str]:
    return [*_list(args.get("to")), *_list(args.get("cc")), *_list(args.get("bcc"))]


def _describe_mail(verb: str) -> Callable[[Mapping[str, Any]], str]:
    def describe(args: Mapping[str, Any]) -> str:
        return mail_words(verb, args)

    return describe


def mail_tools(gmail: Gmail, *, level: str) -> list[GoogleTool]:
    """The mail tools for ``google.mail``'s level: read, compose (drafts) or send."""

    async def search(args: Mapping[str, Any]) -> dict[str, Any]:
        query = _text(args, "query") or "is:unread in:inbox"
        limit = min(int(args.get("limit") or 10), MAX_MESSAGES)
        found = await gmail.search(query, limit=limit)
        return {"query": query, "count": len(found), "messages": [m.brief() for m in found]}

    async def read(args: Mapping[str, Any]) -> dict[str, Any]:
        return (await gmail.read(str(args["message_id"]))).brief()

    async def draft(args: Mapping[str, Any]) -> dict[str, Any]:
        draft_id = await gmail.create_draft(_outgoing(args))
        return {"draft_id": draft_id, "note": "saved in Drafts; not sent"}

    async def send(args: Mapping[str, Any]) -> dict[str, Any]:
        mail = _outgoing(args)
        message_id = await gmail.send(mail)
        return {"sent": True, "message_id": message_id, "to": list(mail.recipients())}

    async def mark_read(args: Mapping[str, Any]) -> dict[str, Any]:
        await gmail.mark_read(str(args["message_id"]))
        return {"marked_read": args["message_id"]}

    async def archive(args: Mapping[str, Any]) -> dict[str, Any]:
        await gmail.archive(str(args["message_id"]))
        return {"archived": args["message_id"]}

    async def prepare_reply(args: Mapping[str, Any]) -> dict[str, Any]:
        mail = await gmail.reply_to(
            str(args["message_id"]), _text(args, "body"), reply_all=bool(args.get("reply_all"))
        )
        return {
            **args,
            "to": list(mail.to),
            "cc": list(mail.cc),
            "subject": mail.subject,
            "thread_id": mail.thread_id,
            "in_reply_to": mail.in_reply_to,
            "references": mail.references,
        }

    async def reply(args: Mapping[str, Any]) -> dict[str, Any]:
        if not args.get("to"):  # not prepared by the policy (a direct call): build it now
            args = await prepare_reply(args)
        return await send(args)

    message_id = _string("the message's id from mail_search")
    tools = [
        GoogleTool(
            ToolSpec(
                "mail_search",
                "Search the user's Gmail (Gmail search syntax; default: unread mail in the "
                "inbox). Returns sender, subject, date and a snippet of each.",
                _schema(
                    {
                        "query": _string("e.g. 'is:unread in:inbox', 'from:anna subject:invoice'"),
                        "limit": {"type": "integer", "description": "at most this many (10)"},
                    }
                ),
            ),
            search,
            ActionSpec(Risk.READ, lambda a: "Search mail"),
        ),
        GoogleTool(
            ToolSpec(
                "mail_read",
                "Read one message: headers, the text, and the names of attachments.",
                _schema({"message_id": message_id}, ["message_id"]),
            ),
            read,
            ActionSpec(Risk.READ, lambda a: f"Read the message {a.get('message_id')}"),
        ),
    ]
    if level == "read":
        return tools
    mail_fields = {
        "to": _addresses("recipients' email addresses"),
        "cc": _addresses("copy to"),
        "bcc": _addresses("blind copy to"),
        "subject": _string("the subject line"),
        "body": _string("the text of the mail"),
    }
    tools.append(
        GoogleTool(
            ToolSpec(
                "mail_draft",
                "Save a mail in the user's Drafts without sending it.",
                _schema(mail_fields, ["to", "subject", "body"]),
            ),
            draft,
            ActionSpec(Risk.WRITE, _describe_mail("Save a draft"), editable=MAIL_FIELDS),
        )
    )
    if level != "send":
        return tools
    tools += [
        GoogleTool(
            ToolSpec(
                "mail_send",
                "Send a mail from the user's Gmail.",
                _schema(mail_fields, ["to", "subject", "body"]),
            ),
            send,
            ActionSpec(
                Risk.EXTERNAL,
                _describe_mail("Send an email"),
                editable=MAIL_FIELDS,
                recipients=_mail_recipients,
            ),
        ),
        GoogleTool(
            ToolSpec(
                "mail_reply",
                "Reply to a message in its thread (reply_all also answers everyone on it).",
                _schema(
                    {
                        "message_id": message_id,
                        "body": _string("the text of the reply"),
                        "reply_all": {"type": "boolean", "description": "answer everyone"},
                    },
                    ["message_id", "body"],
                ),
            ),
            reply,
            ActionSpec(
                Risk.EXTERNAL,
                _describe_mail("Send a reply"),
                editable=MAIL_FIELDS,
                recipients=_mail_recipients,
                prepare=prepare_reply,
            ),
        ),
        GoogleTool(
            ToolSpec(
                "mail_mark_read",
                "Mark a message as read.",
                _schema({"message_id": message_id}, ["message_id"]),
            ),
            mark_read,
            ActionSpec(Risk.WRITE, lambda a: f"Mark the message {a.get('message_id')} as read"),
        ),
        GoogleTool(
            ToolSpec(
                "mail_archive",
                "Archive a message (take it out of the inbox; it stays in All Mail).",
                _schema({"message_id": message_id}, ["message_id"]),
            ),
            archive,
            ActionSpec(Risk.WRITE, lambda a: f"Archive the message {a.get('message_id')}"),
        ),
    ]
    return tools


def register(registry: ToolRegistry, tools: Sequence[GoogleTool]) -> dict[str, ActionSpec]:
    """Add ``tools`` to ``registry``; returns their policy descriptions by name."""
    for tool in tools:
        registry.register(tool.spec, tool.handler)
    return {tool.spec.name: tool.action for tool in tools}


class GmailContacts:
    """The policy's address book: the user's own address and everyone they ever wrote to."""

    def __init__(self, gmail: Gmail) -> None:
        self._gmail = gmail

    async def is_known(self, address: str) -> bool:
        wanted = normalize_address(address)
        if wanted == normalize_address(await self._gmail.address()):
            return True
        return wanted in await self._gmail.correspondents()
