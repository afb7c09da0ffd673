"""What the action policy works with: each tool's :class:`ActionSpec`, the ports it records to
and asks (:class:`AuditTrail`, :class:`KnownContacts`), and the stable text, idempotency key and
redaction of a call's arguments.

``app.safety.audit`` (the SQLite trail) and the Google tools build on these, never on the
policy itself.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from email.utils import parseaddr
from typing import Any, Literal, Protocol, TypeVar

from app.core.types import Risk

_T = TypeVar("_T")

KEY_KINDS = ("started", "executed", "failed")
"""The audit kinds that carry an idempotency key."""
_SECRET_WORDS = ("password", "secret", "token", "api_key", "apikey", "credential")


@dataclass(frozen=True)
class ActionSpec:
    """What the policy must know about one tool: how much it matters and whom it reaches."""

    risk: Risk
    describe: Callable[[Mapping[str, Any]], str]
    """One sentence for a person: ``Send an email to bob@x.org: 'Lunch'``."""
    editable: tuple[str, ...] = ()
    """Argument names shown in the preview, which the user may change before approving."""
    recipients: Callable[[Mapping[str, Any]], Sequence[str]] | None = None
    """The people the call reaches (mail to/cc/bcc, event guests)."""
    risk_with_recipients: Risk | None = None
    """The risk when ``recipients`` is not empty (an event is a WRITE, with guests EXTERNAL)."""
    deletes: bool = False
    """A delete is always confirmed unless the tool is denied."""
    key_argument: str | None = None
    """The argument the policy fills with the idempotency key (hex) before running."""
    prepare: Callable[[Mapping[str, Any]], Awaitable[Mapping[str, Any]]] | None = None
    """Completes the model's arguments before anything is judged, so that the preview, the
    thresholds and the idempotency key see what will really happen (a reply gets its
    recipients and subject from the message it answers)."""


@dataclass(frozen=True, slots=True)
class KeyState:
    """The latest recorded state of an action with a given idempotency key."""

    action_id: str
    kind: Literal["started", "executed", "failed"]
    at: float
    result: str | None = None
    """The executed call's result content (JSON text), for ``executed``."""


class AuditTrail(Protocol):
    """Where the policy records every step; ``app.safety.audit.AuditLog`` keeps it in SQLite.

    Kinds: proposed, verdict, decision, started, executed, failed, reused, limited, refused.
    ``data`` always holds ``tool``; started/executed/failed hold the idempotency ``key``.
    """

    def append(self, action_id: str, kind: str, data: Mapping[str, Any]) -> None: ...

    def find_key(self, key: str, since: float) -> KeyState | None:
        """The latest started/executed/failed row with this key at or after ``since``."""
        ...

    def count_executed(self, tool: str, since: float) -> int:
        """How many calls of ``tool`` succeeded at or after ``since``."""
        ...


class KnownContacts(Protocol):
    """Tells whether an address is a past correspondent (Gmail-backed in the app)."""

    async def is_known(self, address: str) -> bool: ...


def canonical_json(value: Any) -> str:
    """One stable text per value (sorted keys, no spaces), for hashes and keys."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def idempotency_key(tool: str, arguments: Mapping[str, Any]) -> str:
    """sha256 of the tool name and the canonical JSON of its final arguments."""
    text = tool + "\n" + canonical_json(dict(arguments))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def normalize_address(value: str) -> str:
    """``Bob <Bob@X.org>`` and ``bob@x.org`` are one person."""
    address = parseaddr(value)[1] or value
    return address.strip().lower()


def redact(value: Any) -> Any:
    """A copy of ``value`` with secret-looking fields (tokens, passwords) blanked out."""
    if isinstance(value, Mapping):
        return {
            str(k): "[redacted]"
            if any(word in str(k).lower() for word in _SECRET_WORDS)
            else redact(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


def unique_addresses(values: Iterable[str]) -> tuple[str, ...]:
    """The people reached, each once (normalized), in the order first named."""
    return tuple(dict.fromkeys(a for a in (normalize_address(v) for v in values) if a))


class AuditFailed(Exception):
    """The audit trail could not record a step; nothing further may run."""


class GuardedTrail:
    """The audit trail as the policy's steps use it: any failure of the trail raises
    :class:`AuditFailed`, which stops the action."""

    def __init__(self, audit: AuditTrail) -> None:
        self._audit = audit

    def record(self, action_id: str, kind: str, data: Mapping[str, Any]) -> None:
        _guarded(self._audit.append, action_id, kind, data)

    def find_key(self, key: str, since: float) -> KeyState | None:
        return _guarded(self._audit.find_key, key, since)

    def count_executed(self, tool: str, since: float) -> int:
        return _guarded(self._audit.count_executed, tool, since)


def _guarded(method: Callable[..., _T], *args: Any) -> _T:
    """Call the audit trail; any failure of it stops the action."""
    try:
        return method(*args)
    except Exception as exc:
        raise AuditFailed(type(exc).__name__ + (f": {exc}" if str(exc) else "")) from exc
