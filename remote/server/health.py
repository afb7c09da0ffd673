"""Whether Ollama answers, for ``/healthz``: asked at most once every :data:`CACHE_S`, however
often ``/healthz`` is called (anyone may call it, without a key), on a client of its own with a
short timeout, so a flood of health checks neither reaches Ollama nor takes the connections
the chats need. Callers that arrive while a probe runs share its answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx

CACHE_S = 3.0
"""How long an answer stands: a box that comes up is seen within this."""
TIMEOUT_S = 2.0


class OllamaHealth:
    """The cached probe of ``{ollama_url}/api/version``."""

    def __init__(
        self,
        ollama_url: str,
        clock: Callable[[], float],
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self._url = ollama_url.rstrip("/") + "/api/version"
        self._clock = clock
        self._owns_client = client is None
        self._client = client or httpx.AsyncClient(
            timeout=httpx.Timeout(TIMEOUT_S), follow_redirects=False, trust_env=False
        )
        self._lock = asyncio.Lock()
        self._checked_at: float | None = None
        self._ok = False
        self.probes = 0
        """How many requests reached Ollama (for tests and the log)."""

    async def reachable(self) -> bool:
        async with self._lock:
            now = self._clock()
            if self._checked_at is not None and now - self._checked_at < CACHE_S:
                return self._ok
            self.probes += 1
            try:
                response = await self._client.get(self._url, timeout=TIMEOUT_S)
                response.raise_for_status()
                response.json()
                self._ok = True
            except (httpx.HTTPError, ValueError):
                self._ok = False
            self._checked_at = self._clock()
            return self._ok

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()
