"""Time zones for the calendar: the zone ``google.time_zone`` names (or this computer's own),
and the IANA name of a zone, which Google is told along with the times."""

from __future__ import annotations

import contextlib
import os
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from app.shared.errors import ConfigCode, ConfigError


def local_zone() -> tzinfo:
    """This computer's time zone, as a DST-aware zone where it can be found (``TZ``, then
    ``/etc/localtime``, then ``/etc/timezone``); a fixed offset as the last resort."""
    name = os.environ.get("TZ", "").lstrip(":")
    candidates = [name] if name else []
    try:
        target = str(Path("/etc/localtime").resolve())
        if "zoneinfo/" in target:
            candidates.append(target.split("zoneinfo/", 1)[1])
    except OSError:
        pass
    with contextlib.suppress(OSError):
        candidates.append(Path("/etc/timezone").read_text(encoding="utf-8").strip())
    for candidate in candidates:
        try:
            return ZoneInfo(candidate)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            continue
    return datetime.now().astimezone().tzinfo or UTC


def zone_named(name: str | None) -> tzinfo:
    """The zone for ``google.time_zone`` (an IANA name); ``None`` means this computer's zone."""
    if not name:
        return local_zone()
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ConfigError(
            ConfigCode.CONFIG_INVALID,
            f"Unknown time zone {name!r}. Use an IANA name such as 'Europe/Berlin' "
            "(setting google.time_zone).",
        ) from None


def iana_name(tz: tzinfo) -> str | None:
    """An IANA name Google understands, when the zone has one."""
    key = getattr(tz, "key", None)
    if isinstance(key, str) and key:
        return key
    if tz is UTC or tz == UTC:
        return "UTC"
    return None
