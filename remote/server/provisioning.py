"""Where the GPU box is on its way to ready, as its start-up script reports it.

The box's onstart script writes a small JSON file (``HARK_SERVER__STATE_FILE``) while it
starts Ollama and pulls the model::

    {"state": "pulling-model", "detail": "pulling llama3.1:8b", "progress": 0.42,
     "model": "llama3.1:8b"}

``state`` is one of :class:`app.shared.protocol.Provisioning`. The writer should replace the file
atomically (write a temporary file, then rename it); a half-written or unknown file reads as
state ``unknown`` with the reason in ``detail``, never as an error of the server. No file
configured, or none written yet, means the server is not managed by such a script.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from app.shared.protocol import Provisioning

UNKNOWN = "unknown"
SETTING_UP = frozenset(
    {
        Provisioning.AWAITING_CODE.value,
        Provisioning.INSTALLING.value,
        Provisioning.STARTING.value,
        Provisioning.PULLING_MODEL.value,
    }
)
STEPS_FILE = "steps.tsv"
"""Beside the state file: one ``name<TAB>seconds`` line per finished boot step."""


@dataclass(frozen=True, slots=True)
class ProvisioningStatus:
    """The state file's content, checked (``state`` is a Provisioning value or ``unknown``)."""

    state: str
    detail: str | None = None
    progress: float | None = None
    """0.0 … 1.0 when the script knows it (the model download)."""
    model: str | None = None

    @property
    def setting_up(self) -> bool:
        """True while the box is still starting or pulling its model."""
        return self.state in SETTING_UP

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        """``pulling-model (pulling llama3.1:8b, 42 %)`` for messages."""
        extra = [x for x in (self.detail,) if x]
        if self.progress is not None:
            extra.append(f"{round(self.progress * 100)} %")
        return f"{self.state} ({', '.join(extra)})" if extra else self.state


def _text(value: Any, limit: int = 300) -> str | None:
    return str(value)[:limit] if isinstance(value, str | int | float) and str(value) else None


def parse_state(raw: str) -> ProvisioningStatus:
    """The status in ``raw`` (the file's text); malformed content gives state ``unknown``."""
    try:
        data = json.loads(raw)
    except ValueError as exc:
        return ProvisioningStatus(UNKNOWN, f"the state file is not valid JSON ({exc})")
    if not isinstance(data, dict):
        return ProvisioningStatus(UNKNOWN, "the state file does not hold a JSON object")
    state = data.get("state")
    detail = _text(data.get("detail"))
    if state not in {p.value for p in Provisioning}:
        detail = f"unknown state {str(state)[:40]!r}" + (f": {detail}" if detail else "")
        state = UNKNOWN
    progress = data.get("progress")
    fraction: float | None = None
    if isinstance(progress, int | float) and not isinstance(progress, bool):
        value = float(progress)
        fraction = min(1.0, max(0.0, value)) if math.isfinite(value) else None
    return ProvisioningStatus(str(state), detail, fraction, _text(data.get("model"), 200))


def read_state(path: Path | None) -> ProvisioningStatus | None:
    """The status in the state file, or None when there is no such file."""
    if path is None:
        return None
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        return ProvisioningStatus(UNKNOWN, f"the state file cannot be read ({type(exc).__name__})")
    return parse_state(raw)


@dataclass(frozen=True, slots=True)
class BootStep:
    """One finished step of the box's start-up and how long it took."""

    name: str
    seconds: float


def read_steps(state_file: Path | None, limit: int = 20) -> list[BootStep]:
    """The box's finished start-up steps (``steps.tsv`` beside the state file), in order."""
    if state_file is None:
        return []
    try:
        lines = (state_file.parent / STEPS_FILE).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return []
    steps: list[BootStep] = []
    for line in lines[:limit]:
        name, _, seconds = line.partition("\t")
        try:
            value = float(seconds)
        except ValueError:
            continue
        if name.strip() and math.isfinite(value) and value >= 0:
            steps.append(BootStep(name.strip()[:40], round(value, 1)))
    return steps
