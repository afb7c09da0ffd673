"""A local stand-in for the Vast.ai REST API, speaking its real wire protocol.

What the official ``vastai`` SDK (1.9.1) sends, and what this fake answers (base ``.url``;
``tests/fakes/test_vast_contract.py`` drives it with the SDK so it cannot drift):

- auth: ``Authorization: Bearer <key>`` (an ``api_key`` query parameter, as older clients
  sent, is accepted too). A missing or unknown key gets ``bad_key_status`` (401, or set it to
  404 as the service sometimes answers) with ``{"success": false, "error": "auth_error"}``.
- ``POST /api/v0/bundles/``: search offers with a filter object
  (``{"gpu_ram": {"gte": 24000}, "order": [["dph_total", "asc"]], "limit": 5, ...}``,
  operators eq/neq/gt/gte/lt/lte/in/notin; values may be strings such as ``"12.4"``) →
  ``{"offers": [...]}``. Filters on fields an offer does not have are ignored.
- ``PUT /api/v0/asks/{offer_id}/``: create; ``env`` a dict (``"-p 8443:8443": "1"`` keys ask
  for ports), values ≤ 256 chars, ``onstart`` + ``args`` ≤ 4096 chars →
  ``{"success": true, "new_contract": id}``; an unknown offer 404 / a rented one 400 with
  ``"error": "no_such_ask"``; bad arguments 400 ``"invalid_args"``.
- ``GET /api/v1/instances/`` (``select_filters``, ``order_by``, ``limit``, ``after_token``;
  pages of at most ``page_size``; ``next_token`` only when more) and ``GET /api/v0/instances/``;
  ``GET /api/v0/instances/{id}/`` → ``{"instances": {...}}`` or ``{"instances": null}``.
- ``PUT /api/v0/instances/{id}/`` ``{"state": "stopped"|"running"}`` (or ``{"label": ...}``);
  ``DELETE /api/v0/instances/{id}/``; ``PUT /api/v0/instances/request_logs/{id}/`` →
  ``{"success": true, "result_url": ".../logs/<token>"}``, then ``GET`` that URL (no auth) →
  the log text. Unknown or destroyed instances: 404 ``"no_such_instance"``.

The state machine moves only when a test says so (no real time): ``actual_status`` None →
"loading" → "running" (``boot_states``); a stop leaves it "running" (intended "stopped") for
one step, then "exited"; a start goes "loading" → "running" with NEW host ports. "exited"
(while intended "running"), "offline" and "unknown" never recover. ``advance(id)`` /
``advance_all()`` step it, or ``step_on_poll=True`` steps an instance after each time it is
shown (GET one or a list page), so a polling client makes progress without sleeping.

``ports`` is absent until running, then Docker-style with STRING host ports and two bindings
per port (``{"8443/tcp": [{"HostIp": "0.0.0.0", "HostPort": "41234"}, {"HostIp": "::", ...}]}``)
drawn from a seeded RNG, or from ``on_running(instance)`` when a test sets it (it returns
``{container_port: host_port}``, e.g. to point at a real server it started). ``on_stopped``
is called when a running instance stops, exits, goes offline or is destroyed.

A dud (``dud(id)`` or an offer with ``dud=True``) reaches "running" with ports whose host
port is bound but never listens (connections are refused); ``dud(id, ports=False)`` instead
never shows ``ports`` at all. ``on_running`` is not called for a dud.

Usage::

    with FakeVast(step_on_poll=True) as fake:       # accepts DEFAULT_KEY; see valid_keys
        fake.add_offer(id=7, dph_total=0.2)
        fake.fail_next("PUT /api/v0/asks/", 429, text="slow down", count=3)
        fake.fail_create(7, status=400, error="insufficient_credit")
        ...
        fake.requests[-1].body          # what the client sent (the key is never recorded)
        assert fake.live_instances() == []
"""

from __future__ import annotations

import dataclasses
import logging
import random
import re
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from tests.fakes.vast_http import Server
from tests.fakes.vast_model import (
    DEFAULT_KEY,
    DEFAULT_OFFERS,
    MAX_ENV_VALUE,
    MAX_ONSTART,
    TERMINAL,
    FakeInstance,
    Offer,
    PortHook,
    Reply,
    VastRequest,
    close_placeholders,
    err,
    port_key,
)
from tests.support.servers import FakeService

__all__ = [
    "DEFAULT_KEY",
    "MAX_ENV_VALUE",
    "MAX_ONSTART",
    "FakeInstance",
    "FakeVast",
    "Offer",
    "VastRequest",
]

log = logging.getLogger(__name__)


@dataclass
class _Fault:
    pattern: re.Pattern[str]
    status: int | None
    body: Any
    text: str | None
    headers: dict[str, str]
    drop: bool
    lose_response: bool
    delay_s: float
    remaining: int


class FakeVast(FakeService):
    """The fake service; start it with ``with`` (or :meth:`start` / :meth:`stop`).

    Attributes a test may change at any time: ``valid_keys``, ``bad_key_status``,
    ``step_on_poll``, ``page_size``, ``on_running``, ``on_stopped``, ``logs_pending_polls``
    (404s a log URL answers before its text is ready).
    """

    def __init__(
        self,
        *,
        valid_keys: Iterable[str] = (DEFAULT_KEY,),
        default_offers: bool = True,
        step_on_poll: bool = False,
        boot_states: Iterable[str | None] = (None, "loading"),
        page_size: int = 25,
        seed: int = 0,
        bad_key_status: int = 401,
        on_running: PortHook | None = None,
        on_stopped: Callable[[FakeInstance], None] | None = None,
    ) -> None:
        super().__init__()
        self.valid_keys: set[str] = set(valid_keys)
        self.bad_key_status = bad_key_status
        self.step_on_poll = step_on_poll
        self.boot_states: tuple[str | None, ...] = tuple(boot_states)
        self.page_size = page_size
        self.on_running = on_running
        self.on_stopped = on_stopped
        self.logs_pending_polls = 0
        self.offers: dict[int, Offer] = {}
        self.instances: dict[int, FakeInstance] = {}
        self.requests: list[VastRequest] = []
        self.hook_errors: list[BaseException] = []
        self._rng = random.Random(seed)
        self._next_id = 27_000_001
        self._faults: list[_Fault] = []
        self._create_failures: dict[int, list[Reply]] = {}
        self._log_urls: dict[str, tuple[int, str, int]] = {}
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        if default_offers:
            for offer in DEFAULT_OFFERS:
                copy = dataclasses.replace(offer, extra=dict(offer.extra))
                self.offers[copy.id] = copy

    # --- lifecycle ---------------------------------------------------------------------------

    _name = "the fake Vast.ai server"
    _thread_name = "fake-vast"

    def _make_server(self) -> Server:
        return Server(self)

    def stop(self) -> None:
        """Stop serving, cut open connections, join all threads, free placeholder ports."""
        super().stop()
        with self._lock:
            for inst in self.instances.values():
                close_placeholders(inst)

    # --- offers and scripting ----------------------------------------------------------------

    def add_offer(self, **fields: Any) -> Offer:
        """Add (or replace) an offer; any :class:`Offer` field may be given, ``id`` needed."""
        offer = Offer(**fields)
        with self._lock:
            self.offers[offer.id] = offer
        return offer

    def remove_offer(self, offer_id: int) -> None:
        with self._lock:
            self.offers.pop(offer_id, None)

    def fail_next(
        self,
        pattern: str = "",
        status: int = 500,
        body: Any = None,
        *,
        text: str | None = None,
        headers: Mapping[str, str] | None = None,
        count: int = 1,
        drop: bool = False,
        lose_response: bool = False,
    ) -> None:
        """The next ``count`` requests whose ``"METHOD /path"`` matches the regex ``pattern``
        get this answer instead ("" matches all). ``text`` sends plain text instead of JSON;
        without either the service's usual JSON error is sent. ``drop`` closes the
        connection without an answer; ``lose_response`` does the work (a create really
        creates) and then drops the connection. Faults queue up in order."""
        if body is None and text is None and not drop and not lose_response:
            body = {
                429: err("too_many_requests", "API requests too frequent, slow down"),
                401: err("auth_error", "Invalid user key"),
            }.get(status, err("server_error", "Internal server error"))
        fault = _Fault(
            re.compile(pattern),
            status,
            body,
            text,
            dict(headers or {}),
            drop,
            lose_response,
            0.0,
            count,
        )
        with self._lock:
            self._faults.append(fault)

    def slow_next(self, pattern: str, seconds: float, count: int = 1) -> None:
        """The next matching requests wait ``seconds`` (or until the fake stops), then answer
        normally: for clients' timeouts."""
        fault = _Fault(re.compile(pattern), None, None, None, {}, False, False, seconds, count)
        with self._lock:
            self._faults.append(fault)

    def fail_create(
        self,
        offer_id: int,
        status: int = 400,
        error: str = "no_such_ask",
        msg: str | None = None,
        count: int = 1,
    ) -> None:
        """The next ``count`` creates on this offer fail with the service's error shape."""
        text = msg or f"Instance type by id {offer_id} is not available."
        with self._lock:
            queue = self._create_failures.setdefault(offer_id, [])
            queue.extend(Reply(status, err(error, text)) for _ in range(count))

    def instance(self, instance_id: int) -> FakeInstance:
        with self._lock:
            return self.instances[instance_id]

    def live_instances(self) -> list[FakeInstance]:
        """Instances that still exist and bill (running, booting or stopped): for "no orphan"
        assertions."""
        with self._lock:
            return [inst for inst in self.instances.values() if inst.live]

    def set_logs(self, instance_id: int, text: str) -> None:
        with self._lock:
            self.instances[instance_id].logs = text.splitlines()

    def exit_instance(self, instance_id: int, msg: str = "container exited with code 1") -> None:
        """The container dies: ``actual_status`` "exited" while intended "running"."""
        self.set_status(instance_id, "exited", msg)

    def offline_instance(self, instance_id: int) -> None:
        self.set_status(instance_id, "offline", "machine is offline")

    def set_status(self, instance_id: int, actual_status: str | None, msg: str = "") -> None:
        """Force a state (e.g. "unknown"); leaving "running" drops ``ports``."""
        with self._lock:
            inst = self.instances[instance_id]
            was_running = inst.actual_status == "running"
            self._enter(inst, actual_status, msg)
            if actual_status != "running":
                inst.ports = None
                close_placeholders(inst)
        if was_running and actual_status != "running":
            self._call_stopped(inst)

    def dud(self, instance_id: int, *, ports: bool = True) -> None:
        """This instance will run but never serve: its ports refuse connections (``ports``)
        or never appear (``ports=False``)."""
        with self._lock:
            inst = self.instances[instance_id]
            inst.dud, inst.dud_ports = True, ports

    def freeze(self, instance_id: int, frozen: bool = True) -> None:
        """Advances leave this instance where it is (stuck loading, say)."""
        with self._lock:
            self.instances[instance_id].frozen = frozen

    # --- the state machine --------------------------------------------------------------------

    def advance(self, instance_id: int, steps: int = 1) -> str | None:
        """Move the instance ``steps`` steps on; returns its ``actual_status``."""
        for _ in range(steps):
            self._step(self.instance(instance_id))
        return self.instance(instance_id).actual_status

    def advance_all(self) -> None:
        """One step for every instance that is not settled."""
        with self._lock:
            instances = list(self.instances.values())
        for inst in instances:
            self._step(inst)

    def advance_until(self, instance_id: int, status: str = "running", limit: int = 20) -> None:
        """Step until ``actual_status`` is ``status``; fails if it settles elsewhere."""
        for _ in range(limit):
            inst = self.instance(instance_id)
            if inst.actual_status == status:
                return
            self._step(inst)
        raise AssertionError(f"instance {instance_id} is {inst.actual_status!r}, not {status!r}")

    def wait_for_requests(self, count: int, timeout: float = 5.0) -> list[VastRequest]:
        with self._changed:
            if not self._changed.wait_for(lambda: len(self.requests) >= count, timeout):
                raise TimeoutError(f"only {len(self.requests)} of {count} requests arrived")
            return list(self.requests)

    def _step(self, inst: FakeInstance) -> None:
        with self._lock:
            if inst.destroyed or inst.frozen or inst._busy:
                return
            status = inst.actual_status
            if inst.intended_status == "stopped":
                if status in TERMINAL:
                    return
                self._enter(inst, "exited", "stopped by user")
                inst.ports, inst.running_since = None, None
                close_placeholders(inst)
                if status != "running":
                    return
                going_up = False
            elif status == "running" or status in TERMINAL:
                return
            elif inst.boot_index + 1 < len(self.boot_states):
                inst.boot_index += 1
                self._enter(inst, self.boot_states[inst.boot_index], "")
                return
            else:
                going_up = True
            inst._busy = True
        if going_up:
            self._go_running(inst)
            return
        try:
            self._call_stopped(inst)
        finally:
            with self._lock:
                inst._busy = False

    def _go_running(self, inst: FakeInstance) -> None:
        mapping: Mapping[Any, Any] | None = None
        try:
            if self.on_running is not None and not inst.dud:
                mapping = self.on_running(inst)
        except Exception as exc:  # a broken hook shows up as a dead container
            log.warning("fake vast: on_running failed for instance %s: %r", inst.id, exc)
            self.hook_errors.append(exc)
            with self._lock:
                inst._busy = False
                self._enter(inst, "exited", f"onstart failed: {exc}")
            return
        wanted = {port_key(k): str(v) for k, v in (mapping or {}).items()}
        with self._lock:
            inst._busy = False
            if inst.destroyed or inst.intended_status != "running":
                if mapping is not None:
                    self._call_stopped(inst)
                return
            ports: dict[str, list[dict[str, str]]] = {}
            for cport in inst.container_ports:
                host = wanted.get(cport) or self._host_port(inst)
                ports[cport] = [
                    {"HostIp": "0.0.0.0", "HostPort": host},
                    {"HostIp": "::", "HostPort": host},
                ]
            inst.ports = None if inst.dud and not inst.dud_ports else ports
            inst.running_since = time.time()
            self._enter(inst, "running", "")

    def _host_port(self, inst: FakeInstance) -> str:
        if not inst.dud:
            return str(self._rng.randrange(20000, 60000))
        placeholder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        placeholder.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        inst._placeholders.append(placeholder)
        return str(placeholder.getsockname()[1])

    def _enter(self, inst: FakeInstance, status: str | None, msg: str) -> None:
        inst.actual_status, inst.status_msg = status, msg
        inst.history.append(status)
        inst.logs.append(f"[fake-vast] instance {inst.id}: {status or 'created'} {msg}".rstrip())
        self._changed.notify_all()

    def _call_stopped(self, inst: FakeInstance) -> None:
        if self.on_stopped is None:
            return
        try:
            self.on_stopped(inst)
        except Exception as exc:
            log.warning("fake vast: on_stopped failed for instance %s: %r", inst.id, exc)
            self.hook_errors.append(exc)

    # --- used by the handler ------------------------------------------------------------------

    def _record(self, request: VastRequest) -> None:
        with self._changed:
            self.requests.append(request)
            self._changed.notify_all()

    def _take_fault(self, line: str) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.pattern.search(line):
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                    return fault
        return None
