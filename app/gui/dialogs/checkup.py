"""Check my setup: ``hark doctor``'s checks in a window, each with its status and its fix.

The checks (:func:`app.doctor.checks.collect`)
list sound devices, reach the LLM, the Hark server and
Google, so they run in a worker thread with an event loop of their own — never on the Qt
thread, and never holding up a turn on the engine loop. Each row fills in as its check ends.
A check Hark's own windows can fix has a button that opens the right Settings page.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFrame,
    QGridLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from app.doctor.check import Check
from app.gui.bridge import Bridge, Relay, while_alive

if TYPE_CHECKING:
    from app.settings.schema import Settings
    from app.settings.secrets import SecretStore

log = logging.getLogger(__name__)

INTRO = (
    "Hark checks what it needs: the sound devices, speech recognition, the language model, "
    "the voice, Google and the password store. Nothing is changed."
)
TITLES = {
    "settings": "Settings file",
    "audio": "Sound system",
    "microphone": "Microphone",
    "speaker": "Speaker",
    "speech model": "Speech recognition",
    "local speech model": "Speech recognition on this computer",
    "Hark server": "Hark server",
    "language model": "Language model",
    "voice": "Voice",
    "local voice": "Voice on this computer",
    "google": "Google account",
    "keyring": "Password store",
}
PAGES = {
    "microphone": "Audio",
    "speaker": "Audio",
    "speech model": "Speech recognition",
    "local speech model": "Speech recognition",
    "Hark server": "Server",
    "language model": "Language model|Server",
    "voice": "Voice",
    "local voice": "Voice",
    "google": "Google",
}
"""The Settings page that fixes a check (``a|b``: the first of those that exists)."""
FIXES = {
    "microphone": "Plug a microphone in, or choose another one in Settings ▸ Audio. Until "
    "then, type to Hark: Type a request… in the tray menu.",
    "speaker": "Plug a speaker or headset in, or choose another one in Settings ▸ Audio. "
    "Until then Hark's replies show as text only.",
}
"""Fixes said in the app's words where the doctor's name a settings key."""
MARKS = {
    "ok": ("✓", "#1e7e34", "OK"),
    "warn": ("!", "#9a6700", "Warning"),
    "fail": ("✗", "#b3261e", "Problem"),
}


def fix_words(check: Check) -> str:
    """How to fix ``check``, for the window (empty when it passed)."""
    if check.status == "ok":
        return ""
    return FIXES.get(check.name) or check.fix.replace("`", "")


class CheckRow(QFrame):
    """One check: its mark, name, what was found and, when it is not OK, the fix."""

    settings_requested = Signal(str)

    def __init__(self, check: Check, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.check = check
        self.setFrameShape(QFrame.Shape.StyledPanel)
        mark, colour, word = MARKS[check.status]
        title = TITLES.get(check.name, check.name.capitalize())
        self.mark = QLabel(mark)
        self.mark.setStyleSheet(f"color: {colour}; font-size: 18px; font-weight: bold;")
        self.mark.setAccessibleName(f"{title}: {word}")
        self.mark.setFixedWidth(22)
        self.title = QLabel(f"<b>{title}</b>")
        self.detail = _text(check.detail.replace("`", ""))
        grid = QGridLayout(self)
        grid.addWidget(self.mark, 0, 0, 2, 1, Qt.AlignmentFlag.AlignTop)
        grid.addWidget(self.title, 0, 1)
        grid.addWidget(self.detail, 1, 1)
        fix = fix_words(check)
        self.fix = _text(f"How to fix it: {fix}" if fix else "")
        grid.addWidget(self.fix, 2, 1)
        self.fix.setVisible(bool(fix))  # in the row first: shown alone it would be a window
        self.button: QPushButton | None = None
        page = PAGES.get(check.name)
        if page is not None and check.status != "ok":
            shown = page.split("|")[0]
            self.button = QPushButton(f"Open Settings ▸ {shown}")
            self.button.clicked.connect(lambda: self.settings_requested.emit(page))
            grid.addWidget(self.button, 0, 2, 2, 1, Qt.AlignmentFlag.AlignTop)
        grid.setColumnStretch(1, 1)


def _text(text: str) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


class CheckupDialog(QDialog):
    """The window (see the module docstring). :meth:`start` runs the checks (again)."""

    settings_requested = Signal(str)
    """Open Settings at this page (``a|b``: the first that exists)."""
    setup_requested = Signal()
    checks_finished = Signal(list)
    """All checks are done (the list of :class:`~app.doctor.check.Check`)."""

    def __init__(
        self,
        settings: Settings,
        secrets: SecretStore,
        bridge: Bridge,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Check my setup — Hark")
        self.resize(620, 560)
        self._settings = settings
        self._secrets = secrets
        self._bridge = bridge
        self.running = False
        self.rows: list[CheckRow] = []
        intro = _text(INTRO)
        self.summary = QLabel("")
        self.summary.setAccessibleName("Check summary")
        self.summary.setWordWrap(True)
        self.busy = QProgressBar()
        self.busy.setRange(0, 0)
        self.busy.setTextVisible(False)
        self.busy.setMaximumHeight(8)
        self._column = QVBoxLayout()
        self._column.addStretch(1)
        inner = QWidget()
        inner.setLayout(self._column)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(inner)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.again = self.buttons.addButton("Check again", QDialogButtonBox.ButtonRole.ActionRole)
        self.setup = self.buttons.addButton(
            "Run setup again…", QDialogButtonBox.ButtonRole.ActionRole
        )
        self.again.clicked.connect(self.start)
        self.setup.clicked.connect(self.setup_requested)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.summary)
        layout.addWidget(self.busy)
        layout.addWidget(scroll, 1)
        layout.addWidget(self.buttons)

    def checks(self) -> list[Check]:
        return [row.check for row in self.rows]

    def start(self) -> None:
        """Run every check in a worker thread; rows appear as each one ends."""
        if self.running:
            return
        from app.compose.build import with_deployment
        from app.doctor.checks import collect

        for row in self.rows:
            row.deleteLater()
        self.rows.clear()
        self.running = True
        self.again.setEnabled(False)
        self.busy.show()
        self.summary.setText("Checking…")
        relay = Relay(self._bridge)  # outlives this window while the worker may still emit
        relay.carried.connect(while_alive(self, self._add))
        settings, secrets = with_deployment(self._settings), self._secrets

        async def work() -> list[Check]:
            return await asyncio.to_thread(
                lambda: asyncio.run(collect(settings, secrets, relay.carried.emit))
            )

        def done(found: list[Check]) -> None:
            relay.deleteLater()
            self._finish(found)

        def failed(error: BaseException) -> None:
            relay.deleteLater()
            log.warning("the setup checks failed: %r", error)
            self._finish(None)

        self._bridge.run(work, while_alive(self, done), while_alive(self, failed))

    def _add(self, check: object) -> None:
        if not isinstance(check, Check):
            return
        row = CheckRow(check)
        row.settings_requested.connect(self.settings_requested)
        self._column.insertWidget(self._column.count() - 1, row)
        row.show()  # now, not at the layout's next pass: the row is there when the checks end
        self.rows.append(row)

    def _finish(self, found: list[Check] | None) -> None:
        self.running = False
        self.again.setEnabled(True)
        self.busy.hide()
        if found is None:
            self.summary.setText("The checks could not run to the end; try Check again.")
            return
        broken = [c for c in found if c.status == "fail" and c.required]
        warned = [c for c in found if c.status != "ok" and c not in broken]
        if broken:
            things = "thing needs" if len(broken) == 1 else "things need"
            text = f"<b>{len(broken)} {things} fixing</b> before Hark can work fully."
        elif warned:
            text = "Hark can work. Some things could be better (see below)."
        else:
            text = "Everything Hark needs is in place."
        self.summary.setText(text)
        self.checks_finished.emit(found)
