"""Composition: build the engine's adapters from the settings.

The one place that knows which concrete class implements which port. ``hark ask``, ``hark
listen``, the tray app and the benchmarks all assemble their pipeline here, so they behave the
same way. The speech and audio adapters are imported inside the builders that need them, so
that importing this module (every ``hark`` command does) loads no audio or model library.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from app.core.conversation import Conversation
from app.core.events import NoticeRaised
from app.core.pipeline import PipelineOptions, VoicePipeline
from app.core.ports import (
    AudioSink,
    ChatModel,
    Confirmer,
    Emit,
    Endpointing,
    FrameSource,
    Synthesizer,
    Transcriber,
)
from app.core.tools import ToolRegistry, register_builtin_tools
from app.google.connect import GoogleTools, add_google_tools
from app.llm.ollama import OllamaChat
from app.llm.openai_compat import OpenAIChat
from app.safety.audit import AuditLog, default_audit_path
from app.safety.policy import ActionPolicy
from app.settings.schema import LlmSettings, Settings
from app.settings.secrets import SecretStore
from app.shared.resources import system_prompt
from remote.deploy.deployed import (
    DeployedServer,
    ServerChat,
    ServerTranscriber,
    pin,
    records,
    vast_service_factory,
)

if TYPE_CHECKING:
    from app.audio.echo import EchoCanceller

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
    policy: ActionPolicy | None = None
    """The action policy around ``tools``: what the model's calls go through."""
    google: GoogleTools | None = None
    """The connected Google account's clients and tools (empty when not connected)."""
    server: DeployedServer | None = None
    """The deployed server the engine follows (``remote.use_deployment``), if any."""
    closers: list[Callable[[], object]] = field(default_factory=list)
    echo: EchoCanceller | None = None
    """The echo canceller between the speaker and the microphone (``audio.echo_cancellation``
    with a speaker to play on); :func:`build_microphone` puts it on the microphone."""

    async def aclose(self) -> None:
        """Release connections, devices and files; a failure to close one never stops the rest."""
        for close in self.closers:
            try:
                result = close()
                if inspect.isawaitable(result):
                    await result
            except Exception:
                log.warning("closing %r failed", close, exc_info=True)


def _notice(emit: Emit | None) -> Callable[[str, str], None] | None:
    if emit is None:
        return None

    def notice(code: str, message: str) -> None:
        emit(NoticeRaised(code, message))

    return notice


def build_transcriber(
    settings: Settings,
    progress: Callable[[str], None] | None,
    *,
    secrets: SecretStore | None = None,
    emit: Emit | None = None,
) -> Transcriber:
    """Speech recognition: the Hark server when ``remote.url`` is set, else this computer.

    With a server and ``remote.fallback_to_local_asr``, the local model stands in while the
    server is unreachable or busy; it is only built (and loaded) the first time that happens.
    Notices about retries and the fallback go out as ``NoticeRaised`` through ``emit``.
    """

    def local() -> Transcriber:
        from app.asr.local import LocalWhisper

        return LocalWhisper(settings.asr, progress=progress)

    if settings.remote.url is None:
        return local()

    from app.asr.server import RemoteWhisper

    secrets = secrets or SecretStore()
    notice = _notice(emit)
    remote = RemoteWhisper(
        settings.remote, settings.asr, secrets.get("server-api-key"), on_notice=notice
    )
    log.info("ASR on the Hark server at %s", settings.remote.url)
    if not settings.remote.fallback_to_local_asr:
        return remote

    from app.asr.fallback import FallbackTranscriber

    return FallbackTranscriber(remote, local, notice)


def build_endpointer(
    settings: Settings, emit: Emit | None = None, progress: Callable[[str], None] | None = None
) -> Endpointing:
    """The endpointer of ``[audio]``: webrtcvad, plus the end-of-turn model in "smart" mode.

    The model may still be downloading in a background thread; its notices (``NoticeRaised``)
    are handed to ``emit`` on the calling event loop, when there is one.
    """
    import asyncio

    from app.audio.vad import Endpointer

    notice = _notice(emit)
    if notice is not None:
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is not None:
            on_loop, running = notice, loop

            def notice(code: str, message: str) -> None:
                with contextlib.suppress(RuntimeError):  # the loop closed: Hark has stopped
                    running.call_soon_threadsafe(on_loop, code, message)

    return Endpointer.from_settings(settings.audio, notice=notice, progress=progress)


def with_deployment(settings: Settings) -> Settings:
    """``remote.use_deployment``: point ``remote`` at the newest deployment Hark recorded.

    For commands that only look (``hark doctor``); the engine follows the deployment itself
    (:func:`deployed_server`). An explicit ``remote.url`` always wins.
    """
    remote = settings.remote
    if not remote.use_deployment or remote.url is not None:
        return settings
    record = records().current()
    if record is None or not record.url:
        log.warning("remote.use_deployment is on but no deployment with an address is recorded")
        return settings
    log.info("using the deployed Hark server %s at %s", record.label, record.url)
    return pin(settings, record)


def deployed_server(settings: Settings, secrets: SecretStore, emit: Emit) -> DeployedServer | None:
    """The deployed server the engine should follow (``remote.use_deployment``), if any."""
    remote = settings.remote
    if not remote.use_deployment or remote.url is not None:
        return None
    record = records().current()
    if record is None or not record.url:
        log.warning("remote.use_deployment is on but no deployment with an address is recorded")
        return None
    return DeployedServer(settings, record, service=vast_service_factory(secrets), emit=emit)


def chat_settings(settings: Settings) -> LlmSettings:
    """The LLM settings in effect: ``llm`` as written, or pointed at the Hark server."""
    if settings.remote.url is None:
        return settings.llm
    pin = settings.remote.ca_cert
    return settings.llm.model_copy(
        update={"host": settings.remote.url, "ca_cert": pin.expanduser() if pin else None}
    )


def build_chat(settings: Settings, secrets: SecretStore) -> ChatModel:
    """The chat model: Ollama or an OpenAI-compatible server as configured (``llm.provider``),
    or Ollama behind the Hark server (its API key)."""
    if settings.remote.url is None and settings.llm.provider == "openai":
        return OpenAIChat(settings.llm, api_key=secrets.get("llm-api-key"))
    if settings.remote.url is None:
        return OllamaChat(settings.llm, token=secrets.get("llm-token"))
    log.info("LLM on the Hark server at %s", settings.remote.url)
    return OllamaChat(
        chat_settings(settings),
        token=secrets.get("server-api-key"),
        auth_hint="`hark secret set server-api-key` (or HARK_SERVER_API_KEY)",
    )


def build_voice(settings: Settings, secrets: SecretStore, emit: Emit) -> Synthesizer | None:
    from app.tts.factory import build_voice as make_voice

    def notice(code: str, message: str) -> None:
        emit(NoticeRaised(code, message))

    return make_voice(settings.tts, secrets, notice)


def build_sink(
    settings: Settings, out: Path | None, speak: bool, echo: EchoCanceller | None = None
) -> AudioSink:
    """A WAV file for ``--out``, the speaker when speaking, else a sink that discards.
    The speaker hands what it plays to ``echo``, the microphone's echo canceller."""
    from app.audio.playback import NullSink, SoundDevicePlayer, WavFileSink

    if out is not None:
        return WavFileSink(out)
    if speak:
        return SoundDevicePlayer(settings.audio.output_device, echo=echo)
    return NullSink()


def build_microphone(
    settings: Settings, engine: Engine | None = None, device: str | int | None = None
) -> FrameSource:
    """The microphone (``audio.input_device``, or ``device``) through the engine's echo
    canceller, when it has one: the endpointer and the wake word never hear Hark itself."""
    from app.audio.capture import MicrophoneSource

    spec = settings.audio.input_device if device is None else device
    if isinstance(spec, str) and spec.isdigit():
        spec = int(spec)
    return MicrophoneSource(spec, echo=engine.echo if engine is not None else None)


def build_policy(
    settings: Settings,
    secrets: SecretStore,
    tools: ToolRegistry,
    emit: Emit,
    confirmer: Confirmer | None,
) -> tuple[ActionPolicy, Callable[[], None], GoogleTools]:
    """The Google tools (when an account is connected) behind the action policy, and how to
    close its audit log. ``confirmer`` None means nothing that needs approval can run (and the
    turn says so)."""
    google = add_google_tools(tools, settings, secrets, notice=_notice(emit))
    audit = AuditLog(default_audit_path(settings.policy))
    policy = ActionPolicy(
        tools,
        google.actions,
        settings.policy,
        audit=audit,
        confirmer=confirmer,
        contacts=google.contacts,
    )

    def close() -> None:
        for part in (*google.closers, audit.close):
            try:
                part()
            except Exception:  # closing one must not stop closing the rest
                log.warning("closing %r failed", part, exc_info=True)

    return policy, close, google


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
    confirmer: Confirmer | None = None,
) -> Engine:
    """Assemble the pipeline. ``speak=False`` gives text-only replies (no voice at all)."""
    secrets = secrets or SecretStore()
    server = deployed_server(settings, secrets, emit)
    chat: ChatModel
    if server is not None:
        chat = ServerChat(server, lambda pinned: build_chat(pinned, secrets))
    else:
        chat = build_chat(settings, secrets)
    tools = ToolRegistry()
    register_builtin_tools(tools)
    policy, close_audit, google = build_policy(settings, secrets, tools, emit, confirmer)
    conversation = Conversation(
        system_prompt(settings.llm.system_prompt_file), settings.llm.history_turns
    )
    voice = build_voice(settings, secrets, emit) if (speak or out is not None) else None
    echo: EchoCanceller | None = None
    if sink is None and out is None and speak and voice is not None:
        from app.audio.echo import canceller_for

        echo = canceller_for(settings.audio, _notice(emit))
    sink = sink or build_sink(settings, out, speak and voice is not None, echo)
    transcriber: Transcriber | None = None
    if with_asr and server is not None:
        transcriber = ServerTranscriber(
            server,
            lambda pinned: build_transcriber(pinned, progress, secrets=secrets, emit=emit),
        )
    elif with_asr:
        transcriber = build_transcriber(settings, progress, secrets=secrets, emit=emit)
    pipeline = VoicePipeline(
        chat=chat,
        tools=policy,
        conversation=conversation,
        sink=sink,
        emit=emit,
        transcriber=transcriber,
        voice=voice,
        options=PipelineOptions(
            stream_sentences=settings.tts.stream_sentences,
            max_tool_rounds=settings.llm.max_tool_rounds,
            first_clause_words=settings.tts.first_clause_words,
        ),
    )
    engine = Engine(
        settings,
        pipeline,
        chat,
        tools,
        conversation,
        sink,
        transcriber,
        voice,
        server=server,
        policy=policy,
        google=google,
        echo=echo,
    )
    engine.closers.append(close_audit)
    parts = ((chat, "aclose"), (transcriber, "aclose"), (voice, "close"), (sink, "aclose"))
    for part, method in parts:
        close = getattr(part, method, None)
        if close is not None:
            engine.closers.append(close)
    return engine


# --- warm start ------------------------------------------------------------------------------
