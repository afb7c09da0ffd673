"""The action policy: what a tool call may do on its own, what needs the user's yes, and what
never runs.

:class:`ActionPolicy` wraps the tool registry (it implements the same ``Tools`` port), so the
pipeline cannot reach a tool around it. For every call it:

1. records the proposal in the audit trail and decides a verdict (``auto``, ``confirm`` or
   ``deny``) from the user's per-tool setting or the tool's risk class, then forces ``confirm``
   where a threshold says so (a delete, a guest list, too many or unknown recipients);
2. refuses a call that repeats one already done (the earlier result comes back, marked as
   already done) or one that started but never recorded a result (it may have happened);
3. enforces per-tool hourly rate limits, counted from the audit trail so they survive restarts;
4. asks the :class:`~app.core.ports.Confirmer` with an editable preview; the approved, edited
   arguments are what runs, and no confirmer, a timeout or a failing confirmer mean "no";
5. runs the tool and records the outcome.

The core does no I/O: the audit trail and the address book come in as Protocols
(``app.safety.audit.AuditLog`` and a Gmail-backed contact check in the app).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from email.utils import parseaddr
from typing import Any, Literal, Protocol, TypeVar

from app.core.ports import Confirmer, Tools
from app.core.types import (
    ActionProposal,
    ActionReview,
    Decision,
    Risk,
    ToolCall,
    ToolResult,
    ToolSpec,
)
from app.settings.schema import PolicySettings, ToolMode
from app.shared.errors import HarkError

log = logging.getLogger(__name__)
_T = TypeVar("_T")

BUILTIN_READS = frozenset({"get_current_time"})
"""Built-in tools that only look, so they need no :class:`ActionSpec`."""
HOUR_S = 3600.0
NO_ONE_TO_ASK = "not done: needs your approval, and no one could be asked"
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


class _AuditFailed(Exception):
    """The audit trail could not record a step; nothing further may run."""


@dataclass(slots=True)
class _Assessment:
    risk: Risk | None
    summary: str
    recipients: tuple[str, ...] = ()
    reasons: list[str] = field(default_factory=list)


class ActionPolicy:
    """Wraps the tools so that nothing that matters runs without the user's say.

    ``call`` never raises for a refusal or a tool's failure: the model gets ``ok=False`` with
    ``{"not_done": ...}`` (the policy held it) or ``{"error": ...}`` (it failed) and tells the
    user. Only cancellation propagates; a call cancelled while its tool runs stays "started"
    in the audit trail, so a retry is refused rather than risking a double send.
    """

    def __init__(
        self,
        tools: Tools,
        actions: Mapping[str, ActionSpec],
        settings: PolicySettings,
        *,
        audit: AuditTrail,
        confirmer: Confirmer | None = None,
        contacts: KnownContacts | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._tools = tools
        self._actions = dict(actions)
        self._settings = settings
        self._audit = audit
        self._confirmer = confirmer
        self._contacts = contacts
        self._clock = clock
        self._in_flight: dict[str, int] = {}
        self._running_keys: set[str] = set()

    def set_confirmer(self, confirmer: Confirmer | None) -> None:
        """Attach or detach the one who answers (the GUI's dialog appears after start-up)."""
        self._confirmer = confirmer

    def specs(self) -> Sequence[ToolSpec]:
        """The tools the model may see: a denied tool is never offered."""
        return [
            s
            for s in self._tools.specs()
            if self._mode(s.name, self._base_risk(s.name))[0] != "deny"
        ]

    async def call(self, call: ToolCall) -> ToolResult:
        action_id = uuid.uuid4().hex
        try:
            return await self._run(action_id, call)
        except _AuditFailed as exc:
            log.error("audit trail failed (%s); %s not run", exc, call.name)
            return _error(
                call.name,
                "nothing was done: the audit log could not be written "
                f"({exc}); run `hark audit --verify` and check the disk",
            )
        except Exception as exc:  # a bug here must not end the turn; nothing has run yet
            log.exception("the action policy failed on %s", call.name)
            return _error(call.name, f"nothing was done: the action policy failed ({exc!r})")

    # -- the steps -----------------------------------------------------------------------

    async def _run(self, action_id: str, call: ToolCall) -> ToolResult:
        name = call.name
        spec = self._actions.get(name)
        args = dict(call.arguments)
        if spec is not None and spec.key_argument is not None:
            args.pop(spec.key_argument, None)  # the key is the policy's to set, not the model's
        registered = any(s.name == name for s in self._tools.specs())
        allowed = registered and self._mode(name, self._base_risk(name))[0] != "deny"
        if allowed and spec is not None and spec.prepare is not None:
            try:
                args = dict(await spec.prepare(args))
            except HarkError as exc:  # e.g. the message to answer does not exist
                return _error(name, exc.message)
        a = self._assess(name, spec, args)
        if not registered:
            mode: ToolMode = "deny"
            why = "no such tool"
        else:
            mode, why = self._mode(name, a.risk)
        if mode != "deny":
            await self._thresholds(spec, a)  # before any row: this may wait on the network
        verdict: ToolMode = "confirm" if mode == "auto" and a.reasons else mode
        self._record(
            action_id,
            "proposed",
            {"tool": name, "risk": a.risk, "summary": a.summary, "arguments": redact(args)},
        )
        self._record(
            action_id,
            "verdict",
            {"tool": name, "verdict": verdict, "why": why, "reasons": a.reasons},
        )
        if verdict == "deny":
            log.info("policy denied %s (%s)", name, why)
            if not registered:
                return _error(name, f"no tool named {name!r}")
            return replace(_not_done(name, _deny_message(name, why)), summary=a.summary)
        guarded = a.risk is not Risk.READ
        held = self._gate(action_id, name, _key(name, args) if guarded else None)
        if held is not None:
            return replace(held, summary=a.summary)
        final = args
        if verdict == "confirm":
            outcome = await self._ask(action_id, name, spec, args, a)
            if isinstance(outcome, ToolResult):
                return replace(outcome, summary=a.summary)
            final = outcome
        return await self._execute(action_id, name, spec, final, guarded)

    async def review(
        self, name: str, arguments: Mapping[str, Any], edits: Mapping[str, Any]
    ) -> ActionReview:
        """Judge a proposal again with the user's edits, as the call itself would be judged
        (summary, recipients, thresholds), so the confirmation shows what would run now."""
        spec = self._actions.get(name)
        editable = spec.editable if spec is not None else ()
        final = {**arguments, **{k: v for k, v in edits.items() if k in editable}}
        a = self._assess(name, spec, final)
        await self._thresholds(spec, a)
        return ActionReview(a.summary, tuple(a.reasons), a.risk or Risk.EXTERNAL)

    def _assess(self, name: str, spec: ActionSpec | None, args: Mapping[str, Any]) -> _Assessment:
        """Risk, a one-line summary and the people reached; thresholds come later."""
        a = _Assessment(risk=self._base_risk(name), summary=f"Run {name}")
        if spec is None:
            return a
        try:
            a.summary = spec.describe(args)
        except Exception:  # bad arguments from the model must not stop the policy
            log.warning("could not describe a %s call", name)
        if spec.recipients is not None:
            try:
                a.recipients = _unique(normalize_address(r) for r in spec.recipients(args))
            except Exception:
                log.warning("could not list the recipients of a %s call", name)
                a.reasons.append("could not tell whom this reaches")
                a.risk = spec.risk_with_recipients or spec.risk
        if a.recipients and spec.risk_with_recipients is not None:
            a.risk = spec.risk_with_recipients
        return a

    async def _thresholds(self, spec: ActionSpec | None, a: _Assessment) -> None:
        """Add the reasons that force a confirmation even when the tool is set to auto."""
        if spec is None:
            return
        if spec.deletes:
            a.reasons.append("it deletes something")
        if a.recipients and spec.risk_with_recipients is not None:
            a.reasons.append(f"it involves other people: {', '.join(a.recipients)}")
        limit = self._settings.max_recipients
        if len(a.recipients) > limit:
            a.reasons.append(f"it reaches {len(a.recipients)} people (more than {limit})")
        if self._settings.confirm_unknown_recipients and a.recipients:
            unknown = [r for r in a.recipients if not await self._is_known(r)]
            if unknown:
                a.reasons.append(f"not someone you have written to before: {', '.join(unknown)}")

    async def _is_known(self, address: str) -> bool:
        if self._contacts is None:
            return False
        try:
            return await self._contacts.is_known(address)
        except Exception:  # an unanswerable question counts as "unknown": ask the user
            log.warning("could not check past correspondents", exc_info=True)
            return False

    def _gate(self, action_id: str, name: str, key: str | None) -> ToolResult | None:
        """Repeat and rate checks; records and returns a result if the call must not run."""
        now = self._clock()
        if key is not None and self._settings.repeat_window_h > 0:
            if key in self._running_keys:
                self._record(action_id, "refused", {"tool": name, "key": key, "why": "running"})
                return _not_done(name, "not done: the same action is running right now")
            state = self._trail(
                self._audit.find_key, key, now - self._settings.repeat_window_h * HOUR_S
            )
            if state is not None and state.kind == "executed":
                self._record(
                    action_id,
                    "reused",
                    {"tool": name, "key": key, "of": state.action_id, "done_at": state.at},
                )
                log.info("%s repeats an action done before; not done again", name)
                return _already_done(name, state)
            if state is not None and state.kind == "started":
                self._record(
                    action_id,
                    "refused",
                    {"tool": name, "key": key, "of": state.action_id, "why": "maybe done"},
                )
                return _not_done(
                    name,
                    f"not done: the same action was started at {_clock_text(state.at)} but its "
                    "result was never recorded, so it may already have happened; check before "
                    "asking for it again (an identical request stays held for "
                    f"{self._settings.repeat_window_h:g} hours)",
                )
        limit = self._settings.rate_limits.get(name)
        if limit is not None:
            count = self._trail(self._audit.count_executed, name, now - HOUR_S)
            count += self._in_flight.get(name, 0)
            if count >= limit:
                self._record(action_id, "limited", {"tool": name, "limit": limit, "count": count})
                log.info("%s hit its rate limit (%d per hour)", name, limit)
                return _not_done(name, _limit_message(name, limit))
        return None

    async def _ask(
        self,
        action_id: str,
        name: str,
        spec: ActionSpec | None,
        args: dict[str, Any],
        a: _Assessment,
    ) -> ToolResult | dict[str, Any]:
        """Ask the user; returns the final arguments, or the result that ends the call."""
        editable = spec.editable if spec is not None else ()
        proposal = ActionProposal(
            id=action_id,
            tool=name,
            arguments=dict(args),
            risk=a.risk or Risk.EXTERNAL,
            summary=a.summary,
            preview={k: args[k] for k in editable if k in args},
            reasons=tuple(a.reasons),
            review=lambda edits: self.review(name, args, edits),
        )
        decision = await self._decide(action_id, name, proposal)
        if not decision.approved:
            self._record(
                action_id,
                "decision",
                {"tool": name, "approved": False, "note": decision.note, "edits": {}},
            )
            return _not_done(name, _rejected_message(decision.note))
        edits = {k: v for k, v in decision.edits.items() if k in editable}
        ignored = sorted(k for k in decision.edits if k not in editable)
        final = {**args, **edits}
        added: list[str] = []
        if edits and spec is not None and spec.recipients is not None:
            try:
                before = set(a.recipients)
                added = [
                    r
                    for r in _unique(normalize_address(x) for x in spec.recipients(final))
                    if r not in before
                ]
            except Exception:
                log.warning("could not list the recipients of an edited %s call", name)
        self._record(
            action_id,
            "decision",
            {
                "tool": name,
                "approved": True,
                "note": decision.note,
                "edits": redact(edits),
                "ignored_edits": ignored,
                "added_recipients": added,
            },
        )
        if added:
            log.info("the user's edits add %d recipient(s) to %s", len(added), name)
        return final

    async def _decide(self, action_id: str, name: str, proposal: ActionProposal) -> Decision:
        confirmer = self._confirmer
        if confirmer is None:
            return Decision(approved=False, note="no one to ask")
        try:
            decision: object = await asyncio.wait_for(
                confirmer.confirm(proposal), self._settings.confirm_timeout_s
            )
        except TimeoutError:
            return Decision(approved=False, note="timed out")
        except asyncio.CancelledError:
            with contextlib.suppress(_AuditFailed):
                self._record(
                    action_id,
                    "decision",
                    {"tool": name, "approved": False, "note": "cancelled", "edits": {}},
                )
            raise
        except Exception:  # a broken dialog is a "no", never a "yes"
            log.exception("the confirmation for %s failed", name)
            return Decision(approved=False, note="the confirmation failed")
        if not isinstance(decision, Decision):
            log.error("the confirmer answered %r, not a Decision", type(decision).__name__)
            return Decision(approved=False, note="the confirmation failed")
        return decision

    async def _execute(
        self,
        action_id: str,
        name: str,
        spec: ActionSpec | None,
        final: dict[str, Any],
        guarded: bool,
    ) -> ToolResult:
        key = _key(name, final) if guarded else None
        held = self._gate(action_id, name, key)  # again: time passed, arguments may be edited
        summary = self._assess(name, spec, final).summary
        if held is not None:
            return replace(held, summary=summary)
        run_args = dict(final)
        if key is not None and spec is not None and spec.key_argument is not None:
            run_args[spec.key_argument] = key
        self._record(
            action_id, "started", {"tool": name, "key": key, "arguments": redact(run_args)}
        )
        self._in_flight[name] = self._in_flight.get(name, 0) + 1
        if key is not None:
            self._running_keys.add(key)
        try:
            result = await self._tools.call(ToolCall(name, run_args))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the Tools port should not raise; if it does, say so
            log.exception("tool %s raised through the registry", name)
            result = _error(name, f"the tool failed ({type(exc).__name__})")
        finally:
            self._in_flight[name] -= 1
            if key is not None:
                self._running_keys.discard(key)
        result = replace(result, ran=dict(final), summary=summary)
        data: dict[str, Any] = {"tool": name, "key": key, "ok": result.ok}
        if result.ok:
            # results of reads can be long and hold others' mail: keep only their size
            data["result"] = result.content if guarded else None
            data["chars"] = len(result.content)
        else:
            data["error"] = result.content
        try:
            self._record(action_id, "executed" if result.ok else "failed", data)
        except _AuditFailed as exc:  # it ran: the model must still hear the result
            log.error("audit trail failed after %s ran (%s)", name, exc)
        return result

    # -- helpers -------------------------------------------------------------------------

    def _base_risk(self, name: str) -> Risk | None:
        spec = self._actions.get(name)
        if spec is not None:
            return spec.risk
        return Risk.READ if name in BUILTIN_READS else None

    def _mode(self, name: str, risk: Risk | None) -> tuple[ToolMode, str]:
        chosen = self._settings.tools.get(name)
        if chosen is not None:
            return chosen, "your setting"
        if risk is None:
            return "deny", "unknown tool"
        return ("confirm" if risk is Risk.EXTERNAL else "auto"), f"default for {risk} tools"

    def _record(self, action_id: str, kind: str, data: Mapping[str, Any]) -> None:
        self._trail(self._audit.append, action_id, kind, data)

    def _trail(self, method: Callable[..., _T], *args: Any) -> _T:
        """Call the audit trail; any failure of it stops the action."""
        try:
            return method(*args)
        except Exception as exc:
            raise _AuditFailed(type(exc).__name__ + (f": {exc}" if str(exc) else "")) from exc


def _key(name: str, args: Mapping[str, Any]) -> str:
    return idempotency_key(name, args)


def _unique(items: Any) -> tuple[str, ...]:
    return tuple(dict.fromkeys(i for i in items if i))


def _clock_text(at: float) -> str:
    return datetime.fromtimestamp(at).astimezone().strftime("%Y-%m-%d %H:%M")


def _error(name: str, message: str) -> ToolResult:
    return ToolResult(name=name, ok=False, content=json.dumps({"error": message}))


def _not_done(name: str, message: str) -> ToolResult:
    return ToolResult(name=name, ok=False, content=json.dumps({"not_done": message}))


def _already_done(name: str, state: KeyState) -> ToolResult:
    earlier: Any = state.result
    if state.result is not None:
        try:
            earlier = json.loads(state.result)
        except ValueError:
            earlier = state.result
    content = {
        "already_done": True,
        "done_at": _clock_text(state.at),
        "result": earlier,
        "note": "this exact action was already done, so it was not done again",
    }
    return ToolResult(name=name, ok=True, content=json.dumps(content))


def _deny_message(name: str, why: str) -> str:
    if why == "unknown tool":
        return (
            f"not done: {name} has no risk class, so it is off; set policy.tools.{name} to allow it"
        )
    return f"not done: {name} is switched off in the settings (policy.tools.{name} = deny)"


def _limit_message(name: str, limit: int) -> str:
    if limit == 0:
        return f"not done: {name} is blocked by the settings (policy.rate_limits.{name} = 0)"
    return (
        f"not done: {name} may run at most {limit} times an hour and that many already ran in "
        f"the last hour; try again later, or raise policy.rate_limits.{name}"
    )


def _rejected_message(note: str) -> str:
    if note == "no one to ask":
        return NO_ONE_TO_ASK
    if note == "timed out":
        return "not done: it needed your approval and no answer came in time"
    if note == "the confirmation failed":
        return "not done: it needed your approval and the confirmation could not be shown"
    return "not done: you did not approve it" + (f" ({note})" if note else "")
