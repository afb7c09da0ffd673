"""The reply of one turn: stream the model's answer, run the tool calls it asks for (round by
round, up to a limit), and hand sentences to the speaker as soon as they are cut.

Only the tools offered in the turn may run; a call of any other gets ``not_done`` back.
"""

from __future__ import annotations

import contextlib
import json

from app.core.events import (
    ReplyTextReceived,
    Stage,
    StageTimed,
    ToolCallFinished,
    ToolCallRecord,
    ToolCallStarted,
)
from app.core.ports import ChatModel, Emit, Tools
from app.core.sentences import SentenceSplitter, clean_for_speech
from app.core.speaker import Speaker
from app.core.timing import TurnClock
from app.core.types import ChatMessage, ToolCall, ToolResult


async def stream_reply(
    chat: ChatModel,
    tools: Tools,
    messages: list[ChatMessage],
    *,
    emit: Emit,
    clock: TurnClock,
    speaker: Speaker,
    records: list[ToolCallRecord],
    allowed: frozenset[str] | None,
    max_tool_rounds: int,
    stream_sentences: bool,
    first_clause_words: int = 0,
) -> str:
    """The whole reply text; ``records`` gets every tool call made on the way.

    With ``stream_sentences`` each sentence is spoken as soon as it is complete; without, the
    whole reply is spoken at the end; ``first_clause_words`` lets the first piece end at a
    clause (:class:`~app.core.sentences.SentenceSplitter`). Text written before a tool call is
    cut off there (its last piece need not end a sentence) and ends the speaker's run
    (:meth:`Speaker.end_run`). The last round offers no tools, so the model must answer.
    """
    specs = [s for s in tools.specs() if allowed is None or s.name in allowed]
    splitter = SentenceSplitter(first_clause_words=first_clause_words)
    parts: list[str] = []
    clock.llm_start = clock.now()
    for _round in range(max_tool_rounds + 1):
        calls: list[ToolCall] = []
        round_text: list[str] = []
        offer_tools = specs if _round < max_tool_rounds else []
        stream = chat.stream_chat(messages, offer_tools)
        async with contextlib.aclosing(stream):
            async for delta in stream:
                if delta.content:
                    if stream_sentences and not round_text:
                        speaker.begin()  # a streaming voice connects while the model writes
                    if clock.first_token is None:
                        clock.first_token = clock.now()
                        emit(StageTimed(Stage.LLM, (clock.first_token - clock.llm_start) * 1000))
                    if not round_text and _needs_space(parts, delta.content):
                        parts.append(" ")  # "Let me check." + "It is noon." are two sentences
                        emit(ReplyTextReceived(" "))
                    round_text.append(delta.content)
                    emit(ReplyTextReceived(delta.content))
                    if stream_sentences:
                        for sentence in splitter.feed(delta.content):
                            speaker.say(sentence)
                calls.extend(delta.tool_calls)
        parts.extend(round_text)
        if not calls:
            break
        if stream_sentences:  # what was written before the tool call is spoken while it runs
            for sentence in splitter.flush():
                speaker.say(sentence)
            speaker.end_run()
        messages.append(ChatMessage("assistant", "".join(round_text), tuple(calls)))
        for call in calls:
            emit(ToolCallStarted(call.name, dict(call.arguments)))
            if allowed is None or call.name in allowed:
                result = await tools.call(call)
            else:  # a tool this turn did not offer: never run it
                result = _not_offered(call.name)
            ran = dict(result.ran) if result.ran is not None else None
            emit(ToolCallFinished(call.name, result.ok, result.content, ran, result.summary))
            records.append(
                ToolCallRecord(call.name, ran or dict(call.arguments), result.ok, result.content)
            )
            messages.append(
                ChatMessage("tool", result.content, tool_name=call.name, tool_call_id=call.id)
            )
    reply = "".join(parts).strip()
    if stream_sentences:
        for sentence in splitter.flush():
            speaker.say(sentence)
    else:
        spoken = clean_for_speech(reply)
        if spoken:
            speaker.say(spoken)
    return reply


def _needs_space(parts: list[str], piece: str) -> bool:
    """Whether the text of a new round must be parted from the last round's by a space."""
    return bool(parts) and not parts[-1][-1:].isspace() and not piece[:1].isspace()


def _not_offered(name: str) -> ToolResult:
    message = f"not done: {name} is not available for this request"
    return ToolResult(name, False, json.dumps({"not_done": message}))
