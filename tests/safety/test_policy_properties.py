"""Properties of the action policy over random sequences of calls and answers (Hypothesis).

Each example runs the real policy over a real registry and a real SQLite audit log, then checks
what happened against rules that do not trust the policy's own bookkeeping: the handlers' own
record of what ran, the settings, and the scripted user's answers.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
import tempfile
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.core.types import ActionProposal, Decision, ToolCall
from app.safety.actions import canonical_json, normalize_address
from app.safety.audit import AuditLog
from app.safety.gate import HOUR_S
from app.safety.policy import ActionPolicy
from app.settings.schema import PolicySettings
from tests.support.clocks import ManualClock
from tests.support.policy import ACTIONS, NOW, Contacts, Handlers, build_registry

KNOWN = ("bob@x.org", "amy@x.org", "cy@x.org")
STRANGERS = ("eve@evil.org", "mallory@evil.org")
PEOPLE = st.lists(st.sampled_from(KNOWN + STRANGERS), min_size=1, max_size=4)
EXTERNAL_TOOLS = ("mail_send", "calendar_delete_event")
KEY_ARGS = ("idempotency_key", "request_id")
CHAIN = re.compile(
    r"proposed,verdict(,decision)?(,(started,(executed|failed)|reused|limited|refused))?"
)
EXAMPLES = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def calls() -> st.SearchStrategy[ToolCall]:
    subject = st.sampled_from(["Lunch", "Plan", "Hi"])
    return st.one_of(
        st.builds(lambda q: ToolCall("mail_list", {"query": q}), st.sampled_from(["a", "b"])),
        st.builds(lambda s: ToolCall("mail_draft", {"subject": s}), subject),
        st.builds(
            lambda to, s: ToolCall("mail_send", {"to": to, "subject": s, "body": "x"}),
            PEOPLE,
            subject,
        ),
        st.builds(
            lambda t, guests: ToolCall(
                "calendar_create_event", {"title": t, **({"attendees": guests} if guests else {})}
            ),
            subject,
            st.one_of(st.just([]), PEOPLE),
        ),
        st.builds(
            lambda e: ToolCall("calendar_delete_event", {"event_id": e}),
            st.sampled_from(["e1", "e2"]),
        ),
        st.just(ToolCall("get_current_time", {})),
        st.just(ToolCall("mystery", {})),
    )


ANSWERS = st.sampled_from(["approve", "edit", "add-person", "reject", "never", "crash"])


@dataclass
class Script:
    """The scripted user: answers as told and keeps the final arguments it approved."""

    answer: str = "approve"
    approved: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    asked: int = 0

    async def confirm(self, proposal: ActionProposal) -> Decision:
        self.asked += 1
        if self.answer == "never":
            await asyncio.get_running_loop().create_future()
        if self.answer == "crash":
            raise RuntimeError("dialog crashed")
        if self.answer == "reject":
            return Decision(approved=False, note="rejected")
        edits: dict[str, Any] = {}
        if self.answer == "edit":
            edits = {"subject": "edited", "title": "edited"}
        elif self.answer == "add-person":
            edits = {"cc": ["new@z.org"], "attendees": ["new@z.org"]}
        spec = ACTIONS[proposal.tool]
        final = {**proposal.arguments, **{k: v for k, v in edits.items() if k in spec.editable}}
        self.approved.append((proposal.tool, final))
        return Decision(approved=True, edits=edits)


@dataclass(frozen=True)
class Step:
    call: ToolCall
    answer: str
    advance_s: float


steps = st.lists(
    st.builds(Step, calls(), ANSWERS, st.sampled_from([0.0, 60.0, 1800.0, 3700.0])),
    min_size=1,
    max_size=12,
)
modes = st.dictionaries(
    st.sampled_from([*ACTIONS, "mystery"]), st.sampled_from(["auto", "confirm", "deny"])
)
limits = st.dictionaries(st.sampled_from(list(ACTIONS)), st.integers(0, 3))


def without_key(args: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in args.items() if k not in KEY_ARGS}


def may_run_unasked(tool: str, args: Mapping[str, Any], max_recipients: int) -> bool:
    """The rule for an external action under an explicit ``auto``, computed independently."""
    if tool == "calendar_delete_event" or args.get("attendees"):
        return False
    people = {normalize_address(p) for p in [*args.get("to", []), *args.get("cc", [])]}
    return len(people) <= max_recipients and people <= set(KNOWN)


async def play(path: Path, plan: list[Step], policy_settings: PolicySettings) -> None:
    clock = ManualClock(NOW)
    handlers = Handlers()
    user = Script()
    with AuditLog(path, clock=clock) as audit:
        policy = ActionPolicy(
            build_registry(handlers),
            ACTIONS,
            policy_settings,
            audit=audit,
            confirmer=user,
            contacts=Contacts(*KNOWN),
            clock=clock,
        )
        for step in plan:
            clock.advance(step.advance_s)
            user.answer = step.answer
            await policy.call(step.call)
        rows = audit.rows()
        assert audit.verify().ok
    ran = [(tool, without_key(args)) for tool, args in handlers.ran]
    by_action: dict[str, list[Any]] = defaultdict(list)
    for row in rows:
        by_action[row.action_id].append(row)

    # every call left exactly one well-formed chain of rows
    assert len(by_action) == len(plan)
    for chain in by_action.values():
        kinds = [r.kind for r in chain]
        assert CHAIN.fullmatch(",".join(kinds)), kinds
        verdict = chain[1].data["verdict"]
        decision = next((r.data for r in chain if r.kind == "decision"), None)
        assert (decision is not None) <= (verdict == "confirm")
        if kinds[-1] == "verdict":
            assert verdict == "deny"
        if kinds[-1] == "decision":
            assert decision is not None
            assert decision["approved"] is False
        if verdict == "deny":
            assert kinds == ["proposed", "verdict"]

    # what ran is what the audit log says ran, and nothing external ran without a yes
    executed = [r for r in rows if r.kind == "executed"]
    started = {r.action_id: r.data["arguments"] for r in rows if r.kind == "started"}
    assert sorted(canonical_json([tool, args]) for tool, args in ran) == sorted(
        canonical_json([r.tool, without_key(started[r.action_id])])
        for r in executed
        if r.tool != "get_current_time"  # the built-in clock is not one of the recorded handlers
    )
    for tool, args in ran:
        external = tool in EXTERNAL_TOOLS or bool(args.get("attendees"))
        if not external:
            continue
        approved = (tool, args) in user.approved
        auto = policy_settings.tools.get(tool) == "auto" and may_run_unasked(
            tool, args, policy_settings.max_recipients
        )
        assert approved or auto, (tool, args)
    for tool, mode in policy_settings.tools.items():
        if mode == "deny":
            assert all(t != tool for t, _ in ran)

    # no tool ran more often in any hour than its limit allows
    for tool, limit in policy_settings.rate_limits.items():
        times = [r.at for r in executed if r.tool == tool]
        for t in times:
            assert sum(1 for u in times if t - HOUR_S <= u <= t) <= limit, (tool, times)

    # the same final arguments never ran twice within the repeat window
    first_run: dict[str, float] = {}
    for r in executed:
        key = r.data["key"]
        if key is None:
            continue
        if key in first_run:
            assert r.at - first_run[key] > policy_settings.repeat_window_h * HOUR_S
        first_run[key] = r.at


@EXAMPLES
@given(plan=steps, tools=modes, rate_limits=limits, max_recipients=st.integers(1, 4))
def test_random_sessions_keep_every_promise(
    plan: list[Step], tools: dict[str, Any], rate_limits: dict[str, int], max_recipients: int
) -> None:
    policy_settings = PolicySettings(
        tools=tools,
        rate_limits=rate_limits,
        max_recipients=max_recipients,
        confirm_timeout_s=0.005,
        repeat_window_h=2.0,
    )
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(play(Path(tmp) / "audit.sqlite3", plan, policy_settings))


@EXAMPLES
@given(
    data=st.lists(
        st.dictionaries(st.sampled_from(["tool", "summary", "n"]), st.text(max_size=8)),
        min_size=1,
        max_size=15,
    ),
    target=st.integers(min_value=0),
    column=st.sampled_from(["data", "at", "kind", "action_id", "tool", "delete"]),
)
def test_verify_catches_any_edited_or_deleted_row(
    data: list[dict[str, str]], target: int, column: str
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "audit.sqlite3"
        with AuditLog(path) as audit:
            for i, item in enumerate(data):
                audit.append(f"a{i}", "proposed", item)
            assert audit.verify().ok
            seq = target % len(data) + 1
            conn = sqlite3.connect(path)
            conn.executescript("DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete;")
            if column == "delete":
                conn.execute("DELETE FROM audit WHERE seq = ?", (seq,))
            elif column == "at":
                conn.execute("UPDATE audit SET at = at + 0.5 WHERE seq = ?", (seq,))
            elif column == "data":  # still valid JSON: the key index refuses anything else
                conn.execute(
                    "UPDATE audit SET data = json_set(data, '$.tampered', 1) WHERE seq = ?", (seq,)
                )
            else:
                conn.execute(
                    f"UPDATE audit SET {column} = coalesce({column}, '') || 'x' WHERE seq = ?",
                    (seq,),
                )
            conn.commit()
            conn.close()
            result = audit.verify()
            assert not result.ok
            assert result.first_bad_seq == seq
