"""``hark tray`` (and ``hark`` alone): the desktop app in the system tray, or the command
line's help where the desktop app is not installed (a server-only installation has no Qt)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from app.settings.schema import Settings


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Add ``tray`` to ``hark``'s subparsers."""
    tray: argparse.ArgumentParser = sub.add_parser(
        "tray", help="the desktop app (also what `hark` alone starts)"
    )
    return tray


def run(settings: Settings, print_help: Callable[[], None]) -> int:
    """Start the desktop app; without Qt, ``print_help`` and say how to install it."""
    try:
        from app.gui.launch import run_gui  # Qt loads only for the desktop app
    except ImportError as exc:  # a server-only install has no Qt
        print_help()
        print(
            f"\nThe desktop app is not installed here ({exc.name} is missing): "
            'scripts/setup desktop in Hark\'s folder. Meanwhile: `hark ask "…"`, `hark listen`.'
        )
        return 0
    return run_gui(settings)
