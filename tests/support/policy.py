"""The action policy's test world, shared by the policy, audit and turn-scope tests: real
registry handlers that remember what ran, the tools' action specs, scripted confirmers, an
address book, and :class:`Rig` (handlers, a settable clock and a real audit log on disk)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from app.core.ports import Confirmer
from app.core.tools import ToolRegistry, register_builtin_tools
from app.core.types import ActionProposal, Decision, Risk, ToolSpec
from app.safety.actions import ActionSpec
from app.safety.audit import AuditLog
from app.safety.policy import ActionPolicy
from app.settings.schema import PolicySettings
from tests.support.clocks import ManualClock

NOW = 1_800_000_000.0
"""The wall-clock second the policy tests start at (15 January 2027)."""


def _people(args: Mapping[str, Any], *names: str) -> Sequence[str]:
    found: list[str] = []
    for name in names:
        value = args.get(name) or []
        found.extend([value] if isinstance(value, str) else value)
    return found


ACTIONS: dict[str, ActionSpec] = {
    "mail_list": ActionSpec(Risk.READ, lambda a: f"List mail matching {a.get('query', '')!r}"),
    "mail_draft": ActionSpec(
        Risk.WRITE,
        lambda a: f"Draft an email: {a.get('subject', '')!r}",
        editable=("to", "subject", "body"),
    ),
    "mail_send": ActionSpec(
        Risk.EXTERNAL,
        lambda a: f"Send an email to {', '.join(a['to'])}: {a['subject']!r}",
        editable=("to", "cc", "subject", "body"),
        recipients=lambda a: _people(a, "to", "cc"),
        key_argument="idempotency_key",
    ),
    "calendar_create_event": ActionSpec(
        Risk.WRITE,
        lambda a: f"Create the event {a.get('title', '')!r}",
        editable=("title", "start", "attendees"),
        recipients=lambda a: _people(a, "attendees"),
        risk_with_recipients=Risk.EXTERNAL,
        key_argument="request_id",
    ),
    "calendar_delete_event": ActionSpec(
        Risk.EXTERNAL, lambda a: f"Delete the event {a.get('event_id')}", deletes=True
    ),
}


class Handlers:
    """Real registry handlers that remember every call they ran."""

    def __init__(self) -> None:
        self.ran: list[tuple[str, dict[str, Any]]] = []
        self.started = asyncio.Event()
        self.hold: asyncio.Future[None] | None = None
        self.fail_next = False

    def of(self, tool: str) -> list[dict[str, Any]]:
        return [args for name, args in self.ran if name == tool]

    def make(self, tool: str) -> Any:
        async def handler(args: Mapping[str, Any]) -> dict[str, Any]:
            self.started.set()
            if self.hold is not None:
                await self.hold
            if self.fail_next:
                self.fail_next = False
                raise RuntimeError("boom")
            self.ran.append((tool, dict(args)))
            return {"tool": tool, "n": len(self.ran)}

        return handler


def build_registry(handlers: Handlers, *, extra: Sequence[str] = ("mystery",)) -> ToolRegistry:
    """A real registry with the clock, the tools above, and tools the policy knows nothing of."""
    registry = ToolRegistry()
    register_builtin_tools(registry)
    for name in [*ACTIONS, *extra]:
        registry.register(ToolSpec(name, f"the {name} tool"), handlers.make(name))
    return registry


class Approve:
    """Says yes (with optional edits) and remembers what it was shown."""

    def __init__(self, edits: Mapping[str, Any] | None = None) -> None:
        self.edits = dict(edits or {})
        self.asked: list[ActionProposal] = []

    async def confirm(self, proposal: ActionProposal) -> Decision:
        self.asked.append(proposal)
        return Decision(approved=True, edits=self.edits)


class Reject:
    def __init__(self) -> None:
        self.asked: list[ActionProposal] = []

    async def confirm(self, proposal: ActionProposal) -> Decision:
        self.asked.append(proposal)
        return Decision(approved=False, note="rejected")


class Contacts:
    """A fixed address book of past correspondents."""

    def __init__(self, *known: str) -> None:
        self.known = {k.lower() for k in known}
        self.asked: list[str] = []

    async def is_known(self, address: str) -> bool:
        self.asked.append(address)
        return address in self.known


KNOWN = ("bob@x.org", "amy@x.org", "cy@x.org", "dee@x.org", "ed@x.org", "flo@x.org")


MAIL = {"to": ["bob@x.org"], "subject": "Lunch", "body": "Noon at the usual place?"}


class Rig:
    """One test's world: handlers, a settable clock and a real audit log on disk."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.clock = ManualClock(NOW)
        self.handlers = Handlers()
        self.audit = AuditLog(path, clock=self.clock)

    def policy(
        self,
        confirmer: Confirmer | None = None,
        contacts: Contacts | None = None,
        **settings: Any,
    ) -> ActionPolicy:
        return ActionPolicy(
            build_registry(self.handlers),
            ACTIONS,
            PolicySettings(**settings),
            audit=self.audit,
            confirmer=confirmer,
            contacts=contacts if contacts is not None else Contacts(*KNOWN),
            clock=self.clock,
        )

    def reopen(self) -> None:
        self.audit.close()
        self.audit = AuditLog(self.path, clock=self.clock)

    def chains(self) -> list[list[str]]:
        return [[row.kind for row in rows] for rows in self.audit.actions()]

    def last(self, kind: str) -> dict[str, Any]:
        return [row.data for row in self.audit.rows() if row.kind == kind][-1]
