"""Idle stop: a rented server that nobody uses stops itself, so it stops costing money.

Hark may be closed, the laptop asleep, the user gone for the weekend: the box itself watches
the time since the last request (``/healthz`` and ``/status`` do not count) and, after
``idle_stop_minutes``, asks Vast.ai to stop its own instance with the instance key Vast.ai gives
it. A stopped instance keeps its disk (models included) and costs only the storage;
``hark remote start`` brings it back.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from remote.server.settings import ServerSettings

log = logging.getLogger(__name__)

StopSelf = Callable[[], Awaitable[None]]


class IdleStop:
    """Calls ``stop`` once the server has been idle for ``idle_s`` seconds."""

    def __init__(
        self,
        activity: Activity,
        idle_s: float,
        stop: StopSelf,
        *,
        started_at: float,
        check_every_s: float = 30.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._activity = activity
        self._idle_s = idle_s
        self._stop = stop
        self._started_at = started_at
        self._every = min(check_every_s, max(1.0, idle_s / 4))
        self._sleep = sleep
        self.stopped = False

    def idle_for(self) -> float:
        idle = self._activity.idle_s()
        return idle if idle is not None else self._activity.clock() - self._started_at

    async def run(self) -> None:
        """Until the stop was asked for (then the instance goes down around us)."""
        while not self.stopped:
            await self._sleep(self._every)
            idle = self.idle_for()
            if idle < self._idle_s:
                continue
            log.warning("idle for %.0f min: stopping this instance to save money", idle / 60)
            try:
                await self._stop()
            except Exception as exc:  # try again at the next check, never crash the server
                log.error("could not stop this instance: %s", exc)
                continue
            self.stopped = True


def instance_key(settings: ServerSettings) -> str | None:
    """The instance's Vast.ai key: the setting, else the first line of its key file."""
    if settings.vast_instance_key is not None:
        return settings.vast_instance_key.get_secret_value()
    if settings.vast_instance_key_file is None:
        return None
    try:
        text = settings.vast_instance_key_file.read_text(encoding="utf-8")
    except OSError:
        return None
    return text.strip().splitlines()[0] if text.strip() else None


def vast_self_stop(settings: ServerSettings) -> StopSelf | None:
    """Stopping this instance through Vast.ai's API, when the instance id and key are known."""
    key = instance_key(settings)
    if settings.vast_instance_id is None or not key:
        return None
    instance_id = settings.vast_instance_id

    async def stop() -> None:
        from remote.vast.client import VastClient
        from remote.vast.settings import VastSettings

        async with VastClient(key, VastSettings(url=settings.vast_url)) as vast:
            await vast.stop(instance_id)

    return stop


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
