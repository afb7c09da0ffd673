"""``hark config``: where the settings file is, what the settings in effect are (secrets left
out), or a new settings file with every default written out."""

from __future__ import annotations

import argparse
import json
from typing import Any

from app.settings.load import write_default_config
from app.settings.schema import Settings
from app.shared.errors import ConfigCode, ConfigError
from app.shared.paths import config_path


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Add ``config`` to ``hark``'s subparsers."""
    config: argparse.ArgumentParser = sub.add_parser(
        "config", help="show or create the settings file"
    )
    config.add_argument("action", choices=["show", "path", "init"])
    return config


def run(action: str, settings: Settings) -> int:
    """Run ``hark config ACTION``; ``init`` never overwrites a settings file."""
    path = config_path()
    if action == "path":
        print(path)
    elif action == "show":
        print(f"# {path}{'' if path.exists() else ' (not created yet: defaults)'}")
        print(json.dumps(settings.public_dump(), indent=2))
    else:
        if path.exists():
            raise ConfigError(ConfigCode.CONFIG_EXISTS, f"{path} already exists; edit it instead.")
        write_default_config(path)
        print(f"wrote {path}")
    return 0
