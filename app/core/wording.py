"""Actions and times in a person's words, for everything that shows them to the user.

The model and the tools speak ISO timestamps and argument names; the confirmation dialog, the
conversation and the terminal show "Tue 3 Dec, 14:00–15:00 (1 h)" and "Send an email to
ann@example.org, subject “Lunch”". Pure functions, so the wording is the same everywhere and
can be checked without a window.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any

ACTION_WORDS = {
    "get_current_time": "Check the time",
    "calendar_list_events": "Look at your calendar",
    "calendar_find_free_time": "Look for free time in your calendar",
    "calendar_create_event": "Create an event",
    "calendar_update_event": "Change an event",
    "calendar_delete_event": "Delete an event",
    "mail_search": "Search your mail",
    "mail_read": "Read an email",
    "mail_draft": "Save a draft",
    "mail_send": "Send an email",
    "mail_reply": "Send a reply",
    "mail_mark_read": "Mark an email as read",
    "mail_archive": "Archive an email",
}
"""What each tool does, as a person would say it."""
_MAIL = ("mail_draft", "mail_send", "mail_reply")
_EVENTS = ("calendar_create_event", "calendar_update_event")
DAY = timedelta(days=1)


def quoted(text: str, limit: int = 60) -> str:
    """“text” on one line, cut with … past ``limit`` characters."""
    text = " ".join(text.split())
    return f"“{text[: limit - 1]}…”" if len(text) > limit else f"“{text}”"


def duration_words(minutes: float) -> str:
    """ "45 min", "1 h", "1 h 30 min", "2 days"."""
    minutes = round(minutes)
    if minutes < 60:
        return f"{minutes} min"
    if minutes % (24 * 60) == 0:
        days = minutes // (24 * 60)
        return "1 day" if days == 1 else f"{days} days"
    hours, rest = divmod(minutes, 60)
    return f"{hours} h" if not rest else f"{hours} h {rest} min"


def parse_moment(value: Any) -> datetime | date | None:
    """An ISO date (a whole day) or date-time as the tools take them; None if it is not one."""
    if isinstance(value, datetime | date):
        return value
    text = str(value or "").strip()
    if not text:
        return None
    try:
        if len(text) == 10:
            return date.fromisoformat(text)
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def day_words(day: date) -> str:
    """ "Tue 3 Dec"."""
    return f"{day:%a} {day.day} {day:%b}"


def when_words(start: Any, end: Any = None, duration_minutes: Any = None) -> str:
    """An event's time: "Tue 3 Dec, 14:00–15:00 (1 h)", "Tue 3 Dec (all day)", or the text
    as given when it is not a time Hark can read (the tool then says what is wrong)."""
    first = parse_moment(start)
    if first is None:
        return str(start or "")
    last = parse_moment(end)
    if not isinstance(first, datetime):
        if isinstance(last, date) and not isinstance(last, datetime) and last > first + DAY:
            return f"{day_words(first)} – {day_words(last - DAY)} (all day)"
        return f"{day_words(first)} (all day)"
    if not isinstance(last, datetime):
        try:
            minutes = float(duration_minutes) if duration_minutes else 60.0
        except (TypeError, ValueError):
            minutes = 60.0
        last = first + timedelta(minutes=minutes)
    elif last.tzinfo is not None and first.tzinfo is not None:
        last = last.astimezone(first.tzinfo)
    length = duration_words((last - first).total_seconds() / 60)
    if last.date() != first.date():
        until = f"{day_words(last.date())}, {last:%H:%M}"
        return f"{day_words(first.date())}, {first:%H:%M} – {until} ({length})"
    return f"{day_words(first.date())}, {first:%H:%M}–{last:%H:%M} ({length})"


def _people(value: Any) -> list[str]:
    if isinstance(value, str):
        return [part.strip() for part in value.replace(";", ",").split(",") if part.strip()]
    if isinstance(value, Sequence):
        return [str(v) for v in value if str(v).strip()]
    return []


def mail_words(verb: str, arguments: Mapping[str, Any]) -> str:
    """ "Send an email to ann@x.org, bo@y.org, subject “Lunch”"."""
    people = [p for key in ("to", "cc", "bcc") for p in _people(arguments.get(key))]
    text = verb
    if people:
        text += " to " + ", ".join(people)
    subject = str(arguments.get("subject") or "").strip()
    if subject:
        text += f", subject {quoted(subject)}"
    return text


def event_words(verb: str, arguments: Mapping[str, Any]) -> str:
    """ "Create the event “Standup” on Tue 3 Dec, 09:00–09:15 (15 min), inviting ann@x.org"."""
    text = verb
    title = str(arguments.get("title") or "").strip()
    if title:
        text += f" {quoted(title)}"
    if arguments.get("start"):
        when = when_words(
            arguments.get("start"), arguments.get("end"), arguments.get("duration_minutes")
        )
        text += f" on {when}"
    guests = _people(arguments.get("attendees"))
    if guests:
        text += ", inviting " + ", ".join(guests)
    return text


def action_words(name: str, arguments: Mapping[str, Any]) -> str:
    """A tool call as a person would say it, with the details that matter (whom, what, when)."""
    verb = ACTION_WORDS.get(name) or name.replace("_", " ").strip().capitalize() or "An action"
    if name in _MAIL:
        return mail_words(verb, arguments)
    if name == "calendar_create_event":
        return event_words("Create the event", arguments)
    if name in _EVENTS:
        return event_words("Change the event", arguments)
    return verb
