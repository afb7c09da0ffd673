"""The policy's repeat and rate checks: a call that repeats one already done gets the earlier
result back, one that started but never recorded a result is refused (it may have happened),
and per-tool hourly rate limits hold, counted from the audit trail so they survive restarts.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from app.core.types import ToolResult
from app.safety.actions import GuardedTrail, KeyState
from app.safety.verdicts import not_done
from app.settings.schema import PolicySettings

log = logging.getLogger(__name__)

HOUR_S = 3600.0


class Gate:
    """Holds back repeats and calls over their rate limit; knows which calls run right now."""

    def __init__(
        self, settings: PolicySettings, trail: GuardedTrail, clock: Callable[[], float]
    ) -> None:
        self._settings = settings
        self._trail = trail
        self._clock = clock
        self._in_flight: dict[str, int] = {}
        self._running_keys: set[str] = set()

    def check(self, action_id: str, name: str, key: str | None) -> ToolResult | None:
        """Repeat and rate checks; records and returns a result if the call must not run."""
        now = self._clock()
        if key is not None and self._settings.repeat_window_h > 0:
            if key in self._running_keys:
                self._trail.record(
                    action_id, "refused", {"tool": name, "key": key, "why": "running"}
                )
                return not_done(name, "not done: the same action is running right now")
            state = self._trail.find_key(key, now - self._settings.repeat_window_h * HOUR_S)
            if state is not None and state.kind == "executed":
                self._trail.record(
                    action_id,
                    "reused",
                    {"tool": name, "key": key, "of": state.action_id, "done_at": state.at},
                )
                log.info("%s repeats an action done before; not done again", name)
                return _already_done(name, state)
            if state is not None and state.kind == "started":
                self._trail.record(
                    action_id,
                    "refused",
                    {"tool": name, "key": key, "of": state.action_id, "why": "maybe done"},
                )
                return not_done(
                    name,
                    f"not done: the same action was started at {_clock_text(state.at)} but its "
                    "result was never recorded, so it may already have happened; check before "
                    "asking for it again (an identical request stays held for "
                    f"{self._settings.repeat_window_h:g} hours)",
                )
        limit = self._settings.rate_limits.get(name)
        if limit is not None:
            count = self._trail.count_executed(name, now - HOUR_S)
            count += self._in_flight.get(name, 0)
            if count >= limit:
                self._trail.record(
                    action_id, "limited", {"tool": name, "limit": limit, "count": count}
                )
                log.info("%s hit its rate limit (%d per hour)", name, limit)
                return not_done(name, _limit_message(name, limit))
        return None

    @contextlib.contextmanager
    def running(self, name: str, key: str | None) -> Iterator[None]:
        """Count a call of ``name`` (with ``key``) as running while the block runs."""
        self._in_flight[name] = self._in_flight.get(name, 0) + 1
        if key is not None:
            self._running_keys.add(key)
        try:
            yield
        finally:
            self._in_flight[name] -= 1
            if key is not None:
                self._running_keys.discard(key)


def _clock_text(at: float) -> str:
    return datetime.fromtimestamp(at).astimezone().strftime("%Y-%m-%d %H:%M")


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


def _limit_message(name: str, limit: int) -> str:
    if limit == 0:
        return f"not done: {name} is blocked by the settings (policy.rate_limits.{name} = 0)"
    return (
        f"not done: {name} may run at most {limit} times an hour and that many already ran in "
        f"the last hour; try again later, or raise policy.rate_limits.{name}"
    )
