"""The tool registry: functions the model may call, and one harmless built-in (the clock).

Later features register their tools here (calendar, mail); the action policy wraps ``call`` so
that nothing that matters runs without the user's say. A tool's own failure never raises out of
``call``: the model gets ``{"error": ...}`` back and can tell the user.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from app.core.types import ToolCall, ToolResult, ToolSpec
from app.shared.errors import HarkError

log = logging.getLogger(__name__)

Handler = Callable[[Mapping[str, Any]], Awaitable[Any]]

MAX_RESULT_CHARS = 4000
"""Results go back into the model's context; keep them short."""


class ToolRegistry:
    """Holds tool specs and their async handlers; implements the ``Tools`` port."""

    def __init__(self) -> None:
        self._tools: dict[str, tuple[ToolSpec, Handler]] = {}

    def register(self, spec: ToolSpec, handler: Handler) -> None:
        if spec.name in self._tools:
            raise ValueError(f"tool {spec.name!r} is already registered")
        self._tools[spec.name] = (spec, handler)

    def specs(self) -> Sequence[ToolSpec]:
        return [spec for spec, _ in self._tools.values()]

    def names(self) -> list[str]:
        return list(self._tools)

    async def call(self, call: ToolCall) -> ToolResult:
        entry = self._tools.get(call.name)
        if entry is None:
            log.warning("model asked for unknown tool %s", call.name)
            return _error(call.name, f"no tool named {call.name!r}; known: {self.names()}")
        spec, handler = entry
        missing = [key for key in spec.parameters.get("required", []) if key not in call.arguments]
        if missing:
            return _error(call.name, f"missing required argument(s): {', '.join(missing)}")
        try:
            value = await handler(call.arguments)
        except HarkError as exc:
            log.info("tool %s failed: %s", call.name, exc.code)
            return _error(call.name, exc.message)
        except Exception as exc:  # a tool bug must not end the turn; the model is told
            log.exception("tool %s raised", call.name)
            return _error(call.name, f"the tool failed ({type(exc).__name__})")
        content = value if isinstance(value, str) else json.dumps(value, default=str)
        if len(content) > MAX_RESULT_CHARS:
            content = content[:MAX_RESULT_CHARS] + "…"
        return ToolResult(name=call.name, ok=True, content=content)


def _error(name: str, message: str) -> ToolResult:
    return ToolResult(name=name, ok=False, content=json.dumps({"error": message}))


CURRENT_TIME = ToolSpec(
    name="get_current_time",
    description=(
        "Get the current local date, time, weekday and time zone of the user. Use it for any "
        "question about the time or date, or to resolve words like 'today' or 'next Monday'."
    ),
    parameters={"type": "object", "properties": {}, "required": []},
)


def register_builtin_tools(
    registry: ToolRegistry, now: Callable[[], datetime] | None = None
) -> None:
    """Add the built-in tools; ``now`` is injectable so tests control the clock."""
    clock = now or (lambda: datetime.now().astimezone())

    async def current_time(_: Mapping[str, Any]) -> dict[str, str]:
        t = clock()
        return {
            "iso": t.isoformat(timespec="seconds"),
            "date": t.strftime("%Y-%m-%d"),
            "weekday": t.strftime("%A"),
            "time": t.strftime("%H:%M"),
            "timezone": t.tzname() or "local",
        }

    registry.register(CURRENT_TIME, current_time)
