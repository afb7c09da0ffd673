"""Keep talking when the hosted voice cannot: fall back to a local voice, sentence by sentence.

A reply is spoken one sentence at a time, so the decision is made per sentence:

* the primary (ElevenLabs) is tried first; if it fails before it produced any audio for the
  sentence, the fallback (Piper or espeak-ng) speaks that sentence instead, resampled to the
  primary's rate so the audio sink never has to change its rate mid-reply;
* the user is told why once per kind of failure (``on_notice(code, message)``), not per
  sentence;
* a failure that no retry can fix (no key, a rejected key, a missing program) retires the
  primary for the rest of the session; a passing one (rate limit, network, server error)
  retires it for ``cooldown_s`` and then it is tried again;
* if the primary breaks in the middle of a sentence, that sentence ends there (it is never
  spoken twice) and the following ones go to the fallback;
* a whole reply streamed to the primary (:meth:`FallbackVoice.synthesize_stream`) that breaks
  mid-reply goes on with the fallback from the first text the primary took after its last
  audio, since none of that can have been heard.

Without a fallback the primary's error is raised, as it would be without this wrapper; while
the primary rests after a failure, its last error is raised again without calling it.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import AsyncGenerator, AsyncIterable, Callable

import numpy as np

from app.audio.resample import StreamResampler
from app.core.ports import Synthesizer
from app.shared.errors import TtsError
from app.tts.textstream import TextFeed, sentences
from app.tts.threaded import aclose_iterator

log = logging.getLogger(__name__)

Notice = Callable[[str, str], None]
"""``on_notice(code, message)``: tell the user something about the voice (GUI toast, CLI line)."""

PERMANENT_SUFFIXES = ("-no-key", "-auth", "-missing")
"""Error codes ending so will not heal by waiting: the primary is skipped for the session."""

DEFAULT_COOLDOWN_S = 60.0


class FallbackVoice:
    """A Synthesizer that speaks with ``primary`` and, when it fails, with ``fallback``."""

    def __init__(
        self,
        primary: Synthesizer,
        fallback: Synthesizer | None,
        on_notice: Notice | None = None,
        *,
        cooldown_s: float = DEFAULT_COOLDOWN_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._primary = primary
        self._fallback = fallback
        self._on_notice = on_notice
        self._cooldown_s = cooldown_s
        self._clock = clock
        self._retired_forever = False
        self._retry_at: float | None = None
        self._last_error: TtsError | None = None
        self._noticed: set[str] = set()
        self._speaking_fallback = False

    @property
    def name(self) -> str:
        """Who is speaking now: ``"elevenlabs"``, or ``"elevenlabs→piper"`` while falling back."""
        if self._speaking_fallback and self._fallback is not None:
            return f"{self._primary.name}→{self._fallback.name}"
        return self._primary.name

    @property
    def sample_rate(self) -> int:
        return self._primary.sample_rate

    @property
    def primary(self) -> Synthesizer:
        return self._primary

    @property
    def fallback(self) -> Synthesizer | None:
        return self._fallback

    @property
    def last_error(self) -> TtsError | None:
        """The primary's latest failure (None once it has spoken again)."""
        return self._last_error

    def close(self) -> None:
        """Release what the voices hold (ElevenLabs' connection pool), at shutdown."""
        for voice in (self._primary, self._fallback):
            close = getattr(voice, "close", None)
            if callable(close):
                close()

    def primary_available(self) -> bool:
        """Whether the next sentence will be offered to the primary."""
        if self._retired_forever:
            return False
        return self._retry_at is None or self._clock() >= self._retry_at

    async def synthesize(self, text: str) -> AsyncGenerator[bytes, None]:
        """Speak ``text`` with the primary, or with the fallback if the primary cannot."""
        if self.primary_available():
            produced = False
            chunks = self._primary.synthesize(text)
            try:
                async for chunk in chunks:
                    produced = True
                    self._speaking_fallback = False
                    yield chunk
            except TtsError as exc:
                self._primary_failed(exc, mid_sentence=produced)
                if self._fallback is None:
                    raise
                if produced:
                    return  # the rest of this sentence is lost; never speak it twice
            else:
                self._primary_worked()
                return
            finally:
                await aclose_iterator(chunks)
        elif self._fallback is None:
            assert self._last_error is not None
            raise TtsError(self._last_error.code, self._last_error.message)
        assert self._fallback is not None
        self._speaking_fallback = True
        chunks = self._speak_fallback(self._fallback, text)
        try:
            async for chunk in chunks:
                yield chunk
        finally:
            await aclose_iterator(chunks)

    async def synthesize_stream(self, pieces: AsyncIterable[str]) -> AsyncGenerator[bytes, None]:
        """Speak a reply that arrives in pieces: the primary takes it whole if it can
        (ElevenLabs' WebSocket); otherwise, or once it fails, sentence by sentence as above.

        If the primary fails before any audio, the fallback speaks the whole reply; if it
        fails mid-reply, the fallback speaks the text the primary took after its last audio
        (audio never comes before its text, so none of that was heard) and the rest as it
        arrives. Text taken before the last audio may have been heard, in part: it is dropped,
        never spoken twice.
        """
        stream = getattr(self._primary, "synthesize_stream", None)
        feed = TextFeed(pieces)
        try:
            if self.primary_available() and callable(stream):
                produced = False
                heard = 0  # pieces taken by the time of the primary's latest audio
                chunks: AsyncGenerator[bytes, None] = stream(feed.read())
                try:
                    async for chunk in chunks:
                        produced = True
                        heard = len(feed.taken)
                        self._speaking_fallback = False
                        yield chunk
                except TtsError as exc:
                    self._primary_failed(exc, mid_sentence=produced)
                    if self._fallback is None:
                        raise
                else:
                    self._primary_worked()
                    return
                finally:
                    await aclose_iterator(chunks)
                rest = _then(_unheard(feed.taken, heard), feed.read())
            else:
                rest = feed.read()
            async for sentence in sentences(rest, clauses=True):
                audio = self.synthesize(sentence)
                try:
                    async for chunk in audio:
                        yield chunk
                finally:
                    await aclose_iterator(audio)
        finally:
            await feed.aclose()

    async def _speak_fallback(self, voice: Synthesizer, text: str) -> AsyncGenerator[bytes, None]:
        """The fallback's audio at the primary's rate."""
        resampler = (
            StreamResampler(voice.sample_rate, self.sample_rate)
            if voice.sample_rate != self.sample_rate
            else None
        )
        carry = b""
        chunks = voice.synthesize(text)
        try:
            async for chunk in chunks:
                if resampler is None:
                    yield chunk
                    continue
                data = carry + chunk
                cut = len(data) - len(data) % 2
                carry = data[cut:]
                out = resampler.process(np.frombuffer(data[:cut], dtype="<i2"))
                if len(out):
                    yield out.astype("<i2").tobytes()
        finally:
            await aclose_iterator(chunks)

    def _primary_worked(self) -> None:
        if self._last_error is not None:
            log.info("voice %s works again", self._primary.name)
        self._last_error = None
        self._retry_at = None
        self._speaking_fallback = False

    def _primary_failed(self, exc: TtsError, *, mid_sentence: bool) -> None:
        self._last_error = exc
        permanent = exc.code.endswith(PERMANENT_SUFFIXES)
        if permanent:
            self._retired_forever = True
        else:
            self._retry_at = self._clock() + self._cooldown_s
        log.warning(
            "voice %s failed (%s)%s; %s",
            self._primary.name,
            exc.code,
            " mid-sentence" if mid_sentence else "",
            "not trying it again this session"
            if permanent
            else f"trying it again in {self._cooldown_s:g} s",
        )
        if self._fallback is None or exc.code in self._noticed:
            return
        self._noticed.add(exc.code)
        if self._on_notice is not None:
            then = (
                "for the rest of this session"
                if permanent
                else f"for now (trying {self._primary.name} again in {self._cooldown_s:g} s)"
            )
            self._on_notice(
                exc.code, f"{exc.message} Speaking with the {self._fallback.name} voice {then}."
            )


def _unheard(taken: list[str], heard: int) -> list[str]:
    """The pieces taken after the primary's last audio (``taken[heard:]``), from a whole word:
    if the cut falls inside a word, that word's rest goes too, rather than a fragment."""
    before, after = "".join(taken[:heard]), list(taken[heard:])
    while after and before and not before[-1].isspace() and not after[0][:1].isspace():
        space = re.search(r"\s", after[0])
        if space is not None:
            after[0] = after[0][space.end() :]
            break
        before += after.pop(0)
    return [piece for piece in after if piece]


async def _then(first: list[str], rest: AsyncIterable[str]) -> AsyncGenerator[str, None]:
    """``first``'s pieces, then those of ``rest`` (the cuts kept: they may end a clause)."""
    for piece in first:
        yield piece
    async for piece in rest:
        yield piece
