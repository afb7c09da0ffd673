"""What a turn shows and may do: the request as the user sees it, a turn's own tool list,
what really ran after the user's edits, and an edited proposal judged again by the policy."""

from __future__ import annotations

import json
from pathlib import Path

from app.core.conversation import Conversation
from app.core.events import ToolCallFinished, TurnFinished, TurnStarted
from app.core.pipeline import VoicePipeline
from app.core.types import ChatDelta, Risk, ToolCall
from tests.core.scripted import MemorySink, Recorder, ScriptedChat, ScriptedVoice
from tests.support.policy import MAIL, Approve, Contacts, Rig


def pipeline(chat: ScriptedChat, tools: object) -> tuple[VoicePipeline, Recorder]:
    rec = Recorder()
    pipe = VoicePipeline(
        chat=chat,
        tools=tools,  # type: ignore[arg-type]
        conversation=Conversation("You are Hark.", 4),
        sink=MemorySink(),
        emit=rec,
        voice=ScriptedVoice(),
    )
    return pipe, rec


def call(name: str, **arguments: object) -> list[ChatDelta]:
    return [ChatDelta(tool_calls=(ToolCall(name, arguments),)), ChatDelta(done=True)]


async def test_a_text_turn_starts_with_the_request_as_shown(tmp_path: Path) -> None:
    rig = Rig(tmp_path / "audit.sqlite3")
    chat = ScriptedChat([ChatDelta("Ann asks about lunch."), ChatDelta(done=True)])
    pipe, rec = pipeline(chat, rig.policy())
    result = await pipe.run_text("Summarize this email:\n\nFrom: Ann …", shown="Summarize “Lunch”")
    [started] = rec.of(TurnStarted)
    assert started == TurnStarted(1, "text", "Summarize “Lunch”")
    assert result.transcript == "Summarize “Lunch”"  # what the user asked, not the mail
    assert "From: Ann" in chat.requests[0][0][-1].content  # the model got the whole prompt
    plain = await pipe.run_text("What time is it?")
    assert rec.of(TurnStarted)[-1] == TurnStarted(2, "text", "What time is it?")
    assert plain.transcript == "What time is it?"
    rig.audit.close()


async def test_a_turn_offers_only_its_own_tools_and_never_runs_another(tmp_path: Path) -> None:
    rig = Rig(tmp_path / "audit.sqlite3")
    confirmer = Approve()
    chat = ScriptedChat(
        call("mail_send", **MAIL), [ChatDelta("I may only draft."), ChatDelta(done=True)]
    )
    pipe, rec = pipeline(chat, rig.policy(confirmer))
    await pipe.run_text("Draft a reply", tools=("mail_draft",))
    assert chat.requests[0][1] == ["mail_draft"]
    assert confirmer.asked == []  # no "Send an email" confirmation for a draft
    assert rig.handlers.of("mail_send") == []
    [finished] = rec.of(ToolCallFinished)
    assert not finished.ok
    assert "not available" in json.loads(finished.result)["not_done"]

    chat2 = ScriptedChat([ChatDelta("Short."), ChatDelta(done=True)])
    pipe2, _ = pipeline(chat2, rig.policy(confirmer))
    await pipe2.run_text("Summarize", tools=())
    assert chat2.requests[0][1] == []
    rig.audit.close()


async def test_an_edited_approval_reports_what_ran_not_what_was_proposed(tmp_path: Path) -> None:
    rig = Rig(tmp_path / "audit.sqlite3")
    edits = {"to": ["cy@x.org", "dee@x.org"], "subject": "Dinner"}
    chat = ScriptedChat(call("mail_send", **MAIL), [ChatDelta("Sent."), ChatDelta(done=True)])
    pipe, rec = pipeline(chat, rig.policy(Approve(edits)))
    await pipe.run_text("Mail Bob about lunch")
    [finished] = rec.of(ToolCallFinished)
    assert finished.ok
    assert finished.arguments is not None
    assert finished.arguments["to"] == ["cy@x.org", "dee@x.org"]
    assert finished.arguments["subject"] == "Dinner"
    assert "idempotency_key" not in finished.arguments
    assert finished.summary == "Send an email to cy@x.org, dee@x.org: 'Dinner'"
    [done] = rec.of(TurnFinished)
    assert done.result.tool_calls[0].arguments["to"] == ["cy@x.org", "dee@x.org"]
    rig.audit.close()


async def test_a_refused_action_is_described_and_did_not_run(tmp_path: Path) -> None:
    rig = Rig(tmp_path / "audit.sqlite3")
    result = await rig.policy(None).call(ToolCall("mail_send", MAIL))
    assert not result.ok
    assert result.ran is None
    assert result.summary == "Send an email to bob@x.org: 'Lunch'"
    rig.audit.close()


async def test_the_policy_judges_an_edited_proposal_again(tmp_path: Path) -> None:
    rig = Rig(tmp_path / "audit.sqlite3")
    seen = Approve()
    contacts = Contacts("bob@x.org")
    policy = rig.policy(seen, contacts)
    await policy.call(ToolCall("mail_send", MAIL))
    [proposal] = seen.asked
    assert proposal.review is not None
    assert not any("not someone" in r for r in proposal.reasons)
    review = await proposal.review({"to": ["new1@y.org", "new2@y.org"], "subject": "Hi"})
    assert review.summary == "Send an email to new1@y.org, new2@y.org: 'Hi'"
    assert "not someone you have written to before: new1@y.org, new2@y.org" in review.reasons
    assert review.risk is Risk.EXTERNAL
    same = await proposal.review({"body": "changed", "bcc": ["sneaky@z.org"]})  # bcc: not editable
    assert same.summary == proposal.summary
    assert same.reasons == proposal.reasons
    rig.audit.close()
