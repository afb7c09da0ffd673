"""Text that arrives in pieces (an LLM writing) cut where a voice should act on it.

The WebSocket voice sends text as it is written, but only whole words (ElevenLabs asks for
chunks that end in a space) and asks for audio (``flush``) at each sentence end; a voice that
takes whole sentences needs the same text cut into sentences. Both cuts live here so the
hosted voice and the fallback chain agree on where a sentence ends. The rule is deliberately
simple (``. ! ? …`` then whitespace): an abbreviation that ends a "sentence" early only makes
a flush or a sentence come a little sooner; it never loses or repeats text.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncGenerator, AsyncIterable
from dataclasses import dataclass

_SENTENCE_END = re.compile(r"[.!?…]+[\"'”’)\]]*\s+")


@dataclass(frozen=True, slots=True)
class TextPiece:
    """Text ready to send: whole words, ending in whitespace; ``sentence_end`` asks for audio."""

    text: str
    sentence_end: bool


class TextCutter:
    """Feed pieces as they arrive; get back what may be sent now, at word and sentence ends."""

    def __init__(self) -> None:
        self._buffer = ""

    def feed(self, text: str) -> list[TextPiece]:
        self._buffer += text
        out: list[TextPiece] = []
        while (match := _SENTENCE_END.search(self._buffer)) is not None:
            out.append(TextPiece(self._buffer[: match.end()], sentence_end=True))
            self._buffer = self._buffer[match.end() :]
        cut = max(self._buffer.rfind(" "), self._buffer.rfind("\n"))
        if cut >= 0 and self._buffer[: cut + 1].strip():
            out.append(TextPiece(self._buffer[: cut + 1], sentence_end=False))
            self._buffer = self._buffer[cut + 1 :]
        return out

    def finish(self) -> TextPiece | None:
        """The rest, as the reply's last sentence (a space added, as ElevenLabs asks)."""
        rest, self._buffer = self._buffer, ""
        return TextPiece(rest.rstrip() + " ", sentence_end=True) if rest.strip() else None


CLAUSE_END = re.compile(r"[,;:\u2013\u2014-]\s*$")
"""Text that ends at a clause mark: the speaker's first clause (:mod:`app.core.sentences`) is
handed over as a piece of its own ending in one."""


async def sentences(
    pieces: AsyncIterable[str], *, clauses: bool = False
) -> AsyncGenerator[str, None]:
    """Whole sentences from streamed text, each as soon as it ends (for per-sentence voices);
    with ``clauses``, also a piece that itself ends at a clause mark (``"Sure, I can do that, "``)
    on its own, so a per-sentence voice starts at the speaker's first clause too."""
    cutter = TextCutter()
    current = ""
    async for piece in pieces:
        for part in cutter.feed(piece):
            current += part.text
            if part.sentence_end:
                if current.strip():
                    yield current.strip()
                current = ""
        at_piece_end = piece[-1:].isspace()  # then the cutter holds nothing back
        if clauses and at_piece_end and CLAUSE_END.search(current.rstrip()):
            yield current.strip()
            current = ""
    last = cutter.finish()
    if last is not None:
        current += last.text
    if current.strip():
        yield current.strip()


class TextFeed:
    """Streamed text read by one task and handed to readers in turn, each taking up where the
    last stopped (the hosted voice first, the fallback after it failed).

    A reader that is closed or cancelled mid-wait (the hosted voice's sender, when its
    connection breaks) never touches the source: only the pump task reads it, so the text
    still to come is there for the next reader. ``taken`` is what readers took, in order.
    """

    def __init__(self, source: AsyncIterable[str]) -> None:
        self._queue: asyncio.Queue[str | Exception | None] = asyncio.Queue()
        self._task = asyncio.create_task(self._pump(source), name="hark-tts-text-feed")
        self.taken: list[str] = []

    async def _pump(self, source: AsyncIterable[str]) -> None:
        try:
            async for piece in source:
                self._queue.put_nowait(piece)
        except Exception as exc:  # the text source broke: readers re-raise it
            self._queue.put_nowait(exc)
        else:
            self._queue.put_nowait(None)

    async def read(self) -> AsyncGenerator[str, None]:
        """The pieces not yet taken by an earlier reader."""
        while True:
            item = await self._queue.get()
            if item is None or isinstance(item, Exception):
                self._queue.put_nowait(item)  # the end stays for any later reader
                if item is None:
                    return
                raise item
            self.taken.append(item)
            yield item

    async def aclose(self) -> None:
        """Stop reading the source (the reply was stopped)."""
        if not self._task.done():
            self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


async def prefixed(first: str, rest: AsyncIterable[str]) -> AsyncGenerator[str, None]:
    """``first`` (if any), then the pieces of ``rest``."""
    if first:
        yield first
    async for piece in rest:
        yield piece
