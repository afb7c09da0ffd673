"""Asking the user about one call: the proposal with its editable preview, the confirmer's
answer (no confirmer, a timeout or a failing confirmer mean "no"), and the arguments that the
user approved, edits included, which are what runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from app.core.ports import Confirmer
from app.core.types import ActionProposal, ActionReview, Decision, Risk, ToolResult
from app.safety.actions import ActionSpec, AuditFailed, GuardedTrail, redact, unique_addresses
from app.safety.verdicts import Assessment, not_done

log = logging.getLogger(__name__)

NO_ONE_TO_ASK = "not done: needs your approval, and no one could be asked"


async def ask(
    action_id: str,
    name: str,
    spec: ActionSpec | None,
    args: dict[str, Any],
    a: Assessment,
    *,
    confirmer: Confirmer | None,
    timeout_s: float,
    trail: GuardedTrail,
    review: Callable[[Mapping[str, Any]], Awaitable[ActionReview]],
) -> ToolResult | dict[str, Any]:
    """Ask the user; returns the final arguments, or the result that ends the call.

    ``review`` judges the proposal again with the user's edits (the confirmation shows what
    would run then); every answer is recorded as a ``decision`` in ``trail``."""
    editable = spec.editable if spec is not None else ()
    proposal = ActionProposal(
        id=action_id,
        tool=name,
        arguments=dict(args),
        risk=a.risk or Risk.EXTERNAL,
        summary=a.summary,
        preview={k: args[k] for k in editable if k in args},
        reasons=tuple(a.reasons),
        review=review,
    )
    decision = await _decide(action_id, name, proposal, confirmer, timeout_s, trail)
    if not decision.approved:
        trail.record(
            action_id,
            "decision",
            {"tool": name, "approved": False, "note": decision.note, "edits": {}},
        )
        return not_done(name, _rejected_message(decision.note))
    edits = {k: v for k, v in decision.edits.items() if k in editable}
    ignored = sorted(k for k in decision.edits if k not in editable)
    final = {**args, **edits}
    added: list[str] = []
    if edits and spec is not None and spec.recipients is not None:
        try:
            before = set(a.recipients)
            added = [r for r in unique_addresses(spec.recipients(final)) if r not in before]
        except Exception:
            log.warning("could not list the recipients of an edited %s call", name)
    trail.record(
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


async def _decide(
    action_id: str,
    name: str,
    proposal: ActionProposal,
    confirmer: Confirmer | None,
    timeout_s: float,
    trail: GuardedTrail,
) -> Decision:
    if confirmer is None:
        return Decision(approved=False, note="no one to ask")
    try:
        decision: object = await asyncio.wait_for(confirmer.confirm(proposal), timeout_s)
    except TimeoutError:
        return Decision(approved=False, note="timed out")
    except asyncio.CancelledError:
        with contextlib.suppress(AuditFailed):
            trail.record(
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


def _rejected_message(note: str) -> str:
    if note == "no one to ask":
        return NO_ONE_TO_ASK
    if note == "timed out":
        return "not done: it needed your approval and no answer came in time"
    if note == "the confirmation failed":
        return "not done: it needed your approval and the confirmation could not be shown"
    return "not done: you did not approve it" + (f" ({note})" if note else "")
