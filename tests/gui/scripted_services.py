"""The Services the panes see, scripted (:class:`ScriptedServices`): a fixed day in Tokyo, its
calendar events, unread mail and one message to read, answered on the real engine loop."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Mapping, Sequence
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from app.core.events import TurnResult, TurnTimings
from app.google.calendar_events import CalendarEvent
from app.google.mail_messages import MailMessage, MailSummary
from app.google.scopes import AccountStatus
from app.gui.services import ActionOutcome
from app.shared.errors import HarkError

TOKYO = ZoneInfo("Asia/Tokyo")
TODAY = date(2026, 11, 23)
TT = TurnTimings(total_ms=900.0)


def at(day: date, hour: int, minute: int = 0) -> datetime:
    """``hour:minute`` on ``day`` in Tokyo."""
    return datetime.combine(day, time(hour, minute), TOKYO)


def event(title: str, start: datetime | date, end: datetime | date, **kw: Any) -> CalendarEvent:
    """A calendar event (all day when ``start`` is a date)."""
    all_day = not isinstance(start, datetime)
    return CalendarEvent(f"id{abs(hash(title))}", title, start, end, all_day, **kw)


EVENTS = [
    event("Standup", at(TODAY, 9), at(TODAY, 9, 15), html_link="https://cal.example/standup"),
    event("Offsite", TODAY, TODAY + timedelta(days=3), location="Lake house"),
    event("Late call", at(TODAY + timedelta(days=1), 23), at(TODAY + timedelta(days=2), 1)),
]


MAIL = [
    MailSummary(
        "m1", "t1", "Ann <ann@example.org>", "Lunch?", at(TODAY, 12, 5), "Are you free", True
    ),
    MailSummary("m2", "t2", "Bo <bo@example.org>", "", at(TODAY - timedelta(days=2), 8), "", True),
]


MESSAGE = MailMessage(
    "m1",
    "t1",
    "Ann <ann@example.org>",
    "Lunch?",
    at(TODAY, 12, 5),
    "Are you free",
    True,
    ("me@example.com",),
    (),
    "Are you free for lunch on Friday?\nAnn",
    ("menu.pdf",),
)


class ScriptedServices:
    """The Services the panes see, answering from scripted data (or raising what it is given).

    ``hold`` keeps every answer back until the test releases it, to see the loading state."""

    def __init__(self, *, connected: bool = True) -> None:
        self.connected = connected
        self.events: Sequence[CalendarEvent] | HarkError = list(EVENTS)
        self.mail: Sequence[MailSummary] | HarkError = list(MAIL)
        self.messages = {"m1": MESSAGE}
        self.reply: TurnResult | HarkError = TurnResult(1, "", "Ann asks about lunch.", (), TT)
        self.outcome: ActionOutcome | HarkError = ActionOutcome(True, "done", {})
        self.calls: list[tuple[str, Any]] = []
        self.hold: concurrent.futures.Future[None] | None = None
        self.answered: list[str] = []
        self.asked_with: list[dict[str, Any]] = []

    async def _answer(self, name: str, arg: Any, value: Any) -> Any:
        self.calls.append((name, arg))
        if self.hold is not None:
            await asyncio.wrap_future(self.hold)
        self.answered.append(name)
        if isinstance(value, BaseException):
            raise value
        return value

    def called(self, name: str) -> list[Any]:
        return [arg for called, arg in self.calls if called == name]

    def google_connected(self) -> bool:
        return self.connected

    async def upcoming_events(self, days: int) -> list[CalendarEvent]:
        return list(await self._answer("upcoming_events", days, self.events))

    async def unread_mail(self, limit: int = 25) -> list[MailSummary]:
        return list(await self._answer("unread_mail", limit, self.mail))

    async def read_mail(self, message_id: str) -> MailMessage:
        found = self.messages.get(message_id) or HarkError("google-not-found", "It is gone.")
        message: MailMessage = await self._answer("read_mail", message_id, found)
        return message

    async def ask(
        self, text: str, *, shown: str | None = None, tools: Sequence[str] | None = None
    ) -> TurnResult:
        self.asked_with.append({"shown": shown, "tools": None if tools is None else list(tools)})
        result: TurnResult = await self._answer("ask", text, self.reply)
        return result

    async def act(self, tool: str, arguments: Mapping[str, Any]) -> ActionOutcome:
        outcome: ActionOutcome = await self._answer("act", (tool, dict(arguments)), self.outcome)
        return outcome

    async def connect_google(self) -> AccountStatus:
        status = await self._answer("connect_google", None, AccountStatus(True, "me@example.com"))
        self.connected = True
        return status  # type: ignore[no-any-return]
