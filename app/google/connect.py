"""Google for the engine: the Calendar and Gmail tools of the connected account, as the user's
settings enable them, plus the address book the policy checks recipients against.

Nothing here touches the network: the first tool call fetches the access token. Without a
stored sign-in there are no Google tools (and a notice says how to connect).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from app.core.tools import ToolRegistry
from app.safety.actions import ActionSpec, KnownContacts
from app.settings.schema import Settings
from app.settings.secrets import SecretStore
from app.shared.errors import GoogleCode, GoogleError

if TYPE_CHECKING:
    from app.google.calendar import Calendar
    from app.google.gmail import Gmail

log = logging.getLogger(__name__)

Notice = Callable[[str, str], None]


@dataclass
class GoogleTools:
    """What :func:`add_google_tools` registered: the policy's view of each tool, and contacts."""

    actions: dict[str, ActionSpec] = field(default_factory=dict)
    contacts: KnownContacts | None = None
    closers: list[Callable[[], None]] = field(default_factory=list)
    """Release the API connections when the engine closes."""
    calendar: Calendar | None = None
    gmail: Gmail | None = None
    """The clients themselves, for the GUI's panes (reads; actions go through the policy)."""


def add_google_tools(
    registry: ToolRegistry,
    settings: Settings,
    secrets: SecretStore,
    *,
    notice: Notice | None = None,
    now: Callable[[], datetime] | None = None,
) -> GoogleTools:
    """Register the enabled Calendar and Gmail tools of the signed-in account on ``registry``."""
    google = settings.google
    if google.calendar == "off" and google.mail == "off":
        return GoogleTools()
    from app.google.auth import GoogleAccount

    account = GoogleAccount(google, secrets)
    if not account.connected:
        log.info("no Google account connected; calendar and mail tools are off")
        return GoogleTools()
    try:
        credentials = account.credentials()
    except GoogleError as exc:
        if notice is not None:
            notice(exc.code, exc.message)
        return GoogleTools()
    missing = account.missing_scopes()
    if missing and notice is not None:
        notice(
            GoogleCode.SCOPE,
            "Your Google sign-in does not allow everything the settings turn on; run "
            "`hark google login` to grant it (see `hark google status`).",
        )
    from app.google.api import GoogleApi
    from app.google.calendar import Calendar
    from app.google.calendar_tools import calendar_tools
    from app.google.gmail import Gmail
    from app.google.mail_tools import GmailContacts, mail_tools
    from app.google.time_zones import zone_named
    from app.google.tools import register

    clock = now or (lambda: datetime.now().astimezone())
    result = GoogleTools()
    if google.calendar != "off":
        calendar_api = GoogleApi("calendar", credentials, google)
        result.closers.append(calendar_api.close)
        calendar = Calendar(
            calendar_api,
            calendar_id=google.calendar_id,
            tz=zone_named(google.time_zone),
        )
        result.actions |= register(
            registry, calendar_tools(calendar, clock, write=google.calendar == "write")
        )
        result.calendar = calendar
    if google.mail != "off":
        gmail_api = GoogleApi("gmail", credentials, google)
        result.closers.append(gmail_api.close)
        gmail = Gmail(gmail_api)
        result.actions |= register(registry, mail_tools(gmail, level=google.mail))
        result.contacts = GmailContacts(gmail)
        result.gmail = gmail
    log.info("Google tools: %s", ", ".join(sorted(result.actions)))
    return result
