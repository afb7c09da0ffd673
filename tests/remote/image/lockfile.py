"""Reading the GPU box's lock files, and the script that writes them (``scripts/lock-server``).

The script is loaded as a module so the tests recompute the header digest with the very code
that wrote it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib.machinery import SourceFileLoader
from importlib.util import module_from_spec, spec_from_loader
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[3]
LOCK_SCRIPT = REPO / "scripts" / "lock-server"
SERVER_LOCK = REPO / "remote" / "image" / "requirements-server.lock"
CUDA_LOCK = REPO / "remote" / "image" / "requirements-cuda.lock"

_PIN_RE = re.compile(
    r"^(?P<name>[a-z0-9][a-z0-9._-]*)==(?P<version>[0-9][^\s;]*)(?:\s*;\s*(?P<marker>.+?))?$"
)
_HASH_RE = re.compile(r"^--hash=sha256:[0-9a-f]{64}$")


def lock_script() -> ModuleType:
    """``scripts/lock-server`` as a module (importing it compiles nothing)."""
    loader = SourceFileLoader("lock_server", str(LOCK_SCRIPT))
    spec = spec_from_loader("lock_server", loader)
    assert spec is not None
    module = module_from_spec(spec)
    loader.exec_module(module)
    return module


@dataclass(frozen=True, slots=True)
class Pin:
    """One requirement of a lock file: ``name==version [; marker]`` and its hashes."""

    name: str
    version: str
    marker: str | None
    hashes: tuple[str, ...]


def logical_lines(text: str) -> list[str]:
    """The lock's requirement lines, backslash continuations joined, comments dropped."""
    lines, current = [], ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        current += stripped
        if current.strip():
            lines.append(current.strip())
        current = ""
    if current.strip():
        lines.append(current.strip())
    return lines


def parse_pin(line: str) -> Pin:
    """Split one logical line; ``ValueError`` says what is wrong with it."""
    words = line.split(" --hash=")
    requirement = words[0].strip()
    hashes = tuple("--hash=" + w.strip() for w in words[1:])
    match = _PIN_RE.match(requirement)
    if match is None:
        raise ValueError(f"not pinned as name==version: {requirement!r}")
    bad = [h for h in hashes if not _HASH_RE.match(h)]
    if not hashes or bad:
        got = ", ".join(bad) or "none"
        raise ValueError(f"{requirement!r} needs --hash=sha256:<64 hex digits> (got {got})")
    return Pin(match["name"], match["version"], match["marker"], hashes)


def read_pins(lock: Path) -> list[Pin]:
    return [parse_pin(line) for line in logical_lines(lock.read_text(encoding="utf-8"))]
