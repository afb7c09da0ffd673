"""The operations on a deployed Hark server that the GUI and ``hark remote`` share.

:class:`RemoteService` answers "what is my server doing and what does it cost?" and stops,
starts, destroys and reads the logs of it. It works from two sources that may disagree: the
deployment records on this computer (:class:`~remote.deploy.records.RecordStore`) and what
Vast.ai says now (:class:`~remote.vast.client.VastClient`). Vast.ai wins on state and price;
the record adds the pinned certificate and the creation time. An instance whose record was lost
is still found by its ``hark-`` label, so nothing Hark made can hide from the user.

Which instance an operation means: the one given, else the newest record, else the only
``hark-`` instance on the account; anything else is a clear error naming the choices. What it
reports (:class:`~remote.deploy.status.RemoteStatus`, the server's own ``/status``) is in
:mod:`remote.deploy.status`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from remote.vast.settings import VastSettings

from remote.deploy.errors import DeployCode
from remote.deploy.records import LABEL_PREFIX, Deployment, RecordStore
from remote.deploy.status import (
    HttpStatusProbe,
    RemoteInstance,
    RemoteStatus,
    StatusProbe,
    state_of,
)
from remote.vast.client import VastClient
from remote.vast.errors import DeployError
from remote.vast.models import DEAD_STATES, Instance

log = logging.getLogger(__name__)

SERVER_PORT = 8443
"""The container port the Hark server listens on (Vast.ai maps it to a host port)."""
DEFAULT_START_TIMEOUT_S = 600.0
DEFAULT_POLL_S = 3.0
Clock = Callable[[], datetime]
Sleep = Callable[[float], Awaitable[None]]
Progress = Callable[[str], None]


class RemoteService:
    """Status, stop, start, destroy, logs and list of Hark's Vast.ai servers.

    ``clock`` gives the current UTC time (uptime, cost), ``probe`` asks a running server for
    its ``/status`` (None: don't), ``sleep`` and ``monotonic`` pace and bound the wait in
    :meth:`start` (tests pass their own).
    """

    def __init__(
        self,
        vast: VastClient,
        records: RecordStore,
        *,
        clock: Clock = lambda: datetime.now(UTC),
        probe: StatusProbe | None = None,
        sleep: Sleep = asyncio.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.vast = vast
        self.records = records
        self._clock = clock
        self._probe = probe
        self._sleep = sleep
        self._monotonic = monotonic

    # --- which instance ----------------------------------------------------------------------

    async def resolve(self, instance_id: int | None = None) -> int:
        """The instance an operation means: given, newest record, or the only Hark instance."""
        if instance_id is not None:
            return int(instance_id)
        current = self.records.current()
        if current is not None:
            return current.instance_id
        found = await self.vast.find_by_label(LABEL_PREFIX)
        if len(found) == 1:
            return found[0].id
        if not found:
            raise DeployError(
                DeployCode.REMOTE_NONE,
                "no Hark server was found on this Vast.ai account and none is recorded here; "
                "make one with `hark remote deploy`",
            )
        ids = ", ".join(f"{i.id} ({i.label})" for i in found)
        raise DeployError(
            DeployCode.REMOTE_AMBIGUOUS,
            f"several Hark instances exist ({ids}) and no record says which is current; "
            "name one (for example `hark remote status ID`)",
        )

    async def list(self) -> list[RemoteInstance]:
        """Every Hark instance: the records here merged with the ``hark-`` instances on Vast.ai.

        A record whose instance is gone is listed with state ``gone``; an instance without a
        record (the record was lost) is listed too.
        """
        live = {i.id: i for i in await self.vast.find_by_label(LABEL_PREFIX)}
        records = {d.instance_id: d for d in self.records.all()}
        result = []
        for instance_id in sorted(set(live) | set(records)):
            inst, rec = live.get(instance_id), records.get(instance_id)
            if inst is None and rec is not None:
                # not labelled hark-? ask for it directly before calling it gone
                inst = await self.vast.get_instance(instance_id)
            label = (inst.label if inst else None) or (rec.label if rec else None)
            result.append(RemoteInstance(instance_id, label, state_of(inst), rec, inst))
        return result

    # --- status ------------------------------------------------------------------------------

    async def status(self, instance_id: int | None = None) -> RemoteStatus:
        """State, uptime, price, cost so far and address; the server's view when running."""
        chosen = await self.resolve(instance_id)
        inst = await self.vast.get_instance(chosen)
        record = self.records.get(chosen)
        now = self._clock()
        state = state_of(inst)
        uptime = None
        if inst is not None and state == "running" and inst.start_date is not None:
            uptime = max(0.0, now.timestamp() - inst.start_date)
        dph = (inst.dph_total if inst else None) or (record.dph_total if record else None)
        cost = None
        if dph is not None:
            if record is not None:
                cost = record.hours_so_far(now) * dph
            elif inst is not None and inst.start_date is not None:
                cost = max(0.0, now.timestamp() - inst.start_date) / 3600 * dph
        url = ""
        if inst is not None and inst.public_ip and SERVER_PORT in inst.ports:
            url = f"https://{inst.public_ip}:{inst.ports[SERVER_PORT]}"
        elif record is not None and state == "running":
            url = record.url
        server = None
        if state == "running" and record is not None and self._probe is not None:
            target = record
            if url and url != record.url and inst is not None and inst.public_ip:
                target = record.with_address(inst.public_ip, inst.ports[SERVER_PORT])
            server = await self._probe(target)
        return RemoteStatus(
            instance_id=chosen,
            label=(inst.label if inst else None) or (record.label if record else None),
            state=state,
            gpu_name=(inst.gpu_name if inst else None) or (record.gpu_name if record else None),
            dph_total=dph,
            uptime_s=uptime,
            cost_so_far=cost,
            url=url,
            record=record,
            server=server,
        )

    # --- lifecycle ---------------------------------------------------------------------------

    async def stop(self, instance_id: int | None = None) -> int:
        """Stop the instance: the GPU is released, the disk (and the pulled model) is kept."""
        chosen = await self.resolve(instance_id)
        await self._require(chosen)
        await self.vast.stop(chosen)
        record = self.records.get(chosen)
        if record is not None:
            self.records.save(record.with_state("stopped"))
        log.info("Hark server %s stopped", chosen)
        return chosen

    async def wait_stopped(
        self, instance_id: int, *, timeout_s: float = DEFAULT_START_TIMEOUT_S, poll_s: float = 5
    ) -> None:
        """Wait until a stopping instance no longer runs (before starting it again)."""
        deadline = self._monotonic() + timeout_s
        while True:
            inst = await self._require(instance_id)
            if not inst.is_running:
                return
            if self._monotonic() >= deadline:
                raise DeployError(
                    DeployCode.REMOTE_START_TIMEOUT,
                    f"instance {instance_id} did not stop in {timeout_s:.0f} s",
                )
            await self._sleep(poll_s)

    async def start(
        self,
        instance_id: int | None = None,
        *,
        on_progress: Progress | None = None,
        timeout_s: float = DEFAULT_START_TIMEOUT_S,
        poll_s: float = DEFAULT_POLL_S,
        container_port: int = SERVER_PORT,
    ) -> Deployment | None:
        """Start a stopped instance and wait until it runs with its port mapped.

        Host ports change after a restart, so they are read again and the record gets the new
        address and state ``starting`` (the server inside comes up next: :meth:`status` shows
        when it answers); the updated record is returned (None when there is no record). Raises
        ``remote-start-failed`` when it dies, ``remote-start-timeout`` after ``timeout_s``.
        """
        say = on_progress or (lambda _message: None)
        chosen = await self.resolve(instance_id)
        await self._require(chosen)
        say(f"starting instance {chosen}")
        await self.vast.start(chosen)
        deadline = self._monotonic() + timeout_s
        last_state = ""
        booting = False  # right after the start request Vast.ai may still show "exited"
        while True:
            inst = await self.vast.get_instance(chosen)
            if inst is None:
                raise DeployError(
                    DeployCode.REMOTE_GONE, f"instance {chosen} disappeared while starting"
                )
            state = state_of(inst)
            dead = inst.actual_status in DEAD_STATES and not inst.is_stopped
            booting = booting or not dead
            if dead and booting:
                raise DeployError(
                    DeployCode.REMOTE_START_FAILED,
                    f"instance {chosen} went {inst.actual_status} while starting"
                    f"{': ' + inst.status_msg if inst.status_msg else ''}; see `hark remote logs`,"
                    " or destroy it and deploy again",
                )
            if inst.is_running and not inst.is_stopped and inst.public_ip:
                port = inst.ports.get(container_port)
                if port is not None:
                    say(f"instance {chosen} is running at {inst.public_ip}:{port}")
                    return self._update_address(chosen, inst.public_ip, port)
                state = "running, waiting for its port"
            if state != last_state:
                say(f"instance {chosen}: {state}")
                last_state = state
            if self._monotonic() >= deadline:
                raise DeployError(
                    DeployCode.REMOTE_START_TIMEOUT,
                    f"instance {chosen} was not running with port {container_port} open after "
                    f"{timeout_s:.0f} s (it is {state}); wait longer (--timeout) or stop it "
                    "with `hark remote stop` so it does not bill",
                )
            await self._sleep(poll_s)

    def _update_address(self, instance_id: int, public_ip: str, port: int) -> Deployment | None:
        record = self.records.get(instance_id)
        if record is None:
            return None
        updated = record.with_address(public_ip, port).with_state("starting")
        self.records.save(updated)
        return updated

    async def destroy(self, instance_id: int | None = None) -> bool:
        """Destroy the instance and its disk, and forget its record.

        Returns False when Vast.ai no longer had it (the record is removed all the same).
        """
        chosen = await self.resolve(instance_id)
        existed = await self.vast.destroy(chosen)
        self.records.remove(chosen)
        log.info("Hark server %s destroyed (existed=%s)", chosen, existed)
        return existed

    async def logs(self, instance_id: int | None = None, *, tail: int | None = 200) -> str:
        """The instance's container log, its last ``tail`` lines."""
        chosen = await self.resolve(instance_id)
        return await self.vast.logs(chosen, tail=tail)

    async def _require(self, instance_id: int) -> Instance:
        inst = await self.vast.get_instance(instance_id)
        if inst is None:
            raise DeployError(
                DeployCode.REMOTE_GONE,
                f"instance {instance_id} no longer exists on Vast.ai; forget it with "
                f"`hark remote destroy {instance_id}`, or deploy a new server",
            )
        return inst


@asynccontextmanager
async def open_service(
    vast_key: str,
    server_key: Callable[[], str | None],
    records: RecordStore,
    settings: VastSettings | None = None,
) -> AsyncIterator[RemoteService]:
    """A RemoteService on the Vast.ai API (``HARK_VAST__*`` settings unless given), asking the
    servers' ``/status`` with the key ``server_key`` reads when needed; closed at the end."""
    from remote.vast.settings import VastSettings

    async with VastClient(vast_key, settings or VastSettings()) as vast:
        yield RemoteService(vast, records, probe=HttpStatusProbe(server_key))
