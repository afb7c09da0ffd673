"""``hark secret``: store, delete or show the source of the API keys and tokens Hark uses,
kept in the OS keyring (a value is read from the terminal without echo, or from stdin)."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from app.settings.secrets import SECRET_NAMES, SecretStore
from app.shared.errors import ConfigCode, ConfigError


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Add ``secret`` to ``hark``'s subparsers."""
    secret: argparse.ArgumentParser = sub.add_parser(
        "secret", help="store API keys in the OS keyring"
    )
    secret.add_argument("action", choices=["set", "delete", "status"])
    secret.add_argument("name", nargs="?", choices=sorted(SECRET_NAMES))
    return secret


def run(action: str, name: str | None) -> int:
    """Run ``hark secret ACTION [NAME]``; ``status`` never shows a value, only where it is."""
    store = SecretStore()
    names = [name] if name else sorted(SECRET_NAMES)
    if action == "status":
        for n in names:
            print(f"{n}: {store.source(n) or 'not set'}")
        return 0
    if name is None:
        raise ConfigError(
            ConfigCode.SECRET_NAME_MISSING, f"name the secret: one of {', '.join(names)}"
        )
    if action == "set":
        value = getpass.getpass(f"{name}: ") if sys.stdin.isatty() else sys.stdin.readline()
        store.set(name, value)
        print(f"{name} stored in the keyring")
    else:
        print(f"{name} {'deleted' if store.delete(name) else 'was not set'}")
    return 0
