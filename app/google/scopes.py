"""The OAuth scopes Hark may ask Google for: which ones the enabled features need, how to show
them to a person, and :class:`AccountStatus` (what a sign-in grants against what is needed).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.settings.schema import GoogleSettings

SCOPE_PREFIX = "https://www.googleapis.com/auth/"
CALENDAR_READ = SCOPE_PREFIX + "calendar.readonly"
CALENDAR_EVENTS = SCOPE_PREFIX + "calendar.events"
GMAIL_READ = SCOPE_PREFIX + "gmail.readonly"
GMAIL_COMPOSE = SCOPE_PREFIX + "gmail.compose"
GMAIL_SEND = SCOPE_PREFIX + "gmail.send"
GMAIL_MODIFY = SCOPE_PREFIX + "gmail.modify"
IDENTITY_SCOPES = ("openid", SCOPE_PREFIX + "userinfo.email")
"""Asked for at every sign-in so Hark can name the account; never counted as missing."""

CALENDAR_SCOPES: dict[str, tuple[str, ...]] = {
    "off": (),
    "read": (CALENDAR_READ,),
    "write": (CALENDAR_READ, CALENDAR_EVENTS),
}
MAIL_SCOPES: dict[str, tuple[str, ...]] = {
    "off": (),
    "read": (GMAIL_READ,),
    "compose": (GMAIL_READ, GMAIL_COMPOSE),
    "send": (GMAIL_READ, GMAIL_COMPOSE, GMAIL_SEND, GMAIL_MODIFY),
}


def scopes_for(settings: GoogleSettings) -> list[str]:
    """The OAuth scopes the enabled features need, and no more (least privilege)."""
    wanted = CALENDAR_SCOPES[settings.calendar] + MAIL_SCOPES[settings.mail]
    return sorted(set(wanted))


def short_scope(scope: str) -> str:
    """``https://www.googleapis.com/auth/gmail.send`` → ``gmail.send`` (for people to read)."""
    return scope.removeprefix(SCOPE_PREFIX)


@dataclass(frozen=True, slots=True)
class AccountStatus:
    """Where the Google account stands: what was granted and what the settings still need.
    Holds no token, so it is safe to print or send to the GUI."""

    connected: bool
    email: str | None = None
    granted: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    needed: tuple[str, ...] = ()

    @property
    def advice(self) -> str | None:
        """What to do next, for a person (None when nothing is to be done)."""
        if not self.connected:
            return "run `hark google login` to connect" if self.needed else None
        if self.missing:
            names = ", ".join(short_scope(s) for s in self.missing)
            return f"run `hark google login` to grant {names}"
        return None

    def as_dict(self) -> dict[str, Any]:
        return {
            "connected": self.connected,
            "email": self.email,
            "granted": list(self.granted),
            "needed": list(self.needed),
            "missing": list(self.missing),
            "advice": self.advice,
        }


def scope_list(value: Any) -> list[str]:
    """Scopes as Google's answers (one string, space-separated) or a stored sign-in (a list)
    give them: sorted, each once."""
    if isinstance(value, str):
        return sorted(set(value.split()))
    if isinstance(value, (list, tuple, set, frozenset)):
        return sorted({str(s) for s in value if s})
    return []
