"""A turn cancelled just as its reply ends (the user went on talking) is a cancelled turn, even
when the speaker's last wait finished as the cancel came and swallowed it."""

from __future__ import annotations

import asyncio
import contextlib

from app.core.conversation import Conversation
from app.core.events import TurnCancelled, TurnFinished
from tests.core.scripted import MemorySink, ScriptedChat, make


class SwallowingSink(MemorySink):
    """A speaker whose drain ends quietly when Hark is stopped, cancel or not."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()
        self.draining = asyncio.Event()

    async def drain(self) -> None:
        self.draining.set()
        with contextlib.suppress(asyncio.CancelledError):
            await self.release.wait()


async def test_a_cancel_that_meets_the_end_of_the_reply_still_cancels_the_turn() -> None:
    conversation = Conversation("You are Hark.", 4)
    pipe, rec, _ = make(ScriptedChat(), conversation=conversation)
    sink = SwallowingSink()
    pipe._sink = sink  # the pipeline's speaker, swapped for one that swallows the cancel
    turn = asyncio.create_task(pipe.run_text("Set a timer for"))
    await sink.draining.wait()
    pipe.cancel("continued speech")
    result = await turn
    assert result.cancelled
    assert [e.reason for e in rec.of(TurnCancelled)] == ["continued speech"]
    assert [e.result.cancelled for e in rec.of(TurnFinished)] == [True]
    assert conversation.messages_for("next")[1:-1] == []  # the half request is not remembered
