"""The terminal's Confirmer: what it shows, how edits come back, and that only "yes" is yes."""

from __future__ import annotations

import io

import pytest

from app.core.types import ActionProposal, Risk
from app.safety.terminal_confirm import TerminalConfirmer

PROPOSAL = ActionProposal(
    id="a1",
    tool="mail_send",
    arguments={"to": ["bob@example.org"], "subject": "Lunch", "body": "Noon?"},
    risk=Risk.EXTERNAL,
    summary="Send an email to bob@example.org: 'Lunch'",
    preview={"to": ["bob@example.org"], "subject": "Lunch", "body": "Noon?"},
    reasons=("not someone you have written to before: bob@example.org",),
)


class Answers:
    """Plays the user at the keyboard; runs out into EOF like a closed terminal."""

    def __init__(self, *lines: str) -> None:
        self.lines = list(lines)
        self.prompts: list[str] = []

    def __call__(self, prompt: str) -> str:
        self.prompts.append(prompt)
        if not self.lines:
            raise EOFError
        return self.lines.pop(0)


def confirmer(answers: Answers) -> tuple[TerminalConfirmer, io.StringIO]:
    out = io.StringIO()
    return TerminalConfirmer(read=answers, out=out), out


async def test_yes_approves_and_the_terminal_shows_what_and_why() -> None:
    terminal, out = confirmer(Answers("y"))
    decision = await terminal.confirm(PROPOSAL)
    assert decision.approved
    assert dict(decision.edits) == {}
    shown = out.getvalue()
    assert "Send an email to bob@example.org: 'Lunch'" in shown
    assert "because: not someone you have written to before" in shown
    assert "subject: Lunch" in shown


@pytest.mark.parametrize("answer", ["n", "", "maybe", "no"])
async def test_anything_but_yes_is_no(answer: str) -> None:
    terminal, _ = confirmer(Answers(answer))
    decision = await terminal.confirm(PROPOSAL)
    assert not decision.approved
    assert decision.note == "rejected"


async def test_a_closed_terminal_is_no() -> None:
    terminal, _ = confirmer(Answers())
    decision = await terminal.confirm(PROPOSAL)
    assert not decision.approved
    assert decision.note == "no answer"


async def test_edits_keep_each_field_s_shape_and_come_back_with_the_yes() -> None:
    answers = Answers("e", "bob@example.org, cat@example.org", "", "Noon at Luigi's?", "y")
    terminal, out = confirmer(answers)
    decision = await terminal.confirm(PROPOSAL)
    assert decision.approved
    assert dict(decision.edits) == {
        "to": ["bob@example.org", "cat@example.org"],
        "body": "Noon at Luigi's?",
    }
    assert answers.prompts[1] == "  to [bob@example.org]: "
    assert "body: Noon at Luigi's?" in out.getvalue()  # the edited preview is shown again


async def test_editing_then_saying_no_sends_nothing() -> None:
    terminal, _ = confirmer(Answers("e", "", "Changed", "", "n"))
    decision = await terminal.confirm(PROPOSAL)
    assert not decision.approved
