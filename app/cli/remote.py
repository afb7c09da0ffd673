"""``hark remote``: deploy, watch, stop, start and destroy a Hark server on Vast.ai.

The glue between the command line and :class:`~remote.deploy.service.RemoteService` /
the deployer: argparse sub-subcommands, the Vast.ai key (``--api-key``, ``VAST_API_KEY`` or
the keyring's ``vast-api-key``; a key given with ``--api-key`` is stored in the keyring after
its first successful use), and printing (tables or ``--json`` on stdout, progress on stderr).
Errors are :class:`~remote.vast.errors.DeployError`\\ s: ``app.cli.main`` prints their message and
exits with status 2. The key is never printed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from typing import Any, TextIO

from app.cli import remote_deploy
from app.cli.terminal import Terminal, confirm
from app.settings.secrets import SecretStore
from app.shared.paths import data_dir
from remote.deploy.code import current_code
from remote.deploy.options import DeployOptions, DeployTimeouts
from remote.deploy.records import RecordStore, records_folder
from remote.deploy.service import (
    DEFAULT_POLL_S,
    DEFAULT_START_TIMEOUT_S,
    RemoteService,
    open_service,
)
from remote.deploy.status import RemoteStatus
from remote.deploy.upgrade import upgrade
from remote.vast.errors import DeployError, VastCode

log = logging.getLogger(__name__)

VAST_SECRET = "vast-api-key"
SERVER_SECRET = "server-api-key"
EXIT_INTERRUPTED = 130
_KEY_UNPROVEN = frozenset(
    {VastCode.AUTH, VastCode.UNREACHABLE, VastCode.SERVER, VastCode.RATE_LIMITED}
)
"""Errors after which the key may not have been accepted: it is not stored then."""


# --- the parser ------------------------------------------------------------------------------


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Add ``remote`` and its sub-subcommands to ``hark``'s subparsers."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--api-key",
        metavar="KEY",
        help="the Vast.ai API key (else VAST_API_KEY, else the keyring's vast-api-key; "
        "stored in the keyring after its first successful use)",
    )
    remote: argparse.ArgumentParser = sub.add_parser(
        "remote",
        help="deploy and manage a Hark server on Vast.ai",
        description="Rent a GPU on Vast.ai and run the Hark server there; watch, stop, start "
        "and destroy it. See README: Deploy to Vast.ai.",
    )
    ops = remote.add_subparsers(dest="remote_command", metavar="ACTION", required=True)

    offers = ops.add_parser("offers", parents=[common], help="the cheapest fitting GPU offers")
    offers.add_argument("--model", help="the Ollama model the server will run (sizes the GPU)")
    offers.add_argument("--max-price", type=float, metavar="USD", help="highest $/hour")
    offers.add_argument("--json", action="store_true", help="print JSON")

    deploy = ops.add_parser("deploy", parents=[common], help="rent a GPU and start a server")
    deploy.add_argument("--model", help="the Ollama model to pull there (default: llm.model)")
    deploy.add_argument("--max-price", type=float, metavar="USD", help="highest $/hour")
    deploy.add_argument("--offer", type=int, metavar="ID", help="rent this offer (see offers)")
    deploy.add_argument(
        "--keep", action="store_true", help="on failure or Ctrl-C keep the instance (debugging)"
    )
    deploy.add_argument("--disk", type=float, metavar="GB", help="disk size (default 40)")
    deploy.add_argument(
        "--idle-stop",
        type=float,
        metavar="MIN",
        help="the server stops itself after MIN minutes without a request (default 30; 0: never)",
    )
    deploy.add_argument("--yes", "-y", action="store_true", help="don't ask before renting")
    deploy.add_argument("--json", action="store_true", help="print the deployment as JSON")
    waits = DeployTimeouts()
    for flag, field_name, what in (
        ("--boot-timeout", "boot_s", "create → running"),
        ("--port-timeout", "address_s", "running → its port shown"),
        ("--answer-timeout", "tls_s", "port → the server answers over TLS"),
        ("--ready-timeout", "provisioning_s", "answering → the model pulled, ready"),
        ("--poll", "poll_s", "seconds between looks"),
    ):
        default = getattr(waits, field_name)
        deploy.add_argument(
            flag, type=float, default=default, metavar="S", help=f"{what} (default {default:.0f})"
        )
    deploy.add_argument(
        "--max-machines",
        type=int,
        default=waits.max_offers,
        metavar="N",
        help=f"machines to try before giving up (default {waits.max_offers})",
    )

    status = ops.add_parser("status", parents=[common], help="state, uptime, cost, server")
    status.add_argument("id", nargs="?", type=int, help="instance id (default: the current one)")
    status.add_argument("--all", action="store_true", help="list every Hark instance")
    status.add_argument("--json", action="store_true", help="print JSON")

    logs = ops.add_parser("logs", parents=[common], help="the server's container log")
    logs.add_argument("id", nargs="?", type=int, help="instance id")
    logs.add_argument("--tail", type=int, default=200, metavar="N", help="last N lines")

    stop = ops.add_parser("stop", parents=[common], help="stop it (keeps the disk)")
    stop.add_argument("id", nargs="?", type=int, help="instance id")

    start = ops.add_parser("start", parents=[common], help="start a stopped server again")
    start.add_argument("id", nargs="?", type=int, help="instance id")
    start.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_START_TIMEOUT_S,
        metavar="S",
        help=f"the longest wait for it to run (default {DEFAULT_START_TIMEOUT_S:.0f})",
    )
    start.add_argument(
        "--poll", type=float, default=DEFAULT_POLL_S, metavar="S", help="seconds between looks"
    )

    upgrade = ops.add_parser(
        "upgrade", parents=[common], help="make a running server run this Hark's code"
    )
    upgrade.add_argument("id", nargs="?", type=int, help="instance id")

    destroy = ops.add_parser("destroy", parents=[common], help="destroy it and its disk")
    destroy.add_argument("id", nargs="?", type=int, help="instance id")
    destroy.add_argument("--yes", "-y", action="store_true", help="don't ask")
    return remote


# --- running ---------------------------------------------------------------------------------


def vast_key(given: str | None, secrets: Any) -> str:
    """The Vast.ai key: ``--api-key``, else ``VAST_API_KEY``, else the keyring."""
    key = (given or "").strip() or secrets.get(VAST_SECRET)
    if not key:
        raise DeployError(
            VastCode.AUTH,
            "no Vast.ai API key: give --api-key KEY once (it is then kept in the keyring), "
            "set VAST_API_KEY, or run `hark secret set vast-api-key`; make a key at "
            "cloud.vast.ai → Account → API keys",
        )
    return str(key)


def run(
    args: argparse.Namespace,
    default_model: str | None = None,
    *,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Run ``hark remote ACTION``; returns the exit status (DeployErrors propagate).

    ``default_model`` (the desktop's ``llm.model``) is what ``offers``/``deploy`` size for
    when ``--model`` is not given.
    """
    secrets = SecretStore()
    key = vast_key(args.api_key, secrets)
    printer = Terminal(out or sys.stdout, err or sys.stderr)
    args.model = getattr(args, "model", None) or default_model or DeployOptions().model
    try:
        status = asyncio.run(_run(args, key, secrets, printer))
    except KeyboardInterrupt:
        printer.say(f"hark remote {args.remote_command}: interrupted")
        return EXIT_INTERRUPTED
    except DeployError as exc:
        if exc.code not in _KEY_UNPROVEN:
            _remember_key(args.api_key, secrets)  # Vast.ai answered and took the key
        raise
    _remember_key(args.api_key, secrets)
    return status


def _remember_key(given: str | None, secrets: Any) -> None:
    if not given or not given.strip():
        return
    try:
        if secrets.get(VAST_SECRET) != given.strip():
            secrets.set(VAST_SECRET, given.strip())
            log.info("stored the Vast.ai API key in the keyring (%s)", VAST_SECRET)
    except Exception as exc:  # a missing keyring must not fail a command that worked
        log.warning("could not store the Vast.ai key in the keyring: %s", type(exc).__name__)


async def _run(args: argparse.Namespace, key: str, secrets: Any, out: Terminal) -> int:
    records = RecordStore(records_folder())
    async with open_service(key, lambda: secrets.get(SERVER_SECRET), records) as service:
        vast = service.vast
        action = args.remote_command
        if action in ("offers", "deploy"):
            run_it = remote_deploy.offers if action == "offers" else remote_deploy.deploy
            return await run_it(args, vast, records, secrets, out)
        if action == "status":
            return await _status(args, service, out)
        if action == "logs":
            text = await service.logs(args.id, tail=args.tail)
            out.write(text if text.endswith("\n") or not text else text + "\n")
            return 0
        if action == "stop":
            chosen = await service.stop(args.id)
            out.say(f"instance {chosen} stopped; its disk is kept (a small storage charge).")
            out.say(f"`hark remote start {chosen}` starts it again; `destroy` removes it.")
            return 0
        if action == "start":
            record = await service.start(
                args.id, on_progress=out.say, timeout_s=args.timeout, poll_s=args.poll
            )
            if record is not None and record.url:
                out.write(f"{record.url}\n")
                out.say("the port changes with every start; point Hark at the new address:")
                out.say(f"  export HARK_REMOTE__URL={record.url}")
                out.say("(with `[remote] use_deployment = true` Hark follows it by itself)")
            return 0
        if action == "destroy":
            return await _destroy(args, service, out)
        if action == "upgrade":
            return await _upgrade(args, service, secrets, out)
    raise AssertionError(action)


async def _upgrade(
    args: argparse.Namespace, service: RemoteService, secrets: Any, out: Terminal
) -> int:
    key = secrets.get(SERVER_SECRET)
    if not key:
        out.say(f"no server key in the keyring ({SERVER_SECRET}): Hark cannot reach the server")
        return 1
    code = await asyncio.to_thread(current_code, data_dir() / "box-code")
    if await upgrade(service, args.id, key, code, out.say):
        out.say("done: the server comes back with this Hark's code (`hark remote status`)")
    return 0


async def _status(args: argparse.Namespace, service: RemoteService, out: Terminal) -> int:
    if args.all:
        found = await service.list()
        if args.json:
            rows = [
                {
                    "instance_id": r.instance_id,
                    "label": r.label,
                    "state": r.state,
                    "has_record": r.record is not None,
                }
                for r in found
            ]
            out.write(json.dumps(rows) + "\n")
        elif not found:
            out.write("no Hark instances\n")
        else:
            for r in found:
                note = "" if r.record is not None else "  (no record on this computer)"
                out.write(f"{r.instance_id}  {r.label or '-'}  {r.state}{note}\n")
        return 0
    status = await service.status(args.id)
    if args.json:
        out.write(json.dumps(status.to_json()) + "\n")
    else:
        out.write(describe_status(status))
        running = status.server.code_sha256 if status.server is not None else None
        if running:
            try:
                mine = await asyncio.to_thread(current_code, data_dir() / "box-code")
            except OSError:
                return 0
            if mine.sha256 != running:
                out.say(
                    f"the server runs other code than this {mine.describe()}: "
                    f"`hark remote upgrade {status.instance_id}` sends it"
                )
    return 0


async def _destroy(args: argparse.Namespace, service: RemoteService, out: Terminal) -> int:
    chosen = await service.resolve(args.id)
    if not args.yes and not confirm(
        f"Destroy instance {chosen} and its disk (the pulled model goes too)?", out
    ):
        out.say("nothing destroyed")
        return 1
    existed = await service.destroy(chosen)
    out.say(
        f"instance {chosen} destroyed; it no longer bills"
        if existed
        else f"instance {chosen} was already gone; its record is removed"
    )
    return 0


# --- printing --------------------------------------------------------------------------------


def _duration(seconds: float) -> str:
    minutes = int(seconds // 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"


def describe_status(status: RemoteStatus) -> str:
    """The status as a few lines of text."""
    lines = [f"instance {status.instance_id} ({status.label or 'no label'}): {status.state}"]
    facts = []
    if status.gpu_name:
        facts.append(status.gpu_name)
    if status.dph_total is not None:
        facts.append(f"${status.dph_total:.3f}/hour")
    if status.uptime_s is not None:
        facts.append(f"up {_duration(status.uptime_s)}")
    if status.cost_so_far is not None:
        facts.append(f"cost so far ≈ ${status.cost_so_far:.2f}")
    if facts:
        lines.append("  " + "   ".join(facts))
    if status.url:
        lines.append(f"  address: {status.url}")
    if status.record is None and status.state != "gone":
        lines.append("  no record on this computer (found by its hark- label)")
    if status.state == "gone":
        lines.append("  Vast.ai no longer has it; `hark remote destroy ID` forgets the record")
    server = status.server
    if server is not None:
        if not server.reachable:
            lines.append(f"  server: not answering ({server.error})")
        else:
            what = server.provisioning or "up"
            if server.detail and server.provisioning != "ready":
                what += f" ({server.detail})"
            model = {True: "model pulled", False: "model not pulled yet", None: "model ?"}
            idle = (
                "no requests yet"
                if server.idle_s is None
                else f"last request {_duration(server.idle_s)} ago"
            )
            lines.append(f"  server: {what}, {model[server.model_pulled]}, {idle}")
            if server.code_sha256:
                lines.append(f"  code: {server.code_sha256[:12]}")
    return "\n".join(lines) + "\n"
