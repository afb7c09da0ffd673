"""The confirmation tests' world: a mail proposal to show, and :class:`Rig`, a real action
policy on the engine thread whose confirmer is the GUI's, with a real audit log and a
``mail_send`` tool that records what it sent. The fixture that builds one is ``rig_for``."""

from __future__ import annotations

import concurrent.futures
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from app.core.tools import ToolRegistry
from app.core.types import ActionProposal, Risk, ToolCall, ToolResult, ToolSpec
from app.gui.bridge import EngineThread
from app.gui.dialogs.confirm import ConfirmDialog, GuiConfirmer
from app.safety.actions import ActionSpec
from app.safety.audit import AuditLog
from app.safety.policy import ActionPolicy
from app.settings.schema import PolicySettings

MAIL = {
    "to": ["bob@x.org"],
    "cc": [],
    "subject": "Lunch",
    "body": "Noon at the usual place?",
}


def mail_proposal(**preview: Any) -> ActionProposal:
    shown = {**MAIL, **preview}
    return ActionProposal(
        id="a1",
        tool="mail_send",
        arguments=dict(shown),
        risk=Risk.EXTERNAL,
        summary="Send an email to bob@x.org: 'Lunch'",
        preview=shown,
        reasons=("not someone you have written to before: bob@x.org",),
    )


class Recorder:
    """A real registry handler that remembers the arguments it ran with."""

    def __init__(self) -> None:
        self.ran: list[dict[str, Any]] = []

    async def __call__(self, args: Mapping[str, Any]) -> dict[str, Any]:
        self.ran.append(dict(args))
        return {"id": f"m{len(self.ran)}"}


SPEC = ActionSpec(
    Risk.EXTERNAL,
    lambda a: f"Send an email to {', '.join(a['to'])}: {a['subject']!r}",
    editable=("to", "cc", "subject", "body"),
    recipients=lambda a: [*a.get("to", []), *a.get("cc", [])],
    key_argument="idempotency_key",
)


class Rig:
    """A real ActionPolicy with a GuiConfirmer, on the engine thread."""

    def __init__(
        self, tmp_path: Path, engine: EngineThread, confirmer: GuiConfirmer, timeout_s: float
    ) -> None:
        self.engine = engine
        self.confirmer = confirmer
        self.sent = Recorder()
        self.shown: list[ActionProposal] = []
        registry = ToolRegistry()
        registry.register(ToolSpec("mail_send", "send mail"), self.sent)
        self.audit = AuditLog(tmp_path / "audit.sqlite3")
        self.policy = ActionPolicy(
            registry,
            {"mail_send": SPEC},
            PolicySettings(confirm_timeout_s=timeout_s),
            audit=self.audit,
            confirmer=confirmer,
        )

    def send(self, **changes: Any) -> concurrent.futures.Future[ToolResult]:
        call = ToolCall("mail_send", {**MAIL, **changes})
        return self.engine.submit(self.policy.call(call))

    def decisions(self) -> list[dict[str, Any]]:
        return [row.data for row in self.audit.rows() if row.kind == "decision"]


def dialog_of(qtbot: Any, confirmer: GuiConfirmer) -> ConfirmDialog:
    qtbot.waitUntil(lambda: confirmer.current_dialog is not None, timeout=5000)
    dialog = confirmer.current_dialog
    assert dialog is not None
    return dialog


def result_of(qtbot: Any, future: concurrent.futures.Future[ToolResult]) -> dict[str, Any]:
    qtbot.waitUntil(future.done, timeout=5000)
    result = future.result()
    content: dict[str, Any] = json.loads(result.content)
    return content
