"""One voice turn: utterance → transcript → streamed reply (with tools) → sentences → voice.

The reply is spoken sentence by sentence while the model is still writing: a speaker task takes
sentences from a queue as the splitter cuts them, so the first audio does not wait for the whole
reply. ``cancel()`` (barge-in) silences the sink at once and cancels generation.

Every stage is timed; the :class:`TurnTimings` of each turn is what the GUI, ``hark ask --json``
and the benchmarks read.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass

from app.core.conversation import Conversation
from app.core.events import (
    AudioStarted,
    Event,
    NoticeRaised,
    ReplyTextReceived,
    SentenceReady,
    Stage,
    StageTimed,
    ToolCallFinished,
    ToolCallRecord,
    ToolCallStarted,
    TranscriptReady,
    TurnCancelled,
    TurnFailed,
    TurnFinished,
    TurnResult,
    TurnStarted,
    TurnTimings,
)
from app.core.ports import AudioSink, ChatModel, Emit, Synthesizer, Tools, Transcriber
from app.core.sentences import SentenceSplitter, clean_for_speech
from app.core.types import ChatMessage, ToolCall, ToolResult, Utterance
from app.shared.errors import AsrCode, AudioError, HarkError, LlmError, TtsError

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


class _Clock:
    """Marks taken during one turn, in ``time.monotonic`` seconds."""

    def __init__(self, now: Callable[[], float]) -> None:
        self.now = now
        self.start = now()
        self.first_token: float | None = None
        self.llm_start: float | None = None


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

    async def run_voice(self, utterance: Utterance) -> TurnResult:
        """One turn from an utterance cut by the endpointer."""
        return await self._run(None, utterance)

    async def _run(
        self,
        text: str | None,
        utterance: Utterance | None,
        shown: str | None = None,
        allowed: frozenset[str] | None = None,
    ) -> TurnResult:
        previous = self._task
        if previous is not None and not previous.done():
            self.cancel("new turn")
            with contextlib.suppress(asyncio.CancelledError):
                await previous
        self._turn_id += 1
        turn_id = self._turn_id
        clock = _Clock(self._now)
        self._audible = False
        task = asyncio.create_task(self._turn(turn_id, clock, text, utterance, shown, allowed))
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
        clock: _Clock,
        text: str | None,
        utterance: Utterance | None,
        shown: str | None = None,
        allowed: frozenset[str] | None = None,
    ) -> TurnResult:
        source = "voice" if utterance is not None else "text"
        self._emit(TurnStarted(turn_id, source, "" if text is None else (shown or text)))
        endpoint_ms = utterance.endpoint_delay_s * 1000 if utterance is not None else None
        asr_ms: float | None = None
        if utterance is not None:
            if endpoint_ms is not None:
                self._emit(StageTimed(Stage.ENDPOINT, endpoint_ms))
            try:
                text, asr_ms = await self._transcribe(utterance, clock)
            except HarkError as exc:
                return await self._fail(turn_id, clock, Stage.ASR, exc, "", endpoint_ms, asr_ms)
            if not text:
                timings = self._timings(clock, endpoint_ms, asr_ms, None)
                result = TurnResult(turn_id, "", "", (), timings)
                self._emit(TurnFinished(result))
                return result
        assert text is not None
        heard = shown or text
        speaker = _Speaker(
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
            reply = await self._reply(text, clock, speaker, records, allowed)
        except LlmError as exc:
            await speaker.abort()
            return await self._fail(
                turn_id, clock, Stage.LLM, exc, heard, endpoint_ms, asr_ms, reply, records
            )
        except BaseException:
            await speaker.abort()
            raise
        await speaker.finish()
        self._conversation.remember(text, reply)
        timings = self._timings(clock, endpoint_ms, asr_ms, speaker.first_audio_at)
        result = TurnResult(turn_id, heard, reply, tuple(records), timings)
        self._emit(TurnFinished(result))
        return result

    async def _transcribe(self, utterance: Utterance, clock: _Clock) -> tuple[str, float]:
        if self._transcriber is None:
            raise HarkError(AsrCode.NOT_CONFIGURED, "no speech recogniser is configured")
        t = clock.now()
        transcript = await self._transcriber.transcribe(utterance.pcm, utterance.sample_rate)
        asr_ms = (clock.now() - t) * 1000
        self._emit(StageTimed(Stage.ASR, asr_ms))
        text = transcript.text.strip()
        self._emit(TranscriptReady(text, transcript.language))
        return text, asr_ms

    async def _reply(
        self,
        text: str,
        clock: _Clock,
        speaker: _Speaker,
        records: list[ToolCallRecord],
        allowed: frozenset[str] | None = None,
    ) -> str:
        messages = self._conversation.messages_for(text)
        specs = [s for s in self._tools.specs() if allowed is None or s.name in allowed]
        splitter = SentenceSplitter()
        parts: list[str] = []
        clock.llm_start = clock.now()
        for _round in range(self._options.max_tool_rounds + 1):
            calls: list[ToolCall] = []
            round_text: list[str] = []
            offer_tools = specs if _round < self._options.max_tool_rounds else []
            stream = self._chat.stream_chat(messages, offer_tools)
            async with contextlib.aclosing(stream):
                async for delta in stream:
                    if delta.content:
                        if clock.first_token is None:
                            clock.first_token = clock.now()
                            self._emit(
                                StageTimed(Stage.LLM, (clock.first_token - clock.llm_start) * 1000)
                            )
                        round_text.append(delta.content)
                        self._emit(ReplyTextReceived(delta.content))
                        if self._options.stream_sentences:
                            for sentence in splitter.feed(delta.content):
                                speaker.say(sentence)
                    calls.extend(delta.tool_calls)
            parts.extend(round_text)
            if not calls:
                break
            messages.append(ChatMessage("assistant", "".join(round_text), tuple(calls)))
            for call in calls:
                self._emit(ToolCallStarted(call.name, dict(call.arguments)))
                if allowed is None or call.name in allowed:
                    result = await self._tools.call(call)
                else:  # a tool this turn did not offer: never run it
                    result = _not_offered(call.name)
                ran = dict(result.ran) if result.ran is not None else None
                self._emit(
                    ToolCallFinished(call.name, result.ok, result.content, ran, result.summary)
                )
                records.append(
                    ToolCallRecord(
                        call.name, ran or dict(call.arguments), result.ok, result.content
                    )
                )
                messages.append(ChatMessage("tool", result.content, tool_name=call.name))
        reply = "".join(parts).strip()
        if self._options.stream_sentences:
            for sentence in splitter.flush():
                speaker.say(sentence)
        else:
            spoken = clean_for_speech(reply)
            if spoken:
                speaker.say(spoken)
        return reply

    async def _fail(
        self,
        turn_id: int,
        clock: _Clock,
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
        speaker = _Speaker(
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
        timings = self._timings(clock, endpoint_ms, asr_ms, speaker.first_audio_at)
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

    def _timings(
        self,
        clock: _Clock,
        endpoint_ms: float | None,
        asr_ms: float | None,
        first_audio_at: float | None,
    ) -> TurnTimings:
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


def _not_offered(name: str) -> ToolResult:
    message = f"not done: {name} is not available for this request"
    return ToolResult(name, False, json.dumps({"not_done": message}))


class _Speaker:
    """Speaks queued sentences in order on its own task, so generation never waits on audio."""

    def __init__(
        self,
        voice: Synthesizer | None,
        sink: AudioSink,
        emit: Emit,
        clock: _Clock,
        lead_ms: float | None,
        *,
        sequential: bool = False,
        on_audio: Callable[[], None] | None = None,
    ) -> None:
        self._sequential = sequential
        self._on_audio = on_audio
        self._voice = voice
        self._sink = sink
        self._emit = emit
        self._clock = clock
        self._lead_ms = lead_ms or 0.0
        self._queue: asyncio.Queue[str | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._started = False
        self._announced = False
        self._voice_failed = False

    @property
    def first_audio_at(self) -> float | None:
        return self._sink.first_sample_at if self._started else None

    def say(self, sentence: str) -> None:
        self._emit(SentenceReady(sentence))
        if self._voice is None or self._voice_failed:
            return
        if self._task is None:
            self._task = asyncio.create_task(self._run())
        self._queue.put_nowait(sentence)

    async def finish(self) -> None:
        """Wait until everything said has been heard."""
        if self._task is None:
            return
        self._queue.put_nowait(None)
        await self._task

    async def abort(self) -> None:
        if self._task is None:
            return
        self._sink.stop()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _run(self) -> None:
        assert self._voice is not None
        voice = self._voice
        try:
            while (sentence := await self._queue.get()) is not None:
                asked = self._clock.now()
                audio = voice.synthesize(sentence)
                try:
                    async with contextlib.aclosing(audio):
                        if self._sequential:
                            await self._play([c async for c in audio], asked)
                        else:
                            async for chunk in audio:
                                await self._play([chunk], asked)
                except (TtsError, AudioError) as exc:  # no voice or no speaker: text only
                    self._voice_failed = True
                    log.warning("cannot speak, going on in text only: %s", exc.code)
                    self._emit(NoticeRaised(exc.code, exc.message))
                    break
            if self._started:
                try:
                    await self._sink.drain()
                except AudioError as exc:
                    log.warning("playback failed: %s", exc.code)
                    self._emit(NoticeRaised(exc.code, exc.message))
        except asyncio.CancelledError:
            self._sink.stop()
            raise

    async def _play(self, chunks: list[bytes], asked: float) -> None:
        assert self._voice is not None
        for chunk in chunks:
            if not self._started:
                self._emit(StageTimed(Stage.TTS, (self._clock.now() - asked) * 1000))
                await self._sink.start(self._voice.sample_rate)
                self._started = True
            await self._sink.write(chunk)
            if not self._announced:
                self._announce()

    def _announce(self) -> None:
        self._announced = True
        if self._on_audio is not None:
            self._on_audio()
        at = self._sink.first_sample_at or self._clock.now()
        self._emit(AudioStarted(self._lead_ms + (at - self._clock.start) * 1000))
