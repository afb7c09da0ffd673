"""What the server's routes share: one :class:`ServerContext` per app.

``create_app`` puts the context on ``app.state.hark``; routes reach it with :func:`context`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import httpx
from fastapi import Request

from remote.server.health import OllamaHealth
from remote.server.idle import Activity, IdleStop
from remote.server.limits import PerKeyLimit, TranscriptionQueue
from remote.server.settings import ServerSettings
from remote.server.whisper import IdleUnloader, TranscriptionEngine


@dataclass
class ServerContext:
    """Everything the routes share: settings, the engine, its queue, the Ollama client."""

    settings: ServerSettings
    engine: TranscriptionEngine
    queue: TranscriptionQueue
    http: httpx.AsyncClient
    clock: Callable[[], float]
    started_at: float
    activity: Activity
    unloader: IdleUnloader | None = None
    idle_stop: IdleStop | None = None
    preloading: bool = False
    """True while the start-up load of the Whisper model (``whisper_preload``) runs."""
    health: OllamaHealth | None = None
    """``/healthz``'s cached probe of Ollama (made by the app)."""
    chats: PerKeyLimit | None = None
    """The replies each API key has being written (``chats_per_key``); None: no limit."""


def context(request: Request) -> ServerContext:
    """The server context of the app serving ``request``."""
    ctx: ServerContext = request.app.state.hark
    return ctx
