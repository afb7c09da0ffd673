"""What Ollama keeps in memory between requests, for :class:`~tests.fakes.ollama.FakeOllama`:
which models are loaded and until when (``keep_alive``), and the system prompt each one has
already evaluated (its prompt cache).

Real Ollama loads a model on the first request that needs it (seconds for a 3B model read from
disk) and unloads it ``keep_alive`` after a request (5 minutes unless the request or
``OLLAMA_KEEP_ALIVE`` says otherwise; ``0`` unloads at once, a negative value never does). Its
runner reuses the evaluated prompt where a new request starts the same way, so a turn whose
system prompt was evaluated before only evaluates what is new. The fake charges
``load_delay_s`` for a load and ``prefill_delay_s`` for a system prompt that is not cached
(both 0 unless a test or benchmark sets them), so a cold first turn can be told from a warm one.

``keep_alive`` is read as Ollama's ``api.Duration`` reads it: a number is whole seconds, a
string is a Go duration (``"30m"``, ``"1h30m"``, ``"-1m"``), anything negative means for ever;
a string Go cannot parse is the same 400 error Ollama gives (``time: invalid duration "x"``).
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

DEFAULT_KEEP_ALIVE_S = 300.0
FOREVER = math.inf

_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_NUMBER = re.compile(r"\d+(?:\.\d*)?|\.\d+")
_UNIT = re.compile(r"[^.\d]+")


class BadKeepAlive(ValueError):
    """A ``keep_alive`` Ollama refuses (its message is the error text it sends)."""


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _go_duration(text: str) -> float:
    """Seconds in a Go duration string, read (and refused) as ``time.ParseDuration`` does."""
    rest = text
    sign = -1.0 if rest[:1] == "-" else 1.0
    rest = rest[1:] if rest[:1] in ("-", "+") else rest
    if rest == "0":
        return 0.0
    if not rest:
        raise BadKeepAlive(f"time: invalid duration {_quote(text)}")
    total = 0.0
    while rest:
        number = _NUMBER.match(rest)
        if number is None:
            raise BadKeepAlive(f"time: invalid duration {_quote(text)}")
        rest = rest[number.end() :]
        unit = _UNIT.match(rest)
        name = unit.group(0) if unit else ""
        if not name:
            raise BadKeepAlive(f"time: missing unit in duration {_quote(text)}")
        if name not in _UNITS:
            raise BadKeepAlive(f"time: unknown unit {_quote(name)} in duration {_quote(text)}")
        total += float(number.group(0)) * _UNITS[name]
        rest = rest[len(name) :]
    return sign * total


def parse_keep_alive(value: object) -> float:
    """Seconds a request asks the model to stay loaded (``FOREVER`` for a negative value)."""
    if value is None:
        return DEFAULT_KEEP_ALIVE_S
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise BadKeepAlive(f"Unsupported type: '{type(value).__name__}'")
    seconds = float(int(value)) if isinstance(value, int | float) else _go_duration(value)
    return FOREVER if seconds < 0 else seconds


@dataclass
class Loaded:
    """One model in memory: until when, and the system prompt its cache holds."""

    until: float
    system: str | None = None


class Residency:
    """The models in memory and their prompt caches; thread-safe (the fake serves in threads).

    ``clock`` is the fake's idea of now (monotonic seconds), so a test can age a model out.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._models: dict[str, Loaded] = {}
        self.loads = 0
        """How many times a model was loaded (a cold start each)."""
        self.prefills = 0
        """How many times a system prompt was evaluated that the cache did not hold."""

    def admit(
        self,
        model: str,
        keep_alive_s: float,
        system: str | None,
        load_delay_s: float,
        prefill_delay_s: float,
    ) -> float:
        """A request for ``model`` arrives: the seconds it waits (load, prompt evaluation), and
        the model stays loaded ``keep_alive_s`` from now."""
        now = self.clock()
        wait = 0.0
        with self._lock:
            entry = self._models.get(model)
            if entry is None or entry.until <= now:
                entry = Loaded(now)
                self.loads += 1
                wait += load_delay_s
            if system is not None and system != entry.system:
                self.prefills += 1
                wait += prefill_delay_s
                entry.system = system
            entry.until = now + keep_alive_s
            self._models[model] = entry
            if keep_alive_s <= 0:
                del self._models[model]
        return wait

    def load(self, model: str, keep_alive_s: float, load_delay_s: float) -> float:
        """A load-only request (no messages): the seconds it waits."""
        return self.admit(model, keep_alive_s, None, load_delay_s, 0.0)

    def unload(self, model: str) -> None:
        with self._lock:
            self._models.pop(model, None)

    def running(self) -> dict[str, float]:
        """The models in memory now, each with the seconds it has left (``FOREVER``: no end)."""
        now = self.clock()
        with self._lock:
            return {m: e.until - now for m, e in self._models.items() if e.until > now}
