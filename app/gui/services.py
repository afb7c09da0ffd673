"""What the GUI's panes, dialogs and wizards may ask of the engine, as one small facade.

Widgets never reach into the engine: they hold a :class:`Services` and call its coroutines
through :meth:`app.gui.bridge.Bridge.run` (so the work runs on the engine loop and the answer
comes back on the GUI thread). :class:`EngineServices` is the real one, built on the assembled
:class:`~app.compose.build.Engine`; tests give widgets the same class over fakes (FakeGoogle,
FakeOllama), or a small scripted one.

Reads for the panes (upcoming events, unread mail) use the Google clients directly; anything
that changes something (a new event from the pane's form) goes through the action policy like
a model's tool call, so it is confirmed, rate-limited and audited the same way.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from app.core.events import TurnResult
from app.core.types import ToolCall, ToolResult
from app.shared.errors import CoreCode, GoogleCode, HarkError

if TYPE_CHECKING:
    from app.compose.build import Engine
    from app.google.calendar_events import CalendarEvent
    from app.google.mail_messages import MailMessage, MailSummary
    from app.google.scopes import AccountStatus
    from app.settings.schema import Settings
    from app.settings.secrets import SecretStore

NOT_CONNECTED = GoogleCode.NOT_CONNECTED


@dataclass(frozen=True, slots=True)
class ActionOutcome:
    """What became of an action the GUI asked for (through the policy)."""

    ok: bool
    message: str
    data: Mapping[str, Any]


class Services(Protocol):
    """The engine as the GUI sees it. Coroutines run on the engine loop (``Bridge.run``)."""

    def google_connected(self) -> bool:
        """A Google sign-in is stored (the panes show "Connect Google" otherwise)."""
        ...

    async def upcoming_events(self, days: int) -> list[CalendarEvent]:
        """Events from the start of today through ``days`` days; raises ``HarkError``."""
        ...

    async def unread_mail(self, limit: int = 25) -> list[MailSummary]:
        """Unread mail in the inbox, newest first; raises ``HarkError``."""
        ...

    async def read_mail(self, message_id: str) -> MailMessage:
        """One message in full, for the inbox's preview; raises ``HarkError``."""
        ...

    async def ask(
        self, text: str, *, shown: str | None = None, tools: Collection[str] | None = None
    ) -> TurnResult:
        """One assistant turn from text (the request field, the inbox's Summarize / Draft
        reply buttons): ``shown`` is the request as the conversation shows it, ``tools``
        the only tools the model is offered (see ``VoicePipeline.run_text``)."""
        ...

    async def act(self, tool: str, arguments: Mapping[str, Any]) -> ActionOutcome:
        """Run a tool as the user's own request, through the action policy."""
        ...

    async def connect_google(self) -> AccountStatus:
        """Sign in to Google in the browser (blocks a worker thread until done)."""
        ...


class EngineServices:
    """:class:`Services` over an assembled engine (its Google clients, policy and pipeline).

    ``engine`` may be a function returning the current engine, for an app that assembles it
    again (new settings, a new Google sign-in); ``reassemble`` does that after a sign-in so
    the Calendar and Gmail tools of the new account are in place when the panes reload.
    """

    def __init__(
        self,
        engine: Engine | Callable[[], Engine | None],
        settings: Settings,
        secrets: SecretStore,
        *,
        reassemble: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        self._get = engine if callable(engine) else (lambda: engine)
        self._settings = settings
        self._secrets = secrets
        self._reassemble = reassemble

    @property
    def _engine(self) -> Engine:
        engine = self._get()
        if engine is None:
            raise HarkError(
                CoreCode.ENGINE_STARTING, "Hark is still starting; try again in a moment"
            )
        return engine

    def _google(self) -> Any:
        google = self._engine.google
        if google is None or (google.calendar is None and google.gmail is None):
            raise HarkError(
                NOT_CONNECTED, "Google is not connected: use Connect Google (or hark google login)"
            )
        return google

    def google_connected(self) -> bool:
        from app.google.auth import GoogleAccount

        return GoogleAccount(self._settings.google, self._secrets).connected

    async def upcoming_events(self, days: int) -> list[CalendarEvent]:
        calendar = self._google().calendar
        if calendar is None:
            raise HarkError(GoogleCode.CALENDAR_OFF, "the calendar is turned off (google.calendar)")
        now = datetime.now(calendar.tz)
        start = now.replace(hour=0, minute=0, second=0, microsecond=0)
        events: list[CalendarEvent] = await calendar.list_events(
            start, start + timedelta(days=days), limit=100
        )
        return events

    async def unread_mail(self, limit: int = 25) -> list[MailSummary]:
        gmail = self._google().gmail
        if gmail is None:
            raise HarkError(GoogleCode.MAIL_OFF, "mail is turned off (google.mail)")
        found: list[MailSummary] = await gmail.search("is:unread in:inbox", limit=limit)
        return found

    async def read_mail(self, message_id: str) -> MailMessage:
        gmail = self._google().gmail
        if gmail is None:
            raise HarkError(GoogleCode.MAIL_OFF, "mail is turned off (google.mail)")
        message: MailMessage = await gmail.read(message_id)
        return message

    async def ask(
        self, text: str, *, shown: str | None = None, tools: Collection[str] | None = None
    ) -> TurnResult:
        return await self._engine.pipeline.run_text(text, shown=shown, tools=tools)

    async def act(self, tool: str, arguments: Mapping[str, Any]) -> ActionOutcome:
        policy = self._engine.policy
        if policy is None:
            raise HarkError(CoreCode.POLICY_MISSING, "the action policy is not set up")
        result: ToolResult = await policy.call(ToolCall(tool, dict(arguments)))
        try:
            data = json.loads(result.content)
        except ValueError:
            data = {"text": result.content}
        if not isinstance(data, dict):
            data = {"value": data}
        message = str(data.get("error") or data.get("not_done") or ("done" if result.ok else ""))
        return ActionOutcome(result.ok, message, data)

    async def connect_google(self) -> AccountStatus:
        from app.google.auth import GoogleAccount

        account = GoogleAccount(self._settings.google, self._secrets)
        status = await asyncio.to_thread(account.login, self._settings.google.client_file)
        if self._reassemble is not None:
            await self._reassemble()
        return status
