"""The action policy: what a tool call may do on its own, what needs the user's yes, and what
never runs.

:class:`ActionPolicy` wraps the tool registry (it implements the same ``Tools`` port), so the
pipeline cannot reach a tool around it. For every call it:

1. records the proposal in the audit trail and decides a verdict (``auto``, ``confirm`` or
   ``deny``) from the user's per-tool setting or the tool's risk class, then forces ``confirm``
   where a threshold says so (a delete, a guest list, too many or unknown recipients);
2. refuses a call that repeats one already done (the earlier result comes back, marked as
   already done) or one that started but never recorded a result (it may have happened);
3. enforces per-tool hourly rate limits, counted from the audit trail so they survive restarts
   (steps 2 and 3: :mod:`app.safety.gate`);
4. asks the :class:`~app.core.ports.Confirmer` with an editable preview; the approved, edited
   arguments are what runs, and no confirmer, a timeout or a failing confirmer mean "no"
   (:mod:`app.safety.approval`);
5. runs the tool and records the outcome.

The core does no I/O: the audit trail and the address book come in as Protocols
(``app.safety.audit.AuditLog`` and a Gmail-backed contact check in the app).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from app.core.ports import Confirmer, Tools
from app.core.types import ActionReview, Risk, ToolCall, ToolResult, ToolSpec
from app.safety import approval
from app.safety.actions import (
    ActionSpec,
    AuditFailed,
    AuditTrail,
    GuardedTrail,
    KnownContacts,
    idempotency_key,
    redact,
    unique_addresses,
)
from app.safety.gate import Gate
from app.safety.verdicts import Assessment, error_result, not_done
from app.settings.schema import PolicySettings, ToolMode
from app.shared.errors import HarkError

log = logging.getLogger(__name__)

BUILTIN_READS = frozenset({"get_current_time"})
"""Built-in tools that only look, so they need no :class:`ActionSpec`."""


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
        self._trail = GuardedTrail(audit)
        self._gate = Gate(settings, self._trail, clock)
        self._confirmer = confirmer
        self._contacts = contacts

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
        except AuditFailed as exc:
            log.error("audit trail failed (%s); %s not run", exc, call.name)
            return error_result(
                call.name,
                "nothing was done: the audit log could not be written "
                f"({exc}); run `hark audit --verify` and check the disk",
            )
        except Exception as exc:  # a bug here must not end the turn; nothing has run yet
            log.exception("the action policy failed on %s", call.name)
            return error_result(call.name, f"nothing was done: the action policy failed ({exc!r})")

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
                return error_result(name, exc.message)
        a = self._assess(name, spec, args)
        if not registered:
            mode: ToolMode = "deny"
            why = "no such tool"
        else:
            mode, why = self._mode(name, a.risk)
        if mode != "deny":
            await self._thresholds(spec, a)  # before any row: this may wait on the network
        verdict: ToolMode = "confirm" if mode == "auto" and a.reasons else mode
        self._trail.record(
            action_id,
            "proposed",
            {"tool": name, "risk": a.risk, "summary": a.summary, "arguments": redact(args)},
        )
        self._trail.record(
            action_id,
            "verdict",
            {"tool": name, "verdict": verdict, "why": why, "reasons": a.reasons},
        )
        if verdict == "deny":
            log.info("policy denied %s (%s)", name, why)
            if not registered:
                return error_result(name, f"no tool named {name!r}")
            return replace(not_done(name, _deny_message(name, why)), summary=a.summary)
        guarded = a.risk is not Risk.READ
        held = self._gate.check(action_id, name, _key(name, args) if guarded else None)
        if held is not None:
            return replace(held, summary=a.summary)
        final = args
        if verdict == "confirm":
            outcome = await approval.ask(
                action_id,
                name,
                spec,
                args,
                a,
                confirmer=self._confirmer,
                timeout_s=self._settings.confirm_timeout_s,
                trail=self._trail,
                review=lambda edits: self.review(name, args, edits),
            )
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

    def _assess(self, name: str, spec: ActionSpec | None, args: Mapping[str, Any]) -> Assessment:
        """Risk, a one-line summary and the people reached; thresholds come later."""
        a = Assessment(risk=self._base_risk(name), summary=f"Run {name}")
        if spec is None:
            return a
        try:
            a.summary = spec.describe(args)
        except Exception:  # bad arguments from the model must not stop the policy
            log.warning("could not describe a %s call", name)
        if spec.recipients is not None:
            try:
                a.recipients = unique_addresses(spec.recipients(args))
            except Exception:
                log.warning("could not list the recipients of a %s call", name)
                a.reasons.append("could not tell whom this reaches")
                a.risk = spec.risk_with_recipients or spec.risk
        if a.recipients and spec.risk_with_recipients is not None:
            a.risk = spec.risk_with_recipients
        return a

    async def _thresholds(self, spec: ActionSpec | None, a: Assessment) -> None:
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

    async def _execute(
        self,
        action_id: str,
        name: str,
        spec: ActionSpec | None,
        final: dict[str, Any],
        guarded: bool,
    ) -> ToolResult:
        key = _key(name, final) if guarded else None
        held = self._gate.check(action_id, name, key)  # again: time passed, arguments may be edited
        summary = self._assess(name, spec, final).summary
        if held is not None:
            return replace(held, summary=summary)
        run_args = dict(final)
        if key is not None and spec is not None and spec.key_argument is not None:
            run_args[spec.key_argument] = key
        self._trail.record(
            action_id, "started", {"tool": name, "key": key, "arguments": redact(run_args)}
        )
        with self._gate.running(name, key):
            try:
                result = await self._tools.call(ToolCall(name, run_args))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the Tools port should not raise; if it does, say so
                log.exception("tool %s raised through the registry", name)
                result = error_result(name, f"the tool failed ({type(exc).__name__})")
        result = replace(result, ran=dict(final), summary=summary)
        data: dict[str, Any] = {"tool": name, "key": key, "ok": result.ok}
        if result.ok:
            # results of reads can be long and hold others' mail: keep only their size
            data["result"] = result.content if guarded else None
            data["chars"] = len(result.content)
        else:
            data["error"] = result.content
        try:
            self._trail.record(action_id, "executed" if result.ok else "failed", data)
        except AuditFailed as exc:  # it ran: the model must still hear the result
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


def _key(name: str, args: Mapping[str, Any]) -> str:
    return idempotency_key(name, args)


def _deny_message(name: str, why: str) -> str:
    if why == "unknown tool":
        return (
            f"not done: {name} has no risk class, so it is off; set policy.tools.{name} to allow it"
        )
    return f"not done: {name} is switched off in the settings (policy.tools.{name} = deny)"
