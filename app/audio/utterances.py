"""A frame source's utterances, one after another, through an endpointer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

from app.audio.vad import Endpointer, VadEvent
from app.core.ports import FrameSource
from app.core.types import Utterance


async def utterances(
    source: FrameSource,
    endpointer: Endpointer,
    on_event: Callable[[VadEvent], None] | None = None,
) -> AsyncIterator[Utterance]:
    """Feed a source's frames through an endpointer and yield each utterance as it ends.

    ``on_event`` sees every event (speech started, utterance ended) as it happens, for the GUI's
    "listening" state; at the end of the source the open utterance is flushed.
    """
    async for frame in source.frames():
        if endpointer.model_due:  # waits for a late end-of-turn answer: off the loop
            events = await asyncio.to_thread(endpointer.feed, frame)
        else:
            events = endpointer.feed(frame)
        for event in events:
            if on_event is not None:
                on_event(event)
            if isinstance(event, Utterance):
                yield event
    last = endpointer.flush()
    if last is not None:
        if on_event is not None:
            on_event(last)
        yield last
