"""pynput's back ends for the system being built for (``pynput.keyboard._xorg`` …).

pynput chooses its back end with ``importlib`` at run time. The stock hook lists them by
importing pynput, which fails without a display (a headless CI build) and then bundles none;
this one lists pynput's files without importing it, skipping other systems' back ends.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_FOREIGN = {"win32": ("darwin", "xorg", "uinput"), "darwin": ("win32", "xorg", "uinput")}


def _backends() -> list[str]:
    spec = importlib.util.find_spec("pynput")
    if spec is None or not spec.submodule_search_locations:
        return []
    foreign = _FOREIGN.get(sys.platform, ("win32", "darwin"))
    names = []
    for location in spec.submodule_search_locations:
        for file in Path(location).rglob("*.py"):
            parts = file.relative_to(location).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            if not any(part.lstrip("_").startswith(foreign) for part in parts):
                names.append(".".join(("pynput", *parts)))
    return sorted(names)


hiddenimports = _backends()
