"""A small async client for the Vast.ai REST API (httpx), speaking what the official client does.

Why not the ``vastai`` SDK: it is synchronous (``requests``), prints, sleeps, and retries a
create like any other call. Here every call is async, typed, retried only where that is safe,
and fails with a :class:`~remote.vast.errors.DeployError` whose code says what to do.

Retries (:mod:`remote.vast.transport`): a 429, a 5xx or a connection error is retried with
exponential backoff (``VastSettings.backoff_*``), honouring ``Retry-After`` up to
``retry_after_max_s`` (a longer wait fails at once with ``vast-rate-limited``) — for every
call except :meth:`VastClient.create_instance`, which is never retried. A create that may
have reached Vast.ai without an answer we can trust (a 5xx, a lost reply, a read timeout, a
reply without an id) raises ``vast-create-uncertain``: the caller must look for the instance
by label (:meth:`VastClient.find_by_label`) before trying again. A create that provably made
nothing (a refused connection: ``vast-unreachable``; a 4xx or 429: its own code) says so.

The API key only ever travels in the ``Authorization`` header; it is never logged and never
put into an error message.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import Any

import httpx

from remote.vast.errors import DeployError, VastCode, error_for, json_object
from remote.vast.models import Instance, Offer, OfferQuery, validate_create
from remote.vast.settings import VastSettings
from remote.vast.transport import VastTransport

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]

DEFAULT_RUNTYPE = "ssh_direc ssh_proxy"
"""SSH launch mode (direct, with the proxy as a fallback): Vast.ai's own entrypoint runs and
then our ``onstart`` script — in the ``args`` (entrypoint) mode ``onstart`` never runs. The
``-p`` ports we ask for are mapped to direct host ports either way; ``ssh_direc`` takes one
more direct port (for SSH), so search with ``min_direct_ports`` ≥ len(ports) + 1."""


class VastClient:
    """The Vast.ai operations Hark needs: search, create, watch, stop/start, destroy, logs.

    Pass ``client`` to share an ``httpx.AsyncClient`` (it is then not closed here) and
    ``sleep`` to control the waits between retries (tests record them).
    """

    def __init__(
        self,
        api_key: str,
        settings: VastSettings,
        *,
        client: httpx.AsyncClient | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if not api_key or not api_key.strip():
            raise DeployError(
                VastCode.AUTH,
                "no Vast.ai API key was given; make one at cloud.vast.ai → Account → API keys",
            )
        self._key = api_key.strip()
        self._settings = settings
        self._sleep = sleep
        self._owned = client is None
        self._http = client or httpx.AsyncClient(follow_redirects=True)
        self._timeout = httpx.Timeout(settings.timeout_s, connect=settings.connect_timeout_s)
        self._transport = VastTransport(self._http, self._key, settings, self._timeout, sleep=sleep)

    async def aclose(self) -> None:
        """Close the HTTP client if this object made it."""
        if self._owned:
            await self._http.aclose()

    async def __aenter__(self) -> VastClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # --- offers ----------------------------------------------------------------------------

    async def search_offers(self, filters: OfferQuery) -> list[Offer]:
        """Offers that meet ``filters``, cheapest first."""
        response = await self._transport.call(
            "POST", "/api/v0/bundles/", "search offers", json_body=filters.to_api()
        )
        rows = json_object(response).get("offers")
        if not isinstance(rows, list):
            raise DeployError(VastCode.SERVER, "Vast.ai answered an offer search without offers")
        offers = [offer for offer in map(Offer.from_api, rows) if offer is not None]
        skip = set(filters.exclude_machine_ids)
        offers = [o for o in offers if o.machine_id is None or o.machine_id not in skip]
        offers.sort(key=lambda o: float("inf") if o.dph_total is None else o.dph_total)
        return offers[: filters.limit]

    # --- create ----------------------------------------------------------------------------

    async def create_instance(
        self,
        offer_id: int,
        *,
        image: str,
        env: Mapping[str, str],
        ports: list[int],
        onstart: str,
        disk_gb: float,
        label: str,
        runtype: str = DEFAULT_RUNTYPE,
    ) -> int:
        """Rent ``offer_id`` and return the new instance's id. Never retried.

        ``ports`` become ``-p P:P`` entries of ``env`` (Vast.ai maps each to a host port).
        ``cancel_unavail`` is set: if the machine was just taken, nothing is created.
        Raises ``vast-create-uncertain`` when the request may have been received but no reply
        came: call :meth:`find_by_label` with ``label`` before anything else.
        """
        validate_create(env, ports, onstart, label)
        env_body: dict[str, str] = {f"-p {port}:{port}": "1" for port in ports}
        env_body.update(env)
        body = {
            "client_id": "me",
            "image": image,
            "env": env_body,
            "price": None,
            "disk": disk_gb,
            "label": label,
            "extra": None,
            "onstart": onstart,
            "image_login": None,
            "python_utf8": False,
            "lang_utf8": False,
            "use_jupyter_lab": False,
            "jupyter_dir": None,
            "force": False,
            "cancel_unavail": True,
            "template_hash_id": None,
            "user": None,
            "runtype": runtype,
        }
        log.info("Creating a Vast.ai instance: offer=%s label=%s image=%s", offer_id, label, image)
        path = f"/api/v0/asks/{int(offer_id)}/"
        timeout = httpx.Timeout(
            self._settings.create_timeout_s, connect=self._settings.connect_timeout_s
        )
        try:
            response = await self._transport.send("PUT", path, json_body=body, wait_limit=timeout)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise DeployError(
                VastCode.UNREACHABLE,
                f"could not connect to Vast.ai at {self._settings.url} to create the instance "
                f"({type(exc).__name__}); nothing was created — check the network and retry",
            ) from exc
        except httpx.TransportError as exc:
            raise self._uncertain(label, f"the connection failed ({type(exc).__name__})") from exc
        if response.status_code >= 500:
            raise self._uncertain(
                label, f"Vast.ai answered HTTP {response.status_code}", status=response.status_code
            )
        if response.status_code >= 400:
            raise error_for(response, f"create an instance on offer {offer_id}", secret=self._key)
        data = json_object(response)
        if data.get("success") is False:
            raise error_for(response, f"create an instance on offer {offer_id}", secret=self._key)
        new_id = data.get("new_contract")
        if isinstance(new_id, bool) or not isinstance(new_id, int | str):
            raise self._uncertain(label, "Vast.ai's reply had no instance id")
        try:
            instance_id = int(new_id)
        except ValueError as exc:
            raise self._uncertain(label, "Vast.ai's reply had no instance id") from exc
        log.info("Vast.ai instance %s created (label=%s)", instance_id, label)
        return instance_id

    def _uncertain(self, label: str, why: str, *, status: int | None = None) -> DeployError:
        return DeployError(
            VastCode.CREATE_UNCERTAIN,
            f"the create request may or may not have made an instance: {why}. Look for an "
            f"instance labelled {label!r} (hark remote status) and destroy it or use it before "
            "trying again, or it may keep billing",
            status=status,
        )

    # --- instances -------------------------------------------------------------------------

    async def list_instances(self) -> list[Instance]:
        """All of this account's instances (every page)."""
        params: dict[str, str] = {
            "select_filters": "{}",
            "order_by": json.dumps([{"col": "id", "dir": "asc"}]),
            "limit": str(self._settings.page_size),
        }
        found: list[Instance] = []
        seen_tokens: set[str] = set()
        for _ in range(self._settings.max_pages):
            response = await self._transport.call(
                "GET", "/api/v1/instances/", "list instances", params=params
            )
            data = json_object(response)
            rows = data.get("instances") or []
            if not isinstance(rows, list):
                raise DeployError(
                    VastCode.SERVER, "Vast.ai answered an instance list without a list"
                )
            found.extend(i for i in map(Instance.from_api, rows) if i is not None)
            token = data.get("next_token")
            if not token:
                return found
            token = str(token)
            if token in seen_tokens:
                raise DeployError(VastCode.SERVER, "Vast.ai's instance list repeats a page token")
            seen_tokens.add(token)
            params["after_token"] = token
        raise DeployError(
            VastCode.SERVER,
            f"Vast.ai's instance list has more than {self._settings.max_pages} pages",
        )

    async def get_instance(self, instance_id: int) -> Instance | None:
        """One instance now, or ``None`` if it does not exist (any more)."""
        try:
            response = await self._transport.call(
                "GET",
                f"/api/v0/instances/{int(instance_id)}/",
                f"read instance {instance_id}",
                params={"owner": "me"},
            )
        except DeployError as exc:
            if exc.code == VastCode.NOT_FOUND:
                return None
            raise
        row = json_object(response).get("instances")
        if isinstance(row, list):  # some API versions wrap the one row in a list
            row = row[0] if row else None
        return Instance.from_api(row)

    async def find_by_label(self, label: str) -> list[Instance]:
        """Instances labelled ``label`` or a label starting with it (``"hark-"``: all of Hark's)."""
        return [i for i in await self.list_instances() if i.label and i.label.startswith(label)]

    async def stop(self, instance_id: int) -> None:
        """Stop the instance: the GPU is released and billing drops to storage; the disk stays."""
        await self._set_state(instance_id, "stopped")

    async def start(self, instance_id: int) -> None:
        """Start a stopped instance again (its host ports may change: read them afresh)."""
        await self._set_state(instance_id, "running")

    async def _set_state(self, instance_id: int, state: str) -> None:
        log.info("Vast.ai instance %s → %s", instance_id, state)
        response = await self._transport.call(
            "PUT",
            f"/api/v0/instances/{int(instance_id)}/",
            f"set instance {instance_id} {state}",
            json_body={"state": state},
        )
        if json_object(response).get("success") is False:
            raise error_for(response, f"set instance {instance_id} {state}", secret=self._key)

    async def destroy(self, instance_id: int) -> bool:
        """Destroy the instance and its disk; ``False`` if it was already gone (not an error)."""
        log.info("Destroying Vast.ai instance %s", instance_id)
        try:
            response = await self._transport.call(
                "DELETE",
                f"/api/v0/instances/{int(instance_id)}/",
                f"destroy instance {instance_id}",
                json_body={},
            )
        except DeployError as exc:
            if exc.code == VastCode.NOT_FOUND:
                log.info("Vast.ai instance %s was already gone", instance_id)
                return False
            raise
        if json_object(response).get("success") is False:
            raise error_for(response, f"destroy instance {instance_id}", secret=self._key)
        return True

    async def logs(self, instance_id: int, *, tail: int | None = 1000) -> str:
        """The instance's container log (its last ``tail`` lines), as text.

        Vast.ai writes the log to a URL it returns; it may take a moment to appear, so the URL
        is polled (``logs_attempts`` times, ``logs_poll_s`` apart). No API key goes to it.
        """
        body: dict[str, Any] = {} if tail is None else {"tail": str(int(tail))}
        response = await self._transport.call(
            "PUT",
            f"/api/v0/instances/request_logs/{int(instance_id)}/",
            f"request the log of instance {instance_id}",
            json_body=body,
        )
        result_url = json_object(response).get("result_url")
        if not isinstance(result_url, str) or not result_url:
            raise DeployError(
                VastCode.SERVER, "Vast.ai answered a log request without a result_url"
            )
        url = httpx.URL(self._settings.url).join(result_url)
        for attempt in range(self._settings.logs_attempts):
            if attempt:
                await self._sleep(self._settings.logs_poll_s)
            try:
                result = await self._http.get(url, timeout=self._timeout)
            except httpx.TransportError as exc:
                log.warning("Instance log not reachable yet (%s); retrying", type(exc).__name__)
                continue
            if result.status_code == 200:
                return result.text
        raise DeployError(
            VastCode.LOGS_UNAVAILABLE,
            f"the log of instance {instance_id} was not ready after "
            f"{self._settings.logs_attempts} tries; try again in a minute",
        )
