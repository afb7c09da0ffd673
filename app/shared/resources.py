"""Find Hark's bundled resources (prompts, icons, sounds) wherever Hark runs from.

One place decides: a source checkout or editable install (``resources/`` beside ``app/``), a
PyInstaller bundle (``sys._MEIPASS/resources``), or a wheel install (``<prefix>/share/hark``).
"""

from __future__ import annotations

import sys
from pathlib import Path

from app.shared.errors import ConfigCode, ConfigError


def resources_root() -> Path:
    candidates = [Path(__file__).resolve().parents[2] / "resources"]
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        candidates.insert(0, Path(bundle) / "resources")
    candidates.append(Path(sys.prefix) / "share" / "hark" / "resources")
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    raise ConfigError(
        ConfigCode.RESOURCES_MISSING,
        "Hark's resources folder was not found (looked in "
        + ", ".join(str(c) for c in candidates)
        + "); reinstall Hark.",
    )


def resource_path(*parts: str) -> Path:
    return resources_root().joinpath(*parts)


def system_prompt(override: Path | None = None) -> str:
    """The system prompt: the user's own file when set, else the bundled one."""
    path = override or resource_path("prompts", "system.md")
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(
            ConfigCode.PROMPT_UNREADABLE,
            f"cannot read the system prompt {path}: {exc.strerror}. Fix llm.system_prompt_file.",
        ) from exc
