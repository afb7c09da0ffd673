"""The marks taken during one turn and the latency breakdown made from them.

Every stage is timed; the :class:`~app.core.events.TurnTimings` of each turn is what the GUI,
``hark ask --json`` and the benchmarks read.
"""

from __future__ import annotations

from collections.abc import Callable

from app.core.events import TurnTimings


class TurnClock:
    """Marks taken during one turn, in ``time.monotonic`` seconds."""

    def __init__(self, now: Callable[[], float]) -> None:
        self.now = now
        self.start = now()
        self.first_token: float | None = None
        self.llm_start: float | None = None


def turn_timings(
    clock: TurnClock,
    endpoint_ms: float | None,
    asr_ms: float | None,
    first_audio_at: float | None,
) -> TurnTimings:
    """The turn's breakdown so far; first audio and the total count from the end of speech."""
    lead = endpoint_ms or 0.0
    first_token_ms = (
        (clock.first_token - clock.llm_start) * 1000
        if clock.first_token is not None and clock.llm_start is not None
        else None
    )
    first_audio_ms = (
        lead + (first_audio_at - clock.start) * 1000 if first_audio_at is not None else None
    )
    return TurnTimings(
        endpoint_ms=endpoint_ms,
        asr_ms=asr_ms,
        llm_first_token_ms=first_token_ms,
        first_audio_ms=first_audio_ms,
        total_ms=lead + (clock.now() - clock.start) * 1000,
    )
