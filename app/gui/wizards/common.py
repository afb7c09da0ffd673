"""Small pieces the wizards share: a page whose Next runs a check first, the settings
changes the pages collect, and the microphone level as a number a bar can show.

Kept apart from the pages so each page stays short and every page reports its state the
same way (a wizard page never freezes: it says "Checking…", then what it found).
"""

from __future__ import annotations

import math
from collections.abc import Awaitable
from typing import Any

import numpy as np
from PySide6.QtWidgets import QWidget, QWizardPage

from app.gui.bridge import Bridge, while_alive
from app.gui.widgets import StatusLine
from app.gui.wording import user_message

Updates = dict[str, dict[str, Any]]
"""Settings changes by section and key, as ``save_settings`` takes them (``None`` removes)."""

SILENCE_DBFS = -60.0
"""The bottom of the level bar: quieter than this shows as empty."""


def level_percent(frame: bytes) -> int:
    """How loud one frame of int16 PCM is, 0–100 on a dB scale from -60 dBFS to 0 dBFS.

    A dB scale, not a linear one: speech then fills most of the bar while a quiet room
    stays near the bottom, which is what a person checking a microphone wants to see.
    """
    samples = np.frombuffer(frame[: len(frame) - len(frame) % 2], dtype="<i2")
    if samples.size == 0:
        return 0
    rms = float(np.sqrt(np.mean(samples.astype(np.float64) ** 2)))
    if rms <= 0.0:
        return 0
    dbfs = 20.0 * math.log10(rms / 32768.0)
    scaled = (dbfs - SILENCE_DBFS) / -SILENCE_DBFS * 100.0
    return round(min(100.0, max(0.0, scaled)))


def merge_updates(*parts: Updates) -> Updates:
    """Join the pages' settings changes section by section (a later page wins on a key)."""
    merged: Updates = {}
    for part in parts:
        for section, values in part.items():
            merged.setdefault(section, {}).update(values)
    return merged


class CheckedPage(QWizardPage):
    """A wizard page whose Next first runs a check on the engine loop (a network call, say).

    ``validatePage`` starts the check and answers False; while it runs the page shows
    "Checking…" and Next is disabled; when it passes for the inputs now on the page, the page
    moves on by itself (``wizard().next()``), and a later Next with the same inputs passes at
    once. Subclasses give :meth:`check_key` (the inputs; ``None``: nothing to check),
    :meth:`precheck` (quick checks on the GUI thread) and :meth:`check` (the work).
    """

    def __init__(self, bridge: Bridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.busy = False
        self._passed_for: object = None
        self.status = StatusLine(f"{type(self).__name__} status", self)

    def check_key(self) -> object:
        return None

    def precheck(self) -> str | None:
        """A problem to show without asking anything (bad URL), or ``None``."""
        return None

    def check(self) -> Awaitable[str | None]:
        """The check; resolves to a problem to show, or ``None`` when it passed.

        Called on the GUI thread: read the inputs here and return a coroutine that uses only
        those values (it runs on the engine loop, where widgets must not be touched)."""
        raise NotImplementedError

    def ready(self) -> bool:
        """Whether the inputs are filled in enough to try Next."""
        return True

    def checking_text(self) -> str:
        return "Checking…"

    def isComplete(self) -> bool:
        return not self.busy and self.ready()

    def validatePage(self) -> bool:
        key = self.check_key()
        if key is None or key == self._passed_for:
            return True
        if self.busy:
            return False
        problem = self.precheck()
        if problem:
            self.status.show_text("error", problem)
            return False
        self.set_busy(True)
        self.status.show_text("busy", self.checking_text())
        self.bridge.run(
            self.check(),
            while_alive(self, lambda found: self._on_checked(key, found)),
            while_alive(self, self._on_failed),
        )
        return False

    def set_busy(self, busy: bool) -> None:
        self.busy = busy
        self.completeChanged.emit()

    def inputs_changed(self) -> None:
        """Connect the inputs' change signals here: a new value must be checked again."""
        self._passed_for = None
        if not self.busy:
            self.status.clear_text()
        self.completeChanged.emit()

    def _on_checked(self, key: object, problem: str | None) -> None:
        self.set_busy(False)
        if problem:
            self.status.show_text("error", problem)
            return
        if key != self.check_key():  # changed while it was checked: check again
            self.status.clear_text()
            return
        self._passed_for = key
        self.status.show_text("ok", self.passed_text())
        wizard = self.wizard()
        if wizard is not None and wizard.currentPage() is self:
            wizard.next()

    def passed_text(self) -> str:
        return "Works."

    def _on_failed(self, error: BaseException) -> None:
        self.set_busy(False)
        self.status.show_text("error", user_message(error, "The check"))
