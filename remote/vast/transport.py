"""The HTTP side of the Vast.ai client: the key in its header, and retries only where safe.

:meth:`VastTransport.send` sends one request (a create goes this way: it is never retried);
:meth:`VastTransport.call` retries a 429, a 5xx or a connection error with exponential backoff
(``VastSettings.backoff_*``), honouring ``Retry-After`` up to ``retry_after_max_s``, and turns
a failed answer into a :class:`~remote.vast.errors.DeployError` (:func:`error_for`, with the
key scrubbed from what Vast.ai said).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import httpx

from remote.vast.errors import DeployError, VastCode, error_for, json_object, retry_after
from remote.vast.settings import VastSettings

log = logging.getLogger(__name__)

_USER_AGENT = "hark-assistant (vast client)"


class VastTransport:
    """Requests to the Vast.ai API on ``http`` with ``key``, paced by ``sleep`` between tries."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        key: str,
        settings: VastSettings,
        timeout: httpx.Timeout,
        *,
        sleep: Callable[[float], Awaitable[None]],
    ) -> None:
        self._http = http
        self._key = key
        self._settings = settings
        self._timeout = timeout
        self._sleep = sleep

    async def send(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: Mapping[str, str] | None = None,
        wait_limit: httpx.Timeout | None = None,
    ) -> httpx.Response:
        """One request with the key, never retried (a create must not be sent twice)."""
        return await self._http.request(
            method,
            self._settings.url + path,
            json=json_body,
            params=params,
            headers={
                "Authorization": f"Bearer {self._key}",
                "User-Agent": _USER_AGENT,
                "Accept": "application/json",
            },
            timeout=wait_limit or self._timeout,
        )

    async def call(
        self,
        method: str,
        path: str,
        what: str,
        *,
        json_body: Any = None,
        params: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """Send with retries (429, 5xx, connection errors); return a 2xx/3xx or raise."""
        settings = self._settings
        delay = settings.backoff_s
        attempts = settings.retries + 1
        for attempt in range(1, attempts + 1):
            last = attempt == attempts
            try:
                response = await self.send(method, path, json_body=json_body, params=params)
            except httpx.TransportError as exc:
                if last:
                    raise DeployError(
                        VastCode.UNREACHABLE,
                        f"could not {what}: Vast.ai at {settings.url} did not answer "
                        f"({type(exc).__name__}) after {attempts} tries; check the network",
                    ) from exc
                log.warning(
                    "Vast.ai %s %s failed (%s); retry %d in %.1fs",
                    method,
                    path,
                    type(exc).__name__,
                    attempt,
                    delay,
                )
                await self._sleep(delay)
                delay = min(delay * settings.backoff_factor, settings.backoff_max_s)
                continue
            status = response.status_code
            if status != 429 and status < 500:
                if status >= 400:
                    raise error_for(response, what, secret=self._key)
                return response
            wait = delay
            if status == 429:
                asked = retry_after(response)
                quota = json_object(response).get("error") == "search_quota_exceeded"
                if quota or (asked is not None and asked > settings.retry_after_max_s):
                    raise error_for(response, what, secret=self._key)
                if asked is not None:
                    wait = asked
            if last:
                raise error_for(response, what, secret=self._key)
            log.warning(
                "Vast.ai %s %s answered %d; retry %d in %.1fs", method, path, status, attempt, wait
            )
            await self._sleep(wait)
            delay = min(delay * settings.backoff_factor, settings.backoff_max_s)
        raise AssertionError("unreachable")  # pragma: no cover
