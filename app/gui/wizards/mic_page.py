"""The first-run wizard's microphone check: pick a device, watch the level move while you talk.

The device list and the frames come from injected callables (the real ones use PortAudio;
tests give a list of :class:`~app.audio.devices.DeviceInfo` and a
:class:`~app.audio.capture.WavFileSource` of speech). Frames are read on the engine loop; each
frame's level crosses to the GUI thread as a Qt signal, so the bar moves without the GUI ever
waiting on the sound card.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import QComboBox, QFormLayout, QProgressBar, QVBoxLayout, QWidget

from app.gui.bridge import Bridge, Relay, while_alive
from app.gui.widgets import StatusLine
from app.gui.wizards.common import Updates, level_percent
from app.gui.wording import user_message

if TYPE_CHECKING:
    from app.audio.devices import DeviceInfo
    from app.core.ports import FrameSource
    from app.settings.schema import AudioSettings

from PySide6.QtWidgets import QWizardPage

log = logging.getLogger(__name__)

Device = str | int | None
ListInputs = Callable[[], "list[DeviceInfo]"]
"""Returns the input devices (may be slow: it runs on a worker thread)."""
OpenSource = Callable[[Device], "FrameSource"]
"""Makes a frame source for a device (``None``: the system default); opened on the engine loop."""

SPOKEN_LEVEL = 35
"""A level above this means the microphone hears speech (not just a quiet room)."""


def default_list_inputs() -> list[DeviceInfo]:
    """The microphones PortAudio knows."""
    from app.audio.capture import list_devices

    return [d for d in list_devices() if d.has("input")]


def default_open_source(device: Device) -> FrameSource:
    """The real microphone."""
    from app.audio.capture import MicrophoneSource

    return MicrophoneSource(device)


class MicPage(QWizardPage):
    """Pick the microphone and see that it hears you; Next keeps the choice."""

    level_changed = Signal(int)
    """The level (0–100) of the latest frame, on the GUI thread."""

    def __init__(
        self,
        bridge: Bridge,
        audio: AudioSettings,
        list_inputs: ListInputs,
        open_source: OpenSource,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setTitle("Microphone")
        self.setSubTitle("Pick your microphone and say something: the bar should move.")
        self._bridge = bridge
        self._wanted: Device = audio.input_device
        self._list_inputs = list_inputs
        self._open_source = open_source
        self._source: FrameSource | None = None
        self._loaded = False
        self.peak = 0
        """The loudest level seen since the device was picked."""

        self.devices = QComboBox(self)
        self.devices.setAccessibleName("Microphone")
        self.level = QProgressBar(self)
        self.level.setRange(0, 100)
        self.level.setTextVisible(False)
        self.level.setAccessibleName("Microphone level")
        self.status = StatusLine("Microphone status", self)
        form = QFormLayout()
        form.addRow("Microphone:", self.devices)
        form.addRow("Level:", self.level)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.status)
        layout.addStretch(1)

        self._relay = Relay(bridge)
        self._relay.carried.connect(self.on_source_level)
        self.devices.currentIndexChanged.connect(self.on_devices_changed)

    # --- the device list ----------------------------------------------------------------------

    def initializePage(self) -> None:
        wizard = self.wizard()
        if wizard is not None:
            wizard.currentIdChanged.connect(self.on_wizard_page_changed)
        if not self._loaded:
            self.status.show_text("busy", "Looking for microphones…")
            self._bridge.run(
                lambda: asyncio.to_thread(self._list_inputs),
                while_alive(self, self.on_devices_found),
                while_alive(self, self._on_error),
            )
        else:
            self.start()

    def isComplete(self) -> bool:
        return self._loaded

    def on_devices_found(self, devices: list[DeviceInfo]) -> None:
        self._loaded = True
        self.devices.blockSignals(True)
        self.devices.clear()
        self.devices.addItem("System default", None)
        for dev in devices:
            self.devices.addItem(
                dev.name + (" (default)" if dev.is_default_input else ""), dev.name
            )
        chosen = 0
        for i in range(1, self.devices.count()):
            dev = devices[i - 1]
            if self._wanted is not None and self._wanted in (dev.name, dev.index):
                chosen = i
        self.devices.setCurrentIndex(chosen)
        self.devices.blockSignals(False)
        if not devices:
            self.status.show_text(
                "error",
                "No microphone found. Plug one in and run the setup again (tray menu: Run "
                "setup again…), or go on: you can type to Hark (tray menu: Type a request…).",
            )
        else:
            self.status.clear_text()
        self.completeChanged.emit()
        if devices:
            self.start()

    def device(self) -> Device:
        """The chosen device by name (``None``: the system default)."""
        data = self.devices.currentData()
        return data if isinstance(data, str) else None

    def updates(self) -> Updates:
        return {"audio": {"input_device": self.device()}}

    # --- listening -----------------------------------------------------------------------------

    def start(self) -> None:
        """Listen to the chosen device (stopping the one before)."""
        self.stop()
        self.peak = 0
        self.level.setValue(0)
        source = self._open_source(self.device())
        self._source = source
        self._bridge.run(self._listen(source), None, while_alive(self, self._on_error))

    def stop(self) -> None:
        """Release the microphone (the wizard moved on or closed)."""
        source, self._source = self._source, None
        if source is not None and self._bridge.engine.running:
            self._bridge.run(source.aclose, None, None)

    async def _listen(self, source: FrameSource) -> None:
        try:
            async for frame in source.frames():
                self._relay.carried.emit(level_percent(frame))
        finally:
            await source.aclose()

    @Slot(object)
    def on_source_level(self, level: int) -> None:
        self.level.setValue(level)
        self.peak = max(self.peak, level)
        if level >= SPOKEN_LEVEL and self.status.tone != "ok":
            self.status.show_text("ok", "Hark hears you.")
        self.level_changed.emit(level)

    @Slot(int)
    def on_devices_changed(self, _index: int) -> None:
        self.status.clear_text()
        self.start()

    @Slot(int)
    def on_wizard_page_changed(self, _page_id: int) -> None:
        wizard = self.wizard()
        if wizard is not None and wizard.currentPage() is self and self._loaded:
            if self._source is None:
                self.start()
        else:
            self.stop()

    def _on_error(self, error: BaseException) -> None:
        if not self._loaded:
            self._loaded = True
            self.devices.clear()
            self.devices.addItem("System default", None)
            self.completeChanged.emit()
        message = user_message(error, "The microphone")
        log.warning("microphone check failed: %s", type(error).__name__)
        self.status.show_text(
            "error", f"The microphone could not be used: {message}. Pick another one."
        )
