"""The Audio page: which microphone and speaker Hark uses, with a level meter and a speaker test.

The device lists come from PortAudio in a worker thread (querying devices can take a moment,
and fails outright without PortAudio: the page then says what to install); Rescan lists them
again after a device was plugged in. A test button works only when there is a device to test.
Devices are saved by name, which survives replugging better than PortAudio's numbers. The
page also turns the listening overlay (the small window shown while Hark listens) on or off.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QWidget,
)

from app.audio.devices import DeviceInfo, list_devices
from app.core.ports import AudioSink, FrameSource
from app.gui.bridge import Bridge, while_alive
from app.gui.dialogs.settings_widgets import SettingsPage, SettingsValues
from app.gui.level import LevelMeter, MicLevelMonitor, SpeakerTester
from app.settings.schema import Settings

log = logging.getLogger(__name__)

DeviceSpec = str | int | None
MicFactory = Callable[[DeviceSpec], FrameSource]
SinkFactory = Callable[[DeviceSpec], AudioSink]
DEFAULT_LABEL = "System default"


def default_mic(device: DeviceSpec) -> FrameSource:
    from app.audio.capture import MicrophoneSource

    return MicrophoneSource(device)


def default_sink(device: DeviceSpec) -> AudioSink:
    from app.audio.playback import SoundDevicePlayer

    return SoundDevicePlayer(device)


class AudioPage(SettingsPage):
    """Microphone and speaker choice, with "hear me" and "play a sound" checks."""

    title = "Audio"
    sections = ("audio",)

    def __init__(
        self,
        settings: Settings,
        bridge: Bridge,
        *,
        mic_source: MicFactory | None = None,
        speaker_sink: SinkFactory | None = None,
        devices: Callable[[], list[DeviceInfo]] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._audio = settings.audio
        self._bridge = bridge
        self._mic_source = mic_source or default_mic
        self._speaker_sink = speaker_sink or default_sink
        form = QFormLayout(self)
        self.devices_status = QLabel("Looking for sound devices…")
        self.devices_status.setWordWrap(True)
        self.rescan = QPushButton("Rescan")
        self.rescan.setAccessibleName("Rescan sound devices")
        self.rescan.setToolTip("Look for microphones and speakers again (after plugging one in)")
        self.rescan.clicked.connect(self.on_rescan_clicked)
        row = QHBoxLayout()
        row.addWidget(self.devices_status, 1)
        row.addWidget(self.rescan)
        form.addRow("", row)
        self.microphone = self._combo("Microphone", self._audio.input_device)
        form.addRow("Microphone", self.microphone)
        self.meter = LevelMeter()
        self.listen = QPushButton("Test microphone")
        self.listen.setAccessibleName("Test microphone")
        self.listen.setCheckable(True)
        self.listen.toggled.connect(self.on_listen_toggled)
        row = QHBoxLayout()
        row.addWidget(self.meter, 1)
        row.addWidget(self.listen)
        form.addRow("Level", row)
        self.mic_status = QLabel("Press Test microphone and say something.")
        self.mic_status.setWordWrap(True)
        form.addRow("", self.mic_status)
        self.speaker = self._combo("Speaker", self._audio.output_device)
        form.addRow("Speaker", self.speaker)
        self.play = QPushButton("Play a test sound")
        self.play.setAccessibleName("Play a test sound")
        self.play.clicked.connect(self.on_play_clicked)
        self.speaker_status = QLabel("")
        self.speaker_status.setWordWrap(True)
        row = QHBoxLayout()
        row.addWidget(self.play)
        row.addWidget(self.speaker_status, 1)
        form.addRow("", row)
        self.overlay = QCheckBox("Show a small window while Hark listens (level, words, Cancel)")
        self.overlay.setAccessibleName("Show the listening window")
        self.overlay.setChecked(self._audio.overlay)
        form.addRow("While listening", self.overlay)
        self.monitor = MicLevelMonitor(bridge, self)
        self.monitor.level_measured.connect(self.meter.set_level)
        self.monitor.monitor_stopped.connect(self.on_monitor_monitor_stopped)
        self.tester = SpeakerTester(bridge, self)
        self.tester.test_finished.connect(self.on_tester_test_finished)
        self._lister = devices or list_devices
        self._listing = False
        self._inputs: list[DeviceInfo] = []
        self._outputs: list[DeviceInfo] = []
        self._scan(self._audio.input_device, self._audio.output_device)

    def _scan(self, microphone: DeviceSpec, speaker: DeviceSpec) -> None:
        """List the devices in a worker thread; keep ``microphone`` and ``speaker`` chosen."""
        self._listing = True
        self._sync_buttons()

        def found(devices: object) -> None:
            self._on_devices(devices, microphone, speaker)

        self._bridge.run(
            asyncio.to_thread(self._lister),
            while_alive(self, found),
            while_alive(self, self._on_devices_failed),
        )

    def on_rescan_clicked(self) -> None:
        if self._listing:
            return
        if self.listen.isChecked():
            self.listen.setChecked(False)  # the device being tested may go away
        self.devices_status.setText("Looking for sound devices…")
        self._scan(self.input_device(), self.output_device())

    def _sync_buttons(self) -> None:
        """Test buttons only with a device to test; Rescan whenever no list is coming."""
        self.rescan.setEnabled(not self._listing)
        for button, devices, kind in (
            (self.listen, self._inputs, "microphone"),
            (self.play, self._outputs, "speaker"),
        ):
            usable = bool(devices) and not self._listing
            button.setEnabled(usable and not (button is self.play and self.tester.busy))
            button.setToolTip(
                ""
                if usable or self._listing
                else f"No {kind} is connected. Plug one in, then press Rescan."
            )

    def loading(self) -> bool:
        return self._listing

    def _combo(self, name: str, current: DeviceSpec) -> QComboBox:
        combo = QComboBox()
        combo.setAccessibleName(name)
        combo.addItem(DEFAULT_LABEL, None)
        if current is not None:
            combo.addItem(str(current), current)
            combo.setCurrentIndex(1)
        return combo

    def _on_devices(self, found: object, microphone: DeviceSpec, speaker: DeviceSpec) -> None:
        self._listing = False
        devices = [d for d in found if isinstance(d, DeviceInfo)] if isinstance(found, list) else []
        self._inputs = [d for d in devices if d.has("input")]
        self._outputs = [d for d in devices if d.has("output")]
        self._fill(self.microphone, self._inputs, microphone)
        self._fill(self.speaker, self._outputs, speaker)
        if not self._inputs and not self._outputs:
            self.devices_status.setText(
                "No sound devices were found. Plug in a microphone or headset, then press Rescan."
            )
        elif not self._inputs:
            self.devices_status.setText(
                f"No microphone was found (and {len(self._outputs)} speaker(s)). Plug one in, "
                "then press Rescan; until then you can type to Hark."
            )
        else:
            self.devices_status.setText(
                f"Found {len(self._inputs)} microphone(s) and {len(self._outputs)} speaker(s)."
            )
        self._sync_buttons()

    def _on_devices_failed(self, error: BaseException) -> None:
        self._listing = False
        self._inputs, self._outputs = [], []
        detail = getattr(error, "message", None) or str(error)
        self.devices_status.setText(
            "Hark cannot reach the sound system"
            + (f" ({detail})" if detail else "")
            + ". Check that PortAudio is installed (on Debian or Ubuntu: sudo apt install "
            "libportaudio2), then press Rescan."
        )
        self._sync_buttons()

    def _fill(self, combo: QComboBox, devices: list[DeviceInfo], current: DeviceSpec) -> None:
        combo.clear()
        combo.addItem(DEFAULT_LABEL, None)
        for dev in devices:
            combo.addItem(f"{dev.name} ({dev.hostapi})", dev.name)
        if current is None:
            combo.setCurrentIndex(0)
            return
        for i, dev in enumerate(devices, start=1):
            if current in (dev.index, dev.name) or (
                isinstance(current, str) and current.strip().isdigit() and int(current) == dev.index
            ):
                combo.setItemData(i, current)  # keep the setting as written when it still fits
                combo.setCurrentIndex(i)
                return
        combo.addItem(f"{current} (not connected)", current)
        combo.setCurrentIndex(combo.count() - 1)

    def input_device(self) -> DeviceSpec:
        value: DeviceSpec = self.microphone.currentData()
        return value

    def output_device(self) -> DeviceSpec:
        value: DeviceSpec = self.speaker.currentData()
        return value

    def on_listen_toggled(self, on: bool) -> None:
        if not on:
            self.monitor.stop()
            return
        self.mic_status.setText("Listening… say something.")
        self.monitor.start(self._mic_source(self.input_device()))

    def on_monitor_monitor_stopped(self, error: object) -> None:
        self.listen.blockSignals(True)
        self.listen.setChecked(False)
        self.listen.blockSignals(False)
        self.meter.reset()
        if error:
            self.mic_status.setText(f"Could not use the microphone: {error}")
        else:
            self.mic_status.setText("Press Test microphone and say something.")

    def on_play_clicked(self) -> None:
        if not self._outputs:
            return
        self.play.setEnabled(False)
        self.speaker_status.setText("Playing…")
        device = self.output_device()
        self.tester.play(lambda: self._speaker_sink(device))

    def on_tester_test_finished(self, ok: bool, message: str) -> None:
        self._sync_buttons()
        self.speaker_status.setText(message if ok else f"Could not play: {message}")

    def values(self) -> SettingsValues:
        return {
            "audio": {
                "input_device": self.input_device(),
                "output_device": self.output_device(),
                "overlay": self.overlay.isChecked(),
            }
        }

    def shutdown(self) -> None:
        self.monitor.stop()
