"""One voice turn: utterance → transcript → streamed reply (with tools) → sentences → voice.

The reply is spoken sentence by sentence while the model is still writing: a speaker task takes
sentences from a queue as the splitter cuts them, so the first audio does not wait for the whole
reply. ``cancel()`` (barge-in) silences the sink at once and cancels generation.

Every stage is timed (:mod:`app.core.timing`); the speaker is :mod:`app.core.speaker`, the
streamed reply with its tool calls :mod:`app.core.reply`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass

from app.core.conversation import Conversation
from app.core.events import (
    AudioStarted,
    Event,
    NoticeRaised,
    Stage,
    StageTimed,
    ToolCallRecord,
    TranscriptReady,
    TurnCancelled,
    TurnFailed,
    TurnFinished,
    TurnResult,
    TurnStarted,
    TurnTimings,
)
from app.core.ports import AudioSink, ChatModel, Emit, Synthesizer, Tools, Transcriber
from app.core.reply import stream_reply
from app.core.speaker import Speaker
from app.core.timing import TurnClock, turn_timings
from app.core.types import Transcript, Utterance
from app.shared.errors import AsrCode, HarkError, LlmError

log = logging.getLogger(__name__)

_SPOKEN_FAILURE = {
    Stage.ASR: "Sorry, I couldn't understand that because speech recognition failed.",
    Stage.LLM: "Sorry, I can't reach the language model right now.",
}


@dataclass(frozen=True, slots=True)
class PipelineOptions:
    """How a turn runs.

    ``stream_sentences=False`` is the classic sequential pipeline, kept for comparison: the
    whole reply is written, then voiced in full, then played.
    """

    stream_sentences: bool = True
    max_tool_rounds: int = 4
    first_clause_words: int = 0
    """With ``stream_sentences``: the first piece spoken may end at a clause boundary after
    this many words (0: a whole sentence); see :mod:`app.core.sentences`."""


class VoicePipeline:
    """Runs turns one at a time; the collaborators are ports, so tests can script any of them."""

    def __init__(
        self,
        *,
        chat: ChatModel,
        tools: Tools,
        conversation: Conversation,
        sink: AudioSink,
        emit: Emit,
        transcriber: Transcriber | None = None,
        voice: Synthesizer | None = None,
        options: PipelineOptions | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._chat = chat
        self._tools = tools
        self._conversation = conversation
        self._sink = sink
        self._emit = emit
        self._transcriber = transcriber
        self._voice = voice
        self._options = options or PipelineOptions()
        self._now = clock
        self._turn_id = 0
        self._task: asyncio.Task[TurnResult] | None = None
        self._cancel_reasons: dict[int, str] = {}
        self._audible = False
        self._voice_trouble: str | None = None  # the voice/speaker failure already told

    @property
    def busy(self) -> bool:
        """A turn is running (transcribing, thinking or speaking)."""
        return self._task is not None and not self._task.done()

    @property
    def speaking(self) -> bool:
        """The running turn has started to play its reply."""
        return self.busy and self._audible

    def _mark_audible(self) -> None:
        self._audible = True

    def _speaker_emit(self, event: Event) -> None:
        """A turn's speaker's events: a voice or speaker failure ("no output device") is told
        once, not after every turn, until a reply is heard again."""
        if isinstance(event, NoticeRaised):
            if event.code == self._voice_trouble:
                log.debug("still cannot speak (%s); not told again", event.code)
                return
            self._voice_trouble = event.code
        elif isinstance(event, AudioStarted):
            self._voice_trouble = None
        self._emit(event)

    def cancel(self, reason: str = "barge-in") -> None:
        """Stop the current turn now: silence the voice and stop generating. Loop thread only."""
        if self._task is None or self._task.done():
            return
        self._cancel_reasons.setdefault(self._turn_id, reason)
        self._sink.stop()
        self._task.cancel()

    async def run_text(
        self, text: str, *, shown: str | None = None, tools: Collection[str] | None = None
    ) -> TurnResult:
        """One turn from typed text (``hark ask "..."``, the window's request field).

        ``shown`` is the request as the user should see it, when ``text`` holds more for the
        model (the inbox puts the mail it asks about in); ``tools`` limits the tools offered
        (and allowed) in this turn to those names: ``()`` offers none."""
        allowed = None if tools is None else frozenset(tools)
        return await self._run(text, None, shown, allowed)

    async def run_voice(
        self, utterance: Utterance, early: Awaitable[Transcript] | None = None
    ) -> TurnResult:
        """One turn from an utterance cut by the endpointer; ``early``: its transcription,
        started before the turn ended (:mod:`app.core.early`), if there is one."""
        return await self._run(None, utterance, early=early)

    async def _run(
        self,
        text: str | None,
        utterance: Utterance | None,
        shown: str | None = None,
        allowed: frozenset[str] | None = None,
        early: Awaitable[Transcript] | None = None,
    ) -> TurnResult:
        previous = self._task
        if previous is not None and not previous.done():
            self.cancel("new turn")
            with contextlib.suppress(asyncio.CancelledError):
                await previous
        self._turn_id += 1
        turn_id = self._turn_id
        clock = TurnClock(self._now)
        self._audible = False
        task = asyncio.create_task(
            self._turn(turn_id, clock, text, utterance, shown, allowed, early)
        )
        self._task = task
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            reason = self._cancel_reasons.pop(turn_id, None)
            if reason is None:  # we were cancelled from outside: pass it on
                task.cancel()
                raise
            self._emit(TurnCancelled(turn_id, reason))
            log.info("turn %d cancelled: %s", turn_id, reason)
            result = TurnResult(turn_id, "", "", (), TurnTimings(), cancelled=True)
            self._emit(TurnFinished(result))
            return result

    async def _turn(
        self,
        turn_id: int,
        clock: TurnClock,
        text: str | None,
        utterance: Utterance | None,
        shown: str | None = None,
        allowed: frozenset[str] | None = None,
        early: Awaitable[Transcript] | None = None,
    ) -> TurnResult:
        source = "voice" if utterance is not None else "text"
        self._emit(TurnStarted(turn_id, source, "" if text is None else (shown or text)))
        endpoint_ms = utterance.endpoint_delay_s * 1000 if utterance is not None else None
        asr_ms: float | None = None
        if utterance is not None:
            if endpoint_ms is not None:
                self._emit(StageTimed(Stage.ENDPOINT, endpoint_ms))
            try:
                text, asr_ms = await self._transcribe(utterance, clock, early)
            except HarkError as exc:
                return await self._fail(turn_id, clock, Stage.ASR, exc, "", endpoint_ms, asr_ms)
            if not text:
                timings = turn_timings(clock, endpoint_ms, asr_ms, None)
                result = TurnResult(turn_id, "", "", (), timings)
                self._emit(TurnFinished(result))
                return result
        assert text is not None
        heard = shown or text
        speaker = Speaker(
            self._voice,
            self._sink,
            self._speaker_emit,
            clock,
            endpoint_ms,
            sequential=not self._options.stream_sentences,
            on_audio=self._mark_audible,
        )
        records: list[ToolCallRecord] = []
        reply = ""
        try:
            reply = await stream_reply(
                self._chat,
                self._tools,
                self._conversation.messages_for(text),
                emit=self._emit,
                clock=clock,
                speaker=speaker,
                records=records,
                allowed=allowed,
                max_tool_rounds=self._options.max_tool_rounds,
                stream_sentences=self._options.stream_sentences,
                first_clause_words=self._options.first_clause_words,
            )
        except LlmError as exc:
            await speaker.abort()
            return await self._fail(
                turn_id, clock, Stage.LLM, exc, heard, endpoint_ms, asr_ms, reply, records
            )
        except BaseException:
            await speaker.abort()
            raise
        await speaker.finish()
        if turn_id in self._cancel_reasons:
            # cancelled just as the reply ended (a wait that finished as the cancel came may
            # swallow it): still a cancelled turn, whose reply is not remembered
            raise asyncio.CancelledError
        self._conversation.remember(text, reply)
        timings = turn_timings(clock, endpoint_ms, asr_ms, speaker.first_audio_at)
        result = TurnResult(turn_id, heard, reply, tuple(records), timings)
        self._emit(TurnFinished(result))
        return result

    async def _transcribe(
        self, utterance: Utterance, clock: TurnClock, early: Awaitable[Transcript] | None
    ) -> tuple[str, float]:
        """The utterance's words; ``asr_ms`` is how long the turn waited for them (less than a
        whole transcription when an early one was already under way)."""
        if self._transcriber is None:
            raise HarkError(AsrCode.NOT_CONFIGURED, "no speech recogniser is configured")
        t = clock.now()
        transcript: Transcript | None = None
        if early is not None:
            try:
                transcript = await early
            except HarkError as exc:  # a failed early run: one fresh try, as if there were none
                log.info("the early transcription failed (%s); transcribing again", exc.code)
        if transcript is None:
            transcript = await self._transcriber.transcribe(utterance.pcm, utterance.sample_rate)
        asr_ms = (clock.now() - t) * 1000
        self._emit(StageTimed(Stage.ASR, asr_ms))
        text = transcript.text.strip()
        self._emit(TranscriptReady(text, transcript.language))
        return text, asr_ms

    async def _fail(
        self,
        turn_id: int,
        clock: TurnClock,
        stage: Stage,
        exc: HarkError,
        transcript: str,
        endpoint_ms: float | None,
        asr_ms: float | None,
        reply: str = "",
        records: list[ToolCallRecord] | None = None,
    ) -> TurnResult:
        log.warning("turn %d failed at %s: %s", turn_id, stage, exc.code)
        self._emit(TurnFailed(turn_id, stage, exc.code, exc.message))
        speaker = Speaker(
            self._voice,
            self._sink,
            self._speaker_emit,
            clock,
            endpoint_ms,
            on_audio=self._mark_audible,
        )
        spoken = _SPOKEN_FAILURE.get(stage)
        if spoken:
            speaker.say(spoken)
        await speaker.finish()
        timings = turn_timings(clock, endpoint_ms, asr_ms, speaker.first_audio_at)
        result = TurnResult(
            turn_id,
            transcript,
            reply,
            tuple(records or ()),
            timings,
            error_code=exc.code,
            error_message=exc.message,
        )
        self._emit(TurnFinished(result))
        return result
