"""Hearing and sounding out the audio devices from the settings: a microphone level meter and
a speaker test.

The meter's frames come from a :class:`~app.core.ports.FrameSource` (the microphone, or a WAV
file in tests) read on the engine loop; each frame's level crosses to the GUI thread as a Qt
signal (emitted from the engine thread, delivered queued). The speaker test plays a short
chime through an :class:`~app.core.ports.AudioSink` (the real speaker, or a test's sink), also
on the engine loop, so neither ever blocks the GUI thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import AsyncIterator, Callable

import numpy as np
from PySide6.QtCore import QObject, QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QPainter, QPaintEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

from app.core.ports import AudioSink, FrameSource
from app.gui.bridge import Bridge

log = logging.getLogger(__name__)

FLOOR_DBFS = -60.0
"""The meter's bottom: quieter than this shows as empty."""
TONE_RATE = 16_000
NO_DETAIL = "the sound system gave no reason; check that the device is plugged in"
"""Said when a device fails without a message (rather than an exception's class name)."""


def frame_level(frame: bytes) -> float:
    """A frame's loudness on the meter's 0..1 scale (RMS in dBFS, from -60 dB to 0 dB)."""
    samples = np.frombuffer(frame[: len(frame) - len(frame) % 2], dtype="<i2")
    if samples.size == 0:
        return 0.0
    rms = math.sqrt(float(np.mean(samples.astype(np.float64) ** 2)))
    if rms < 1.0:
        return 0.0
    dbfs = 20.0 * math.log10(rms / 32768.0)
    return min(1.0, max(0.0, (dbfs - FLOOR_DBFS) / -FLOOR_DBFS))


class LevelMeter(QWidget):
    """A horizontal bar that shows how loud the microphone is, with a falling peak mark, so
    the user can see that the chosen microphone hears them."""

    level_changed = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._level = 0.0
        self._peak = 0.0
        self.setAccessibleName("Microphone level")
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self._decay = QTimer(self)
        self._decay.setInterval(50)
        self._decay.timeout.connect(self.on_decay_timeout)

    @property
    def level(self) -> float:
        return self._level

    @property
    def peak(self) -> float:
        return self._peak

    def set_level(self, level: float) -> None:
        """Show a new level (0..1); the peak mark holds the loudest and falls slowly."""
        level = min(1.0, max(0.0, level))
        self._level = level
        self._peak = max(self._peak, level)
        if not self._decay.isActive():
            self._decay.start()
        self.setToolTip(f"{round(level * 100)} %")
        self.level_changed.emit(level)
        self.update()

    def reset(self) -> None:
        self._level = self._peak = 0.0
        self._decay.stop()
        self.update()

    def on_decay_timeout(self) -> None:
        self._peak = max(self._level, self._peak - 0.02)
        if self._peak <= 0.0:
            self._decay.stop()
        self.update()

    def sizeHint(self) -> QSize:
        return QSize(200, 14)

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        rect = QRectF(self.rect()).adjusted(0.5, 0.5, -0.5, -0.5)
        palette = self.palette()
        painter.setPen(palette.mid().color())
        painter.setBrush(palette.base())
        painter.drawRoundedRect(rect, 3, 3)
        width = rect.width() * self._level
        color = QColor("#2e9d4b") if self._level < 0.85 else QColor("#d9822b")
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(color)
        painter.drawRoundedRect(QRectF(rect.left(), rect.top(), width, rect.height()), 3, 3)
        if self._peak > 0:
            x = rect.left() + rect.width() * self._peak
            painter.setPen(palette.text().color())
            painter.drawLine(int(x), int(rect.top()), int(x), int(rect.bottom()))
        painter.end()


class LevelTap:
    """A :class:`~app.core.ports.FrameSource` that passes another's frames on unchanged and,
    while :attr:`active`, reports each frame's level to ``on_level``.

    It sits between the microphone and the listening loop, so the listening overlay can show
    how loud the user is without opening the device a second time. ``on_level`` is called on
    the engine loop: give it something thread-safe (a Qt signal's ``emit``). While inactive
    (nobody is looking) nothing is measured, so the always-on wake word costs no GUI work.
    """

    def __init__(self, source: FrameSource, on_level: Callable[[float], None]) -> None:
        self.source = source
        self._on_level = on_level
        self.active = False

    async def frames(self) -> AsyncIterator[bytes]:
        async for frame in self.source.frames():
            if self.active:
                self._on_level(frame_level(frame))
            yield frame

    async def aclose(self) -> None:
        await self.source.aclose()


class MicLevelMonitor(QObject):
    """Reads frames from a source on the engine loop and reports each frame's level.

    ``level_measured`` (on the GUI thread) carries each frame's level; ``monitor_stopped``
    carries ``None`` when the source ended or was stopped, or the error message when it could
    not be read (no microphone, PortAudio missing). Levels and the end travel through one
    internal signal from the engine thread, so the end never overtakes the last levels.
    """

    level_measured = Signal(float)
    monitor_stopped = Signal(object)
    _measured = Signal(object, object)

    def __init__(self, bridge: Bridge, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._bridge = bridge
        self._source: FrameSource | None = None
        self._measured.connect(self._on_measured)
        self.frames_seen = 0

    @property
    def running(self) -> bool:
        return self._source is not None

    def start(self, source: FrameSource) -> None:
        """Start reading ``source`` (stopping any earlier one)."""
        self.stop()
        self._source = source
        self.frames_seen = 0
        self._bridge.run(self._read(source))

    async def _read(self, source: FrameSource) -> None:
        """On the engine loop: each level, then the end (``_Ended``), through ``_measured``."""
        ended = _Ended(None)
        try:
            async for frame in source.frames():
                if self._source is not source:
                    break
                self.frames_seen += 1
                self._measured.emit(source, frame_level(frame))
        except Exception as exc:
            log.info("microphone test failed: %s", type(exc).__name__)
            ended = _Ended(getattr(exc, "message", None) or str(exc) or NO_DETAIL)
        finally:
            await source.aclose()
        with contextlib.suppress(RuntimeError):  # the widget is gone: nobody to tell
            self._measured.emit(source, ended)

    def _on_measured(self, source: object, value: object) -> None:
        if source is not self._source:  # stopped (and reported) already, or replaced
            return
        if isinstance(value, _Ended):
            self._source = None
            self.monitor_stopped.emit(value.error)
        elif isinstance(value, float):
            self.level_measured.emit(value)

    def stop(self) -> None:
        """Stop reading; the device is released on the engine loop."""
        source, self._source = self._source, None
        if source is not None:
            self._bridge.run(source.aclose())
            self.monitor_stopped.emit(None)


class _Ended:
    """The end of a monitored source, with the error message when it failed."""

    __slots__ = ("error",)

    def __init__(self, error: str | None) -> None:
        self.error = error


def tone_pcm(
    seconds: float = 0.6, rate: int = TONE_RATE, frequencies: tuple[float, ...] = (660.0, 880.0)
) -> bytes:
    """A soft two-note chime (int16 mono), with short fades so it does not click."""
    per_note = int(rate * seconds / len(frequencies))
    t = np.arange(per_note) / rate
    fade = np.minimum(1.0, np.minimum(t, t[::-1]) / 0.02)
    notes = [0.25 * np.sin(2 * np.pi * f * t) * fade for f in frequencies]
    return (np.concatenate(notes) * 32767).astype("<i2").tobytes()


async def play_test_sound(sink: AudioSink, seconds: float = 0.6) -> None:
    """Play the chime through ``sink`` and wait until it has been heard."""
    await sink.start(TONE_RATE)
    try:
        await sink.write(tone_pcm(seconds))
        await sink.drain()
    finally:
        close = getattr(sink, "aclose", None)
        if close is not None:
            await close()


class SpeakerTester(QObject):
    """Runs :func:`play_test_sound` on the engine loop; ``test_finished(ok, message)``."""

    test_finished = Signal(bool, str)

    def __init__(self, bridge: Bridge, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._bridge = bridge
        self.busy = False

    def play(self, make_sink: Callable[[], AudioSink], timeout_s: float = 10.0) -> None:
        """Play the chime on a sink made on the engine loop (opening a device may block)."""
        if self.busy:
            return
        self.busy = True

        async def work() -> None:
            await asyncio.wait_for(play_test_sound(make_sink()), timeout_s)

        self._bridge.run(work, self._on_done, self._on_error)

    def _on_done(self, _: object) -> None:
        self.busy = False
        self.test_finished.emit(True, "Played a test sound. Did you hear it?")

    def _on_error(self, error: BaseException) -> None:
        self.busy = False
        if isinstance(error, TimeoutError):
            message = "The speaker did not finish playing; try another output device."
        else:
            message = getattr(error, "message", None) or str(error) or NO_DETAIL
        self.test_finished.emit(False, message)
