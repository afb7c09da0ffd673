"""The action policy with a real tool registry, a real SQLite audit log and scripted confirmers
(the shared tools, specs, confirmers and rig are in tests/support/policy.py)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from app.core.types import ActionProposal, Decision, Risk, ToolCall, ToolResult
from app.safety.actions import idempotency_key
from app.safety.approval import NO_ONE_TO_ASK
from app.safety.policy import ActionPolicy
from app.settings.schema import PolicySettings
from tests.support.policy import ACTIONS, KNOWN, MAIL, Approve, Reject, Rig, build_registry


class Never:
    """Shows the dialog and never answers."""

    def __init__(self) -> None:
        self.asked: list[ActionProposal] = []
        self.shown = asyncio.Event()

    async def confirm(self, proposal: ActionProposal) -> Decision:
        self.asked.append(proposal)
        self.shown.set()
        await asyncio.get_running_loop().create_future()
        raise AssertionError("unreachable")


class Broken:
    async def confirm(self, proposal: ActionProposal) -> Decision:
        raise RuntimeError("the dialog crashed")


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    r = Rig(tmp_path / "audit.sqlite3")
    yield r
    r.audit.close()


def content(result: ToolResult) -> dict[str, Any]:
    value = json.loads(result.content)
    assert isinstance(value, dict)
    return value


async def test_reads_run_without_asking(rig: Rig) -> None:
    asker = Reject()
    policy = rig.policy(asker)
    listed = await policy.call(ToolCall("mail_list", {"query": "from:bob"}))
    clock = await policy.call(ToolCall("get_current_time", {}))
    assert listed.ok
    assert clock.ok
    assert asker.asked == []
    assert rig.handlers.of("mail_list") == [{"query": "from:bob"}]
    assert rig.chains() == [["proposed", "verdict", "started", "executed"]] * 2
    assert rig.last("verdict")["verdict"] == "auto"
    assert rig.last("executed")["result"] is None  # what a read returned is not kept


async def test_reversible_writes_run_without_asking(rig: Rig) -> None:
    asker = Reject()
    policy = rig.policy(asker)
    draft = await policy.call(ToolCall("mail_draft", MAIL))
    event = await policy.call(ToolCall("calendar_create_event", {"title": "Dentist"}))
    assert draft.ok
    assert event.ok
    assert asker.asked == []
    assert len(rig.handlers.ran) == 2


async def test_external_effects_ask_first_with_an_editable_preview(rig: Rig) -> None:
    asker = Approve()
    result = await rig.policy(asker).call(ToolCall("mail_send", MAIL))
    assert result.ok
    (proposal,) = asker.asked
    assert proposal.risk is Risk.EXTERNAL
    assert proposal.summary == "Send an email to bob@x.org: 'Lunch'"
    assert proposal.preview == MAIL
    assert len(rig.handlers.of("mail_send")) == 1
    assert rig.chains() == [["proposed", "verdict", "decision", "started", "executed"]]


async def test_tools_without_a_risk_class_are_denied_and_hidden(rig: Rig) -> None:
    policy = rig.policy(Approve())
    names = [s.name for s in policy.specs()]
    assert "mystery" not in names
    assert "mail_send" in names
    assert "get_current_time" in names
    held = await policy.call(ToolCall("mystery", {}))
    unknown = await policy.call(ToolCall("no_such_tool", {}))
    assert not held.ok
    assert "no risk class" in content(held)["not_done"]
    assert not unknown.ok
    assert "no tool named" in content(unknown)["error"]
    assert rig.handlers.ran == []
    assert rig.chains() == [["proposed", "verdict"]] * 2
    assert [r.data["verdict"] for r in rig.audit.rows() if r.kind == "verdict"] == ["deny"] * 2


async def test_per_tool_settings_override_the_defaults(rig: Rig) -> None:
    asker = Approve()
    tools = {"mail_list": "confirm", "mail_draft": "deny", "mystery": "auto", "mail_send": "auto"}
    policy = rig.policy(asker, tools=tools)
    assert "mail_draft" not in [s.name for s in policy.specs()]
    assert (await policy.call(ToolCall("mail_list", {}))).ok
    assert [p.tool for p in asker.asked] == ["mail_list"]
    draft = await policy.call(ToolCall("mail_draft", MAIL))
    assert "policy.tools.mail_draft = deny" in content(draft)["not_done"]
    assert (await policy.call(ToolCall("mystery", {}))).ok
    assert (await policy.call(ToolCall("mail_send", MAIL))).ok  # a known correspondent
    assert [p.tool for p in asker.asked] == ["mail_list"]
    assert [name for name, _ in rig.handlers.ran] == ["mail_list", "mystery", "mail_send"]


async def test_deny_wins_over_a_user_who_would_approve(rig: Rig) -> None:
    asker = Approve()
    result = await rig.policy(asker, tools={"mail_send": "deny"}).call(ToolCall("mail_send", MAIL))
    assert not result.ok
    assert "not_done" in content(result)
    assert asker.asked == []
    assert rig.handlers.ran == []


@pytest.mark.parametrize(
    ("tool", "args", "reason"),
    [
        (
            "mail_send",
            {**MAIL, "to": ["eve@evil.org"]},
            "not someone you have written to before: eve@evil.org",
        ),
        ("mail_send", {**MAIL, "to": list(KNOWN)}, "it reaches 6 people (more than 5)"),
        (
            "calendar_create_event",
            {"title": "Sync", "attendees": ["Bob <Bob@X.org>"]},
            "it involves other people: bob@x.org",
        ),
        ("calendar_delete_event", {"event_id": "e1"}, "it deletes something"),
    ],
)
async def test_thresholds_force_confirmation_even_under_auto(
    rig: Rig, tool: str, args: dict[str, Any], reason: str
) -> None:
    asker = Reject()
    result = await rig.policy(asker, tools={tool: "auto"}).call(ToolCall(tool, args))
    (proposal,) = asker.asked
    assert reason in proposal.reasons
    assert not result.ok
    assert "you did not approve it" in content(result)["not_done"]
    assert rig.handlers.ran == []
    assert rig.last("verdict")["verdict"] == "confirm"


async def test_without_an_address_book_every_recipient_is_unknown(rig: Rig) -> None:
    class Failing:
        async def is_known(self, address: str) -> bool:
            raise OSError("offline")

    for contacts in (None, Failing()):
        asker = Approve()
        policy = rig.policy(asker, tools={"mail_send": "auto"})
        policy._contacts = contacts  # the rig always passes a book
        assert (await policy.call(ToolCall("mail_send", {**MAIL, "subject": str(contacts)}))).ok
        assert len(asker.asked) == 1


async def test_the_approved_edits_are_what_runs_and_added_people_are_recorded(rig: Rig) -> None:
    edits = {"subject": "Lunch moved", "cc": ["Carol <carol@z.org>"], "body": "1pm", "x": 1}
    result = await rig.policy(Approve(edits)).call(ToolCall("mail_send", MAIL))
    assert result.ok
    (ran,) = rig.handlers.of("mail_send")
    assert ran["subject"] == "Lunch moved"
    assert ran["body"] == "1pm"
    assert ran["cc"] == ["Carol <carol@z.org>"]
    assert "x" not in ran
    decision = rig.last("decision")
    assert decision["approved"] is True
    assert decision["added_recipients"] == ["carol@z.org"]
    assert decision["ignored_edits"] == ["x"]
    assert rig.last("started")["arguments"]["subject"] == "Lunch moved"


async def test_no_confirmer_means_not_done_and_the_model_is_told(rig: Rig) -> None:
    policy = rig.policy(None)
    result = await policy.call(ToolCall("mail_send", MAIL))
    assert not result.ok
    assert content(result) == {"not_done": NO_ONE_TO_ASK}
    assert rig.handlers.ran == []
    assert rig.last("decision")["note"] == "no one to ask"
    policy.set_confirmer(Approve())
    assert (await policy.call(ToolCall("mail_send", MAIL))).ok


async def test_an_unanswered_confirmation_is_rejected(rig: Rig) -> None:
    asker = Never()
    result = await rig.policy(asker, confirm_timeout_s=0.01).call(ToolCall("mail_send", MAIL))
    assert len(asker.asked) == 1
    assert "no answer came in time" in content(result)["not_done"]
    assert rig.handlers.ran == []
    assert rig.last("decision") == {
        "tool": "mail_send",
        "approved": False,
        "note": "timed out",
        "edits": {},
    }


async def test_a_confirmer_that_fails_is_a_no(rig: Rig) -> None:
    result = await rig.policy(Broken()).call(ToolCall("mail_send", MAIL))
    assert not result.ok
    assert "could not be shown" in content(result)["not_done"]
    assert rig.handlers.ran == []


async def test_cancelling_while_asking_records_it_and_propagates(rig: Rig) -> None:
    asker = Never()
    task = asyncio.create_task(rig.policy(asker).call(ToolCall("mail_send", MAIL)))
    await asker.shown.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert rig.chains() == [["proposed", "verdict", "decision"]]
    assert rig.last("decision")["note"] == "cancelled"


async def test_rate_limits_hold_across_restarts_and_roll_off(rig: Rig) -> None:
    policy = rig.policy(rate_limits={"mail_draft": 2})
    for n in range(2):
        assert (await policy.call(ToolCall("mail_draft", {"subject": f"d{n}"}))).ok
    limited = await policy.call(ToolCall("mail_draft", {"subject": "d2"}))
    assert "at most 2 times an hour" in content(limited)["not_done"]
    assert rig.last("limited") == {"tool": "mail_draft", "limit": 2, "count": 2}
    rig.reopen()
    again = await rig.policy(rate_limits={"mail_draft": 2}).call(
        ToolCall("mail_draft", {"subject": "d3"})
    )
    assert not again.ok
    rig.clock.advance(3601)
    assert (
        await rig.policy(rate_limits={"mail_draft": 2}).call(
            ToolCall("mail_draft", {"subject": "d4"})
        )
    ).ok
    assert len(rig.handlers.of("mail_draft")) == 3


async def test_a_zero_rate_limit_blocks_the_tool(rig: Rig) -> None:
    result = await rig.policy(Approve(), rate_limits={"mail_send": 0}).call(
        ToolCall("mail_send", MAIL)
    )
    assert "policy.rate_limits.mail_send = 0" in content(result)["not_done"]
    assert rig.chains() == [["proposed", "verdict", "limited"]]


async def test_a_repeated_action_returns_the_earlier_result(rig: Rig) -> None:
    asker = Approve()
    policy = rig.policy(asker)
    first = await policy.call(ToolCall("mail_send", MAIL))
    second = await policy.call(ToolCall("mail_send", dict(MAIL)))
    assert first.ok
    assert second.ok
    assert len(rig.handlers.of("mail_send")) == 1
    assert len(asker.asked) == 1
    repeat = content(second)
    assert repeat["already_done"] is True
    assert repeat["result"] == json.loads(first.content)
    assert rig.chains()[1] == ["proposed", "verdict", "reused"]
    rig.clock.advance(24 * 3600 + 1)  # outside repeat_window_h: done again
    assert "already_done" not in content(await policy.call(ToolCall("mail_send", MAIL)))
    assert len(rig.handlers.of("mail_send")) == 2


async def test_the_key_is_taken_from_the_final_edited_arguments(rig: Rig) -> None:
    edited = {**MAIL, "subject": "Lunch moved"}
    await rig.policy(Approve({"subject": "Lunch moved"})).call(ToolCall("mail_send", MAIL))
    asker = Approve()
    direct = await rig.policy(asker).call(ToolCall("mail_send", edited))
    assert content(direct)["already_done"] is True
    assert asker.asked == []
    again = await rig.policy(Approve({"subject": "Lunch moved"})).call(ToolCall("mail_send", MAIL))
    assert content(again)["already_done"] is True
    assert rig.chains()[2] == ["proposed", "verdict", "decision", "reused"]
    assert len(rig.handlers.of("mail_send")) == 1


async def test_the_key_argument_is_filled_by_the_policy(rig: Rig) -> None:
    policy = rig.policy(Approve())
    await policy.call(ToolCall("mail_send", {**MAIL, "idempotency_key": "from-the-model"}))
    await policy.call(ToolCall("calendar_create_event", {"title": "Dentist"}))
    (sent,) = rig.handlers.of("mail_send")
    (event,) = rig.handlers.of("calendar_create_event")
    assert sent["idempotency_key"] == idempotency_key("mail_send", MAIL)
    assert event["request_id"] == idempotency_key("calendar_create_event", {"title": "Dentist"})
    assert rig.last("executed")["key"] == event["request_id"]


async def test_an_action_started_without_a_result_is_never_redone(rig: Rig) -> None:
    asker = Approve()
    policy = rig.policy(asker)
    rig.handlers.hold = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(policy.call(ToolCall("mail_send", MAIL)))
    await rig.handlers.started.wait()
    busy = await policy.call(ToolCall("mail_send", MAIL))
    assert "running right now" in content(busy)["not_done"]
    task.cancel()  # as if Hark died mid-send
    with pytest.raises(asyncio.CancelledError):
        await task
    rig.handlers.hold = None
    rig.reopen()
    retry = await rig.policy(asker).call(ToolCall("mail_send", MAIL))
    assert not retry.ok
    assert "may already have happened" in content(retry)["not_done"]
    assert rig.handlers.ran == []
    assert len(asker.asked) == 1  # neither repeat bothered the user
    assert rig.chains() == [
        ["proposed", "verdict", "decision", "started"],
        ["proposed", "verdict", "refused"],
        ["proposed", "verdict", "refused"],
    ]


async def test_a_failed_action_may_be_tried_again(rig: Rig) -> None:
    policy = rig.policy(Approve())
    rig.handlers.fail_next = True
    failed = await policy.call(ToolCall("mail_send", MAIL))
    assert not failed.ok
    assert "RuntimeError" in content(failed)["error"]
    assert (await policy.call(ToolCall("mail_send", MAIL))).ok
    assert [c[-1] for c in rig.chains()] == ["failed", "executed"]


async def test_nothing_runs_when_the_audit_log_cannot_be_written(rig: Rig) -> None:
    class Full:
        def append(self, action_id: str, kind: str, data: Mapping[str, Any]) -> None:
            raise OSError("disk full")

        def find_key(self, key: str, since: float) -> None:
            return None

        def count_executed(self, tool: str, since: float) -> int:
            return 0

    policy = ActionPolicy(
        build_registry(rig.handlers), ACTIONS, PolicySettings(), audit=Full(), confirmer=Approve()
    )
    for name in ("get_current_time", "mail_send"):
        result = await policy.call(ToolCall(name, MAIL if name == "mail_send" else {}))
        assert not result.ok
        assert "audit log could not be written" in content(result)["error"]
    assert rig.handlers.ran == []


async def test_secrets_never_reach_the_audit_log(rig: Rig) -> None:
    policy = rig.policy(tools={"mystery": "auto"})
    assert (await policy.call(ToolCall("mystery", {"api_token": "s3cret", "q": "x"}))).ok
    assert rig.handlers.of("mystery") == [{"api_token": "s3cret", "q": "x"}]
    stored = json.dumps([row.data for row in rig.audit.rows()])
    assert "s3cret" not in stored
    assert "[redacted]" in stored


async def test_a_malformed_answer_is_reported_and_nothing_runs(rig: Rig) -> None:
    class Sloppy:
        async def confirm(self, proposal: ActionProposal) -> Decision:
            return Decision(approved=True, edits=None)  # type: ignore[arg-type]

    result = await rig.policy(Sloppy()).call(ToolCall("mail_send", MAIL))
    assert not result.ok
    assert "the action policy failed" in content(result)["error"]
    assert rig.handlers.ran == []
