"""Warm start: load the speech models and the language model at start-up, so the first turn
is as fast as the tenth (``hark listen`` and the desktop app; ``hark ask`` stays lazy)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from app.compose.build import Engine
from app.core.types import ToolSpec
from app.shared.errors import HarkError

log = logging.getLogger(__name__)


@runtime_checkable
class _Loadable(Protocol):
    async def load(self) -> None: ...


@runtime_checkable
class _Warmable(Protocol):
    async def warm_up(self, system_prompt: str, tools: Sequence[ToolSpec] = ()) -> None: ...


async def preload(engine: Engine) -> None:
    """Load the speech models now, side by side, so the first turn is as quick as the tenth.

    Whisper (when it runs here) and the local voice (Piper, also when it only stands behind
    ElevenLabs) are loaded at start-up instead of at the first utterance. A speech model that
    cannot load stops the start (as before: Hark cannot hear); a voice that cannot load is
    logged and left to fail, and be told, when it first speaks.
    """
    voices = [engine.voice, getattr(engine.voice, "fallback", None)]

    async def load_voice(voice: _Loadable) -> None:
        try:
            await voice.load()
        except HarkError as exc:
            log.warning("could not load the voice at start-up (%s); going on", exc.code)

    jobs = [load_voice(v) for v in voices if isinstance(v, _Loadable)]
    transcriber: object = engine.transcriber  # the local Whisper has load(); a server has not
    if isinstance(transcriber, _Loadable):
        jobs.insert(0, transcriber.load())
    await asyncio.gather(*jobs)


async def warm_llm(engine: Engine) -> bool:
    """Load the language model and its system prompt now (``OllamaChat.warm_up``); True if done.

    Run it as a task: start-up never waits for it, and a failure (Ollama not running, the model
    missing) is only logged, since the health monitor tells the user. A deployed server Hark
    follows is left alone: a warm-up would count as use and could start a rented machine.
    """
    chat = engine.chat
    if engine.server is not None or not isinstance(chat, _Warmable):
        return False
    tools = engine.policy if engine.policy is not None else engine.tools
    try:
        await chat.warm_up(engine.conversation.system_prompt, list(tools.specs()))
    except HarkError as exc:
        log.warning("could not warm up the language model (%s): %s", exc.code, exc.message)
        return False
    return True
