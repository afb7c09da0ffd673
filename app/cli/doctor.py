"""``hark doctor``: run the check-up (:func:`app.doctor.checks.collect`) and print each check
with how to fix it, or all of them as JSON; the exit status is 1 when a required check fails
(warnings do not count)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import asdict
from typing import Any

from app.doctor.checks import collect
from app.settings.schema import Settings

_MARK = {"ok": "✓", "warn": "!", "fail": "✗"}


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Add ``doctor`` to ``hark``'s subparsers."""
    doctor: argparse.ArgumentParser = sub.add_parser(
        "doctor", help="check audio, models, server and keyring"
    )
    doctor.add_argument("--json", action="store_true", help="print the checks as JSON")
    return doctor


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run ``hark doctor``: print every check (or one JSON object with ``--json``); 1 when a
    required check failed, else 0."""
    checks = asyncio.run(collect(settings))
    broken = [c for c in checks if c.status == "fail" and c.required]
    if args.json:
        print(json.dumps({"ok": not broken, "checks": [asdict(c) for c in checks]}, indent=2))
    else:
        for c in checks:
            print(f"{_MARK[c.status]} {c.name}: {c.detail}")
            if c.fix and c.status != "ok":
                print(f"    fix: {c.fix}")
        print(
            "\nAll required checks passed."
            if not broken
            else f"\n{len(broken)} required check(s) failed.",
            file=sys.stderr,
        )
    return 1 if broken else 0
