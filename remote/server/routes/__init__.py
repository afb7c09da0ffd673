"""The server's routes, one module per concern, sharing one :class:`ServerContext`.

``create_app`` puts the context on ``app.state.hark``; routes reach it with :func:`context`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx
from fastapi import Request

from remote.server.limits import TranscriptionQueue
from remote.server.settings import ServerSettings
from remote.server.whisper import IdleUnloader, TranscriptionEngine

if TYPE_CHECKING:
    from remote.server.idle import IdleStop


@dataclass
class Activity:
    """When the last request (other than ``/status`` and ``/healthz``) arrived."""

    clock: Callable[[], float]
    last_request_at: float | None = None

    def touch(self) -> None:
        self.last_request_at = self.clock()

    def idle_s(self) -> float | None:
        """Seconds since the last request; None when there was none yet."""
        if self.last_request_at is None:
            return None
        return max(0.0, self.clock() - self.last_request_at)


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


def context(request: Request) -> ServerContext:
    """The server context of the app serving ``request``."""
    ctx: ServerContext = request.app.state.hark
    return ctx
