"""The HTTP side of :class:`tests.fakes.vast.FakeVast`: routes, auth, filters, paging, faults.

Kept apart from the state machine so both stay readable; see ``tests/fakes/vast.py`` for what
the fake promises.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import re
import socket
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from tests.fakes.vast_model import (
    MAX_ENV_VALUE,
    MAX_ONSTART,
    REDACTED,
    FakeInstance,
    Reply,
    VastRequest,
    close_placeholders,
    err,
)
from tests.support.servers import TrackingHTTPServer

if TYPE_CHECKING:
    from tests.fakes.vast import FakeVast

log = logging.getLogger(__name__)

_ASK = re.compile(r"^/api/v0/asks/(?P<id>\d+)/$")
_ONE = re.compile(r"^/api/v0/instances/(?P<id>\d+)/$")
_LOGS = re.compile(r"^/api/v0/instances/request_logs/(?P<id>\d+)/$")
_RESULT = re.compile(r"^/logs/(?P<token>[0-9a-f]+)$")


# --- filters (the /bundles/ and /api/v1/instances/ query language) ------------------------------


def _num(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value.lower()
    return float(value) if isinstance(value, int | float) else value


def _matches(value: Any, op: str, want: Any) -> bool:
    if op in ("in", "notin"):
        pool = [_num(w) for w in (want if isinstance(want, list) else [want])]
        return (_num(value) in pool) == (op == "in")
    a, b = _num(value), _num(want)
    if op == "eq":
        return bool(a == b)
    if op == "neq":
        return bool(a != b)
    try:
        return bool({"gt": a > b, "gte": a >= b, "lt": a < b, "lte": a <= b}[op])
    except (TypeError, KeyError):
        return False


def apply_filters(rows: list[dict[str, Any]], filters: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Rows passing every ``{field: {op: value}}`` filter the rows have a field for."""
    out = []
    for row in rows:
        ok = True
        for name, ops in filters.items():
            if not isinstance(ops, dict) or name not in row:
                continue
            ok = ok and all(_matches(row[name], op, want) for op, want in ops.items())
        if ok:
            out.append(row)
    return out


def _sort(rows: list[dict[str, Any]], order: list[tuple[str, bool]]) -> list[dict[str, Any]]:
    """Stable multi-key sort; missing values go last."""

    def key(name: str) -> Callable[[dict[str, Any]], tuple[bool, Any]]:
        return lambda row: (row.get(name) is None, _num(row.get(name)) or 0)

    for name, descending in reversed(order):
        rows.sort(key=key(name), reverse=descending)
    return rows


# --- routes ---------------------------------------------------------------------------------------


def route(fake: FakeVast, method: str, path: str, query: dict[str, str], body: Any) -> Reply:
    """Answer one authenticated API call."""
    if method == "POST" and path == "/api/v0/bundles/":
        return _search(fake, body if isinstance(body, dict) else {})
    if method == "PUT" and (m := _ASK.match(path)):
        return _create(fake, int(m["id"]), body if isinstance(body, dict) else {})
    if method == "GET" and path == "/api/v1/instances/":
        return _list_v1(fake, query)
    if method == "GET" and path == "/api/v0/instances/":
        return _list_v0(fake)
    if method == "PUT" and (m := _LOGS.match(path)):
        return _request_logs(fake, int(m["id"]), body if isinstance(body, dict) else {})
    if m := _ONE.match(path):
        instance_id = int(m["id"])
        if method == "GET":
            return _show(fake, instance_id)
        if method == "PUT":
            return _change(fake, instance_id, body if isinstance(body, dict) else {})
        if method == "DELETE":
            return _destroy(fake, instance_id)
    return Reply(404, err("not_found", f"{method} {path} is not an API endpoint"))


def _search(fake: FakeVast, q: dict[str, Any]) -> Reply:
    with fake._lock:
        rows = [offer.to_json() for offer in fake.offers.values()]
    filters = {k: v for k, v in q.items() if k not in ("order", "type", "limit")}
    rows = apply_filters(rows, filters)
    order = [(str(f), str(d).lower() == "desc") for f, d in q.get("order") or []]
    rows = _sort(rows, order)
    limit = q.get("limit")
    if isinstance(limit, int | float | str) and str(limit).isdigit():
        rows = rows[: int(limit)]
    return Reply(200, {"offers": rows})


def _create(fake: FakeVast, offer_id: int, body: dict[str, Any]) -> Reply:
    env = body.get("env") or {}
    onstart = body.get("onstart")
    args = body.get("args")
    if not body.get("image") and not body.get("template_hash_id"):
        return Reply(400, err("invalid_args", "image is required"))
    if not isinstance(env, dict):
        return Reply(400, err("invalid_args", "env must be a dict of name to value"))
    for name, value in env.items():
        if len(str(value)) > MAX_ENV_VALUE:
            return Reply(
                400, err("invalid_args", f"env value for {name} exceeds {MAX_ENV_VALUE} chars")
            )
    length = len(onstart or "") + len(json.dumps(args) if args is not None else "")
    if length > MAX_ONSTART:
        return Reply(400, err("invalid_args", f"onstart and args exceed {MAX_ONSTART} chars"))
    with fake._lock:
        failures = fake._create_failures.get(offer_id)
        if failures:
            return failures.pop(0)
        offer = fake.offers.get(offer_id)
        gone = f"Instance type by id {offer_id} is not available."
        if offer is None:
            return Reply(404, err("no_such_ask", gone))
        if offer.rented or not offer.rentable:
            return Reply(400, err("no_such_ask", gone))
        disk = float(body.get("disk") or 10)
        if disk > offer.disk_space:
            return Reply(400, err("invalid_args", f"disk {disk} GB exceeds the offer's space"))
        inst = FakeInstance(
            id=fake._next_id,
            offer=offer,
            image=str(body.get("image") or ""),
            env={str(k): str(v) for k, v in env.items()},
            onstart=onstart,
            args=args,
            disk=disk,
            label=body.get("label"),
            runtype=body.get("runtype"),
            body=body,
            dud=offer.dud,
        )
        fake._next_id += 1
        offer.rented = True
        fake.instances[inst.id] = inst
        fake._enter(inst, fake.boot_states[0] if fake.boot_states else None, "")
        log.debug("fake vast: created instance %s on offer %s", inst.id, offer_id)
    return Reply(200, {"success": True, "new_contract": inst.id})


def _shown(fake: FakeVast, instances: list[FakeInstance]) -> list[dict[str, Any]]:
    """Render, then (in ``step_on_poll`` mode) move each shown instance one step on."""
    with fake._lock:
        rows = [inst.to_json() for inst in instances]
    if fake.step_on_poll:
        for inst in instances:
            fake._step(inst)
    return rows


def _list_v1(fake: FakeVast, query: dict[str, str]) -> Reply:
    def parsed(name: str, default: Any) -> Any:
        try:
            return json.loads(query[name]) if name in query else default
        except json.JSONDecodeError:
            return default

    with fake._lock:
        everything = [i for i in fake.instances.values() if not i.destroyed]
        rows = [i.to_json() for i in everything]
    filters = parsed("select_filters", {})
    rows = apply_filters(rows, filters if isinstance(filters, dict) else {})
    order_by = parsed("order_by", [{"col": "id", "dir": "asc"}])
    order = [
        (str(o.get("col")), str(o.get("dir")) == "desc") for o in order_by if isinstance(o, dict)
    ]
    rows = _sort(rows, order or [("id", False)])
    start = 0
    if query.get("after_token"):
        try:
            start = int(json.loads(base64.urlsafe_b64decode(query["after_token"]))["offset"])
        except (ValueError, KeyError, TypeError):
            return Reply(400, err("invalid_args", "after_token is not a token this API gave"))
    limit = min(int(parsed("limit", fake.page_size)), fake.page_size)
    page_ids = {r["id"] for r in rows[start : start + limit]}
    shown = _shown(fake, [i for i in everything if i.id in page_ids])
    by_id = {r["id"]: r for r in shown}
    answer: dict[str, Any] = {
        "instances": [by_id[r["id"]] for r in rows[start : start + limit]],
        "total_instances": len(rows),
    }
    if start + limit < len(rows):
        token = json.dumps({"offset": start + limit}).encode()
        answer["next_token"] = base64.urlsafe_b64encode(token).decode()
    return Reply(200, answer)


def _list_v0(fake: FakeVast) -> Reply:
    with fake._lock:
        everything = sorted(
            (i for i in fake.instances.values() if not i.destroyed), key=lambda i: i.id
        )
    return Reply(200, {"instances": _shown(fake, everything)})


def _live(fake: FakeVast, instance_id: int) -> FakeInstance | None:
    inst = fake.instances.get(instance_id)
    return None if inst is None or inst.destroyed else inst


def _no_such(instance_id: int) -> Reply:
    return Reply(404, err("no_such_instance", f"Instance {instance_id} not found."))


def _show(fake: FakeVast, instance_id: int) -> Reply:
    with fake._lock:
        inst = _live(fake, instance_id)
    if inst is None:
        return Reply(200, {"instances": None})
    return Reply(200, {"instances": _shown(fake, [inst])[0]})


def _change(fake: FakeVast, instance_id: int, body: dict[str, Any]) -> Reply:
    with fake._lock:
        inst = _live(fake, instance_id)
        if inst is None:
            return _no_such(instance_id)
        if "label" in body:
            inst.label = body["label"]
        state = body.get("state")
        if state == "stopped" and inst.intended_status != "stopped":
            inst.intended_status = "stopped"
        elif state == "running" and inst.intended_status == "stopped":
            inst.intended_status = "running"
            if inst.actual_status == "running":  # the stop had not happened yet
                fake._changed.notify_all()
                return Reply(200, {"success": True})
            inst.boot_index = max(0, len(fake.boot_states) - 1)
            fake._enter(inst, "loading", "starting")
        elif state not in (None, "stopped", "running"):
            return Reply(400, err("invalid_args", f"unknown state {state!r}"))
        fake._changed.notify_all()
    return Reply(200, {"success": True})


def _destroy(fake: FakeVast, instance_id: int) -> Reply:
    with fake._lock:
        inst = _live(fake, instance_id)
        if inst is None:
            return _no_such(instance_id)
        was_running = inst.actual_status == "running"
        inst.destroyed = True
        inst.ports = None
        inst.offer.rented = False
        close_placeholders(inst)
        fake._changed.notify_all()
    if was_running:
        fake._call_stopped(inst)
    return Reply(200, {"success": True})


def _request_logs(fake: FakeVast, instance_id: int, body: dict[str, Any]) -> Reply:
    with fake._lock:
        inst = _live(fake, instance_id)
        if inst is None:
            return _no_such(instance_id)
        lines = list(inst.logs)
        if body.get("filter"):
            lines = [line for line in lines if str(body["filter"]) in line]
        tail = str(body.get("tail") or "")
        if tail.isdigit():
            lines = lines[-int(tail) :] if int(tail) else []
        token = f"{fake._rng.getrandbits(128):032x}"
        fake._log_urls[token] = (instance_id, "\n".join(lines) + "\n", fake.logs_pending_polls)
    return Reply(200, {"success": True, "result_url": f"{fake.url}/logs/{token}"})


def _log_result(fake: FakeVast, token: str) -> Reply:
    with fake._lock:
        entry = fake._log_urls.get(token)
        if entry is None:
            return Reply(404, text="NoSuchKey")
        instance_id, text, pending = entry
        if pending > 0:
            fake._log_urls[token] = (instance_id, text, pending - 1)
            return Reply(404, text="NoSuchKey")
    return Reply(200, text=text)


# --- the server -----------------------------------------------------------------------------------


class Server(TrackingHTTPServer):
    """The fake's HTTP server on 127.0.0.1 (a free port)."""

    def __init__(self, fake: FakeVast) -> None:
        self.fake = fake
        super().__init__(("127.0.0.1", 0), _Handler)


class _Handler(BaseHTTPRequestHandler):
    disable_nagle_algorithm = True  # as real servers do: no 40 ms delayed-ACK stalls
    protocol_version = "HTTP/1.1"
    server_version = "FakeVast"
    sys_version = ""
    timeout = 30
    server: Server

    def setup(self) -> None:
        super().setup()
        self.server.track(self.request, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.request, False)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("fake vast: %s", format % args)

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def _handle(self, method: str) -> None:
        fake = self.server.fake
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        auth = self.headers.get("Authorization") or ""
        key = auth[7:] if auth.startswith("Bearer ") else query.get("api_key")
        headers = {k.lower(): v for k, v in self.headers.items()}
        if "authorization" in headers:
            headers["authorization"] = f"Bearer {REDACTED}"
        if "api_key" in query:
            query["api_key"] = REDACTED
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body: Any = json.loads(raw) if raw else None
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = raw.decode("latin-1")
        request = VastRequest(
            method, parts.path, query, headers, body, key is not None and key in fake.valid_keys
        )
        fake._record(request)
        fault = fake._take_fault(f"{method} {parts.path}")
        if fault is not None and fault.delay_s:
            fake._stopping.wait(fault.delay_s)
        if fault is not None and fault.drop:
            self._drop()
            return
        if fault is not None and fault.status is not None and not fault.lose_response:
            reply = Reply(fault.status, fault.body, fault.text, fault.headers)
        elif m := _RESULT.match(parts.path):
            reply = _log_result(fake, m["token"]) if method == "GET" else Reply(405, text="")
        elif not request.key_valid:
            reply = Reply(fake.bad_key_status, err("auth_error", "Invalid user key"))
        else:
            reply = route(fake, method, parts.path, query, body)
        if fault is not None and fault.lose_response:
            self._drop()
            return
        request.status = reply.status
        self._send(reply)

    def _drop(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _send(self, reply: Reply) -> None:
        if reply.text is not None:
            data, ctype = reply.text.encode(), "text/plain; charset=utf-8"
        else:
            data, ctype = json.dumps(reply.body).encode(), "application/json"
        self.send_response(reply.status)
        self.send_header("Content-Type", ctype)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        try:
            self.wfile.write(data)
        except OSError:
            self.close_connection = True
