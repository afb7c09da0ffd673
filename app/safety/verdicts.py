"""What the policy concludes about one call: its :class:`Assessment` (risk, summary, the people
it reaches, the reasons to ask), and the results that tell the model a call was not done or
failed (``{"not_done": ...}`` and ``{"error": ...}``, with ``ok=False``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from app.core.types import Risk, ToolResult


@dataclass(slots=True)
class Assessment:
    """One call judged: its risk, a one-line summary, the people reached, and the reasons that
    force a confirmation (thresholds add theirs after the first look)."""

    risk: Risk | None
    summary: str
    recipients: tuple[str, ...] = ()
    reasons: list[str] = field(default_factory=list)


def error_result(name: str, message: str) -> ToolResult:
    """The call failed (or nothing could be done): the model hears why."""
    return ToolResult(name=name, ok=False, content=json.dumps({"error": message}))


def not_done(name: str, message: str) -> ToolResult:
    """The policy held the call back: the model hears why, and tells the user."""
    return ToolResult(name=name, ok=False, content=json.dumps({"not_done": message}))
