"""Where Hark keeps its files: the settings file, the data folder and the cache (platformdirs)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import platformdirs

APP_NAME = "hark"


CONFIG_ENV = "HARK_CONFIG"


def config_path(env: Mapping[str, str] | None = None) -> Path:
    """Where the settings file is: ``HARK_CONFIG``, else the platform's user config dir."""
    env = os.environ if env is None else env
    override = env.get(CONFIG_ENV)
    if override:
        return Path(override).expanduser()
    return Path(platformdirs.user_config_dir(APP_NAME)) / "config.toml"


def data_dir() -> Path:
    return Path(platformdirs.user_data_dir(APP_NAME))


def cache_dir() -> Path:
    return Path(platformdirs.user_cache_dir(APP_NAME))
