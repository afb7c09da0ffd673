"""Leaving nothing billing behind when a deploy fails: destroy what it made, or say what is left.

:class:`Cleanup` destroys a failed machine and forgets its record (:meth:`Cleanup.discard`);
when Vast.ai will not destroy it, the record stays (state ``destroy-failed``) so ``hark remote``
still shows it. A create whose answer was lost, or that Ctrl-C interrupted, is followed up by
the instances with its unique label (:meth:`Cleanup.sweep`, :meth:`Cleanup.undo_create`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from remote.deploy.options import DeployTimeouts
from remote.deploy.records import Deployment, RecordStore
from remote.vast.client import VastClient
from remote.vast.errors import DeployError, VastCode

log = logging.getLogger(__name__)


class Cleanup:
    """Destroys a deploy's instances on ``vast`` and keeps ``records`` true to what is left.

    ``timeouts`` gives the destroy attempts and the pause between two looks (``sleep``).
    """

    def __init__(
        self,
        vast: VastClient,
        records: RecordStore,
        timeouts: DeployTimeouts,
        *,
        sleep: Callable[[float], Awaitable[None]],
    ) -> None:
        self._vast = vast
        self._records = records
        self._timeouts = timeouts
        self._sleep = sleep

    async def discard(self, record: Deployment) -> bool:
        """Destroy the instance and forget it; ``False`` (record kept) if that failed."""
        for attempt in range(1, self._timeouts.destroy_attempts + 1):
            try:
                await self._vast.destroy(record.instance_id)
            except DeployError as exc:
                log.warning(
                    "Destroying instance %s failed (%s), attempt %d",
                    record.instance_id,
                    exc.code,
                    attempt,
                )
                continue
            self._records.remove(record.instance_id)
            return True
        self._records.save(record.with_state("destroy-failed"))
        log.error("Instance %s could not be destroyed; its record is kept", record.instance_id)
        return False

    async def undo_create(
        self, create: asyncio.Future[int], label: str, record_for: Callable[[int], Deployment]
    ) -> None:
        """Ctrl-C while a create was on its way: let it finish, then destroy what it made."""
        try:
            instance_id = await create
        except DeployError as exc:
            if exc.code == VastCode.CREATE_UNCERTAIN:
                await self.sweep(label)
            return
        await self.discard(record_for(instance_id))

    async def sweep(self, label: str) -> int | None:
        """After a lost create answer: destroy what that create made (found by its label).

        Returns how many were destroyed, or ``None`` when Hark could not make sure.
        """
        destroyed: set[int] = set()
        sure = False
        for attempt in range(2):
            if attempt:
                await self._sleep(self._timeouts.poll_s)
            try:
                found = await self._vast.find_by_label(label)
            except DeployError as exc:
                log.warning("Looking for instances labelled %s failed (%s)", label, exc.code)
                continue
            sure = True
            for inst in found:
                if inst.id in destroyed:
                    continue
                try:
                    await self._vast.destroy(inst.id)
                    destroyed.add(inst.id)
                except DeployError as exc:
                    log.warning("Destroying instance %s failed (%s)", inst.id, exc.code)
                    sure = False
        return len(destroyed) if sure else None
