"""Saving settings: a read-modify-write of the user's TOML file that never leaves it broken.

The settings dialog (and anything else that changes settings) calls :func:`save_settings` with
only the keys that changed. The file is read, the changes merged in, and the result checked
with :func:`app.settings.load.load_settings` *before* it replaces the file, so a bad value raises
``ConfigError`` and loses nothing. The new file is written to a temporary file beside it
(mode 0600) and moved into place with ``os.replace``, so a crash leaves the old file or the new
one, never half of one; the previous version is kept as ``config.toml.bak``.

Hark rewrites the whole file with ``tomli_w``: comments and the order of hand-edited lines are
lost when settings are saved from the app (the ``.bak`` keeps the previous text). Secrets are
never written: ``load_settings`` refuses secret-looking keys, so such an update fails.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import tomli_w

from app.settings.load import load_settings
from app.settings.schema import Settings
from app.shared.errors import ConfigCode, ConfigError
from app.shared.paths import config_path

log = logging.getLogger(__name__)

BACKUP_SUFFIX = ".bak"
FILE_MODE = 0o600


def read_settings_file(path: Path) -> dict[str, Any]:
    """What the file holds as plain data (empty when there is no file yet)."""
    if not path.exists():
        return {}
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            ConfigCode.CONFIG_READ, f"cannot read {path}: {exc.strerror or exc}"
        ) from exc
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            ConfigCode.CONFIG_PARSE,
            f"{path} is not valid TOML: {exc}. Fix the line it names, then save again.",
        ) from exc


def merge_updates(data: Mapping[str, Any], updates: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` with ``updates`` merged in: tables merge key by key, ``None`` removes a key,
    and a table left empty by removals is dropped."""
    out: dict[str, Any] = dict(data)
    for key, value in updates.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, Mapping):
            current = out.get(key)
            merged = merge_updates(current if isinstance(current, Mapping) else {}, value)
            if merged:
                out[key] = merged
            else:
                out.pop(key, None)
        else:
            out[key] = _plain(value)
    return out


def _plain(value: Any) -> Any:
    """A value as TOML can hold it (paths as text, tuples as lists)."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def save_settings(
    updates: Mapping[str, Mapping[str, Any]],
    path: Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
) -> Settings:
    """Merge ``updates`` (section → key → value; ``None`` removes a key) into the settings file
    and return the settings it now gives.

    The merged file is validated on its own (``env={}``) and together with the environment
    overrides (``env``, default ``os.environ``) before it replaces the old one; on a bad value
    ``ConfigError`` names it and the file stays as it was. Keys not in ``updates`` are kept;
    comments are not (see the module docstring). The returned settings include the
    environment's overrides, as the app would load them at its next start.
    """
    file = path or config_path()
    current = read_settings_file(file)
    merged = merge_updates(current, updates)
    try:
        text = tomli_w.dumps(merged)
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            ConfigCode.CONFIG_INVALID, f"a setting cannot be written to TOML: {exc}"
        ) from exc
    file.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(prefix=".config-", suffix=".toml.tmp", dir=file.parent)
    temp = Path(temp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, FILE_MODE)
        _check(temp, file, {})
        settings = _check(temp, file, os.environ if env is None else env)
        if file.exists():
            _backup(file)
        os.replace(temp, file)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
    changed = ", ".join(sorted(_keys(updates))) or "nothing"
    log.info("settings saved to %s (%s)", file, changed)
    return settings


def _check(temp: Path, file: Path, env: Mapping[str, str]) -> Settings:
    """Validate the new text; errors name the real file, not the temporary one."""
    try:
        return load_settings(temp, env=env)
    except ConfigError as exc:
        message = exc.message.replace(str(temp), str(file))
        raise ConfigError(exc.code, message) from None


def _backup(file: Path) -> None:
    """Keep the previous version as ``<name>.bak`` (0600: it may hold addresses too)."""
    backup = file.with_name(file.name + BACKUP_SUFFIX)
    data = file.read_bytes()
    fd = os.open(backup, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(backup, FILE_MODE)


def _keys(updates: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Dotted names of the keys an update touches (for the log; never the values)."""
    names: list[str] = []
    for key, value in updates.items():
        if isinstance(value, Mapping) and value:
            names.extend(_keys(value, f"{prefix}{key}."))
        else:
            names.append(f"{prefix}{key}")
    return names
