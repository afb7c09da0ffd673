"""Composition: build the engine's adapters from the settings.

The one place that knows which concrete class implements which port. ``hark ask``, ``hark
listen``, the tray app and the benchmarks all assemble their pipeline here, so they behave the
same way.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from app.config import SecretStore, Settings
from app.core.conversation import Conversation
from app.core.events import NoticeRaised
from app.core.pipeline import PipelineOptions, VoicePipeline
from app.core.ports import AudioSink, ChatModel, Emit, Synthesizer, Transcriber
from app.core.tools import ToolRegistry, register_builtin_tools
from app.resources import system_prompt

log = logging.getLogger(__name__)


@dataclass
class Engine:
    """The assembled engine for one process: the pipeline and the adapters it was built from."""

    settings: Settings
    pipeline: VoicePipeline
    chat: ChatModel
    tools: ToolRegistry
    conversation: Conversation
    sink: AudioSink
    transcriber: Transcriber | None = None
    voice: Synthesizer | None = None
    closers: list[Callable[[], object]] = field(default_factory=list)

    async def aclose(self) -> None:
        """Release connections, devices and files; a failure to close one never stops the rest."""
        for close in self.closers:
            try:
                result = close()
                if inspect.isawaitable(result):
                    await result
            except Exception:
                log.warning("closing %r failed", close, exc_info=True)


def build_transcriber(settings: Settings, progress: Callable[[str], None] | None) -> Transcriber:
    from app.asr.local import LocalWhisper

    return LocalWhisper(settings.asr, progress=progress)


def build_chat(settings: Settings, secrets: SecretStore) -> ChatModel:
    from app.llm.ollama import OllamaChat

    return OllamaChat(settings.llm, token=secrets.get("llm-token"))


def build_voice(settings: Settings, secrets: SecretStore, emit: Emit) -> Synthesizer | None:
    from app.tts.factory import build_voice as make_voice

    def notice(code: str, message: str) -> None:
        emit(NoticeRaised(code, message))

    return make_voice(settings.tts, secrets, notice)


def build_sink(settings: Settings, out: Path | None, speak: bool) -> AudioSink:
    """A WAV file for ``--out``, the speaker when speaking, else a sink that discards."""
    from app.audio.playback import NullSink, SoundDevicePlayer, WavFileSink

    if out is not None:
        return WavFileSink(out)
    if speak:
        return SoundDevicePlayer(settings.audio.output_device)
    return NullSink()


def build_engine(
    settings: Settings,
    emit: Emit,
    *,
    secrets: SecretStore | None = None,
    out: Path | None = None,
    speak: bool = True,
    with_asr: bool = True,
    progress: Callable[[str], None] | None = None,
    sink: AudioSink | None = None,
) -> Engine:
    """Assemble the pipeline. ``speak=False`` gives text-only replies (no voice at all)."""
    secrets = secrets or SecretStore()
    chat = build_chat(settings, secrets)
    tools = ToolRegistry()
    register_builtin_tools(tools)
    conversation = Conversation(
        system_prompt(settings.llm.system_prompt_file), settings.llm.history_turns
    )
    voice = build_voice(settings, secrets, emit) if (speak or out is not None) else None
    sink = sink or build_sink(settings, out, speak and voice is not None)
    transcriber = build_transcriber(settings, progress) if with_asr else None
    pipeline = VoicePipeline(
        chat=chat,
        tools=tools,
        conversation=conversation,
        sink=sink,
        emit=emit,
        transcriber=transcriber,
        voice=voice,
        options=PipelineOptions(
            stream_sentences=settings.tts.stream_sentences,
            max_tool_rounds=settings.llm.max_tool_rounds,
        ),
    )
    engine = Engine(settings, pipeline, chat, tools, conversation, sink, transcriber, voice)
    for part, method in ((chat, "aclose"), (voice, "close"), (sink, "aclose")):
        close = getattr(part, method, None)
        if close is not None:
            engine.closers.append(close)
    return engine
