"""``hark remote offers`` and ``hark remote deploy``: the deployer behind a terminal.

Offers print as a table (or ``--json``). A deploy asks before renting (unless ``--yes``),
shows the deployer's progress on stderr (a bar that redraws itself on a terminal, one line per
change otherwise), and prints the new server's address and how to point Hark at it. Ctrl-C
cancels the deploy: the deployer destroys what it created (unless ``--keep``) before the
command ends, and the command says what is left.
"""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import asdict
from typing import Any

from app.cli.terminal import Terminal, confirm
from remote.deploy.deployer import Deployer
from remote.deploy.options import DeployOptions, DeployProgress, DeployTimeouts
from remote.deploy.records import RecordStore
from remote.vast.client import VastClient
from remote.vast.models import Offer

log = logging.getLogger(__name__)

EXIT_INTERRUPTED = 130
EXIT_DECLINED = 1
_BAR = 24


def timeouts_from(args: argparse.Namespace) -> DeployTimeouts:
    """The deploy's time limits from its flags."""
    return DeployTimeouts(
        boot_s=args.boot_timeout,
        address_s=args.port_timeout,
        tls_s=args.answer_timeout,
        provisioning_s=args.ready_timeout,
        poll_s=args.poll,
        max_offers=args.max_machines,
    )


def offer_rows(offers: list[Offer]) -> list[dict[str, Any]]:
    return [asdict(o) for o in offers]


def offer_table(offers: list[Offer]) -> str:
    """The offers as an aligned text table, cheapest first."""
    head = ("OFFER", "GPU", "VRAM", "$/HOUR", "RELIAB.", "DOWN", "WHERE")
    rows = [
        (
            str(o.id),
            f"{o.num_gpus or 1}× {o.gpu_name or '?'}",
            f"{(o.gpu_ram_mb or 0) / 1024:.0f} GB",
            f"{o.dph_total:.3f}" if o.dph_total is not None else "?",
            f"{o.reliability:.3f}" if o.reliability is not None else "?",
            f"{o.inet_down_mbps:.0f} Mb/s" if o.inet_down_mbps is not None else "?",
            o.geolocation or "?",
        )
        for o in offers
    ]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)) for r in [head, *rows]
    ]
    return "\n".join(line.rstrip() for line in lines) + "\n"


async def offers(
    args: argparse.Namespace, vast: VastClient, records: RecordStore, secrets: Any, out: Terminal
) -> int:
    """``hark remote offers``: what a deploy of ``--model`` could rent now."""
    found = await Deployer(vast, records, secrets).offers(args.model, args.max_price)
    if args.json:
        out.write(json.dumps(offer_rows(found)) + "\n")
    elif not found:
        out.say(f"no offer fits {args.model} now; raise --max-price or try a smaller model")
    else:
        out.say(f"offers that can run {args.model} and Whisper, cheapest first:")
        out.write(offer_table(found))
    return 0


class ProgressPrinter:
    """Shows :class:`DeployProgress` on stderr: a redrawn bar on a terminal, else lines."""

    def __init__(self, out: Terminal) -> None:
        self._out = out
        self._tty = out.err.isatty()
        self._last = ""
        self._open = False

    def __call__(self, event: DeployProgress) -> None:
        text = f"[{event.step}] {event.message}"
        if event.fraction is not None:
            filled = round(event.fraction * _BAR)
            text += f"  [{'#' * filled}{'.' * (_BAR - filled)}] {event.fraction:.0%}"
        if text == self._last:
            return
        self._last = text
        if self._tty and event.fraction is not None:
            self._out.err.write(f"\r{text}\033[K")
            self._out.err.flush()
            self._open = True
            return
        self.end()
        self._out.say(text)

    def end(self) -> None:
        if self._open:
            self._out.err.write("\n")
            self._open = False


async def deploy(
    args: argparse.Namespace, vast: VastClient, records: RecordStore, secrets: Any, out: Terminal
) -> int:
    """``hark remote deploy``: rent a GPU and bring the Hark server up (see the module doc)."""

    options = DeployOptions(
        model=args.model,
        max_dph=args.max_price,
        offer_id=args.offer,
        keep=args.keep,
        **({"disk_gb": args.disk} if args.disk is not None else {}),
        **({"idle_stop_minutes": args.idle_stop} if args.idle_stop is not None else {}),
    )
    progress = ProgressPrinter(out)
    timeouts = timeouts_from(args)
    deployer = Deployer(vast, records, secrets, on_progress=progress, timeouts=timeouts)
    if not args.yes:
        what = f"offer {args.offer}" if args.offer is not None else "the cheapest fitting GPU"
        if args.offer is None:
            found = await deployer.offers(args.model, args.max_price)
            if found and found[0].dph_total is not None:
                top = found[: timeouts.max_offers]
                high = max(o.dph_total or 0.0 for o in top)
                what += f" (from ${found[0].dph_total:.3f}/hour, at most ${high:.3f})"
        question = f"Rent {what} on Vast.ai for {args.model}? It bills until you stop it."
        if not confirm(question, out):
            out.say("nothing rented")
            return EXIT_DECLINED
    before = {d.instance_id for d in records.all()}
    try:
        record = await deployer.deploy(options)
    except BaseException:
        progress.end()
        left = [d for d in records.all() if d.instance_id not in before]
        for d in left:
            out.say(
                f"instance {d.instance_id} is left ({d.state}) and bills: "
                f"`hark remote destroy {d.instance_id}` when done"
            )
        if not left:
            out.say("nothing Hark created is left on Vast.ai")
        raise
    progress.end()
    cert = deployer.cert_path(record.instance_id)
    if args.json:
        data = record.to_json()
        data.pop("cert_pem", None)
        out.write(json.dumps({**data, "url": record.url, "ca_cert": str(cert)}) + "\n")
    else:
        out.write(f"{record.url}\n")
    out.say(f"Hark server ready on instance {record.instance_id} (${record.dph_total:.3f}/hour).")
    out.say("Use it from this computer (the key is in the keyring as server-api-key):")
    out.say(f"  export HARK_REMOTE__URL={record.url}")
    out.say(f"  export HARK_REMOTE__CA_CERT={cert}")
    out.say("or, once and for all, `[remote] use_deployment = true` in the settings file:")
    out.say("Hark then uses the newest deployed server and follows its address after a start.")
    out.say("`hark remote stop` stops the billing for the GPU; `hark remote destroy` ends it all.")
    return 0
