"""Frame sources: the microphone (through PortAudio) and WAV files.

Both yield what the endpointer and Whisper want: 30 ms frames of 16 kHz mono int16
(``FRAME_BYTES`` each), whatever the device or file delivers.

The microphone runs in PortAudio's callback thread. The callback converts each block (mix to
mono, resample, cut into exact frames) and hands every frame to the engine's event loop with
``loop.call_soon_threadsafe``; nothing else crosses threads. The loop keeps a bounded queue:
when the consumer stalls, the oldest frames are dropped (and counted), so a slow turn costs
old audio rather than ever-growing latency.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from app.audio.devices import DeviceInfo, list_devices, open_format
from app.audio.devices import load_sounddevice as _load_sounddevice
from app.audio.resample import StreamResampler, to_mono
from app.audio.wavio import read_wav_16k
from app.core.types import FRAME_BYTES, FRAME_MS, SAMPLE_RATE
from app.shared.errors import AudioCode, AudioError

if TYPE_CHECKING:
    from app.audio.echo import EchoCanceller

__all__ = [
    "DeviceInfo",
    "FrameAssembler",
    "FrameQueue",
    "MicrophoneSource",
    "WavFileSource",
    "list_devices",
]

log = logging.getLogger(__name__)


class FrameAssembler:
    """Device blocks (any rate, channels, size) in; exact 16 kHz mono frames out.

    Kept apart from the stream so the conversion can be checked without a sound card.
    """

    def __init__(self, device_rate: int, channels: int) -> None:
        self.device_rate = device_rate
        self.channels = channels
        self._resampler = StreamResampler(device_rate, SAMPLE_RATE)
        self._pending = bytearray()

    @property
    def pending_samples(self) -> int:
        """16 kHz samples held back for the next frame (they come before the next block)."""
        return len(self._pending) // 2

    def push(self, block: bytes) -> list[bytes]:
        """Add one block of interleaved int16 samples; return the whole frames now ready."""
        samples: npt.NDArray[np.int16] = np.frombuffer(block, dtype="<i2")
        mono = to_mono(samples, self.channels)
        if self.device_rate != SAMPLE_RATE:
            mono = self._resampler.process(mono)
        self._pending += mono.astype("<i2").tobytes()
        usable = len(self._pending) - len(self._pending) % FRAME_BYTES
        if usable == 0:
            return []
        ready = bytes(self._pending[:usable])
        del self._pending[:usable]
        return [ready[i : i + FRAME_BYTES] for i in range(0, usable, FRAME_BYTES)]


class FrameQueue:
    """Bounded hand-over of frames from a device thread to the event loop.

    :meth:`put_threadsafe` may be called from any thread; it schedules the real put on the
    loop with ``call_soon_threadsafe``, so the queue itself is only ever touched there. When
    more than ``max_frames`` wait, the oldest is dropped and counted in :attr:`overflows`
    (a stalled consumer then hears recent audio, not audio from seconds ago).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, max_frames: int) -> None:
        self._loop = loop
        self._max = max_frames
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._closed = False
        self.overflows = 0

    def put_threadsafe(self, frame: bytes) -> bool:
        """Queue a frame from any thread; False once the loop is gone."""
        try:
            self._loop.call_soon_threadsafe(self._put, frame)
        except RuntimeError:  # the loop is closed: nobody is listening any more
            return False
        return True

    def _put(self, frame: bytes | None) -> None:
        if self._closed:
            return
        if self._queue.qsize() >= self._max:
            self._queue.get_nowait()
            self.overflows += 1
            if self.overflows == 1:
                log.warning(
                    "Audio frames are not being consumed fast enough; dropping the oldest "
                    "(more than %d ms waiting)",
                    self._max * FRAME_MS,
                )
        self._queue.put_nowait(frame)

    def close(self) -> None:
        """On the loop: end the stream of frames after those already queued."""
        if not self._closed:
            self._put(None)
            self._closed = True

    async def get(self) -> bytes | None:
        """The next frame, or ``None`` once closed and empty."""
        if self._closed and self._queue.empty():
            return None
        return await self._queue.get()


class MicrophoneSource:
    """The microphone as a :class:`~app.core.ports.FrameSource`.

    ``device`` is a PortAudio index, a (case-insensitive, partial) name, or ``None`` for the
    system default. The device is opened at 16 kHz mono when it takes that, else at its
    default rate (or ``device_rate``) and converted. ``max_queue_frames`` bounds the frames
    waiting for a slow consumer (100 = 3 s); beyond it the oldest are dropped and counted in
    :attr:`overflows`.

    With an ``echo`` canceller (fed by the speaker's player) each frame is cleaned of Hark's
    own voice on PortAudio's thread, stamped with the time its first sample was heard, before
    anything (endpointer, wake word) sees it.
    """

    def __init__(
        self,
        device: str | int | None = None,
        block_ms: int = FRAME_MS,
        *,
        device_rate: int | None = None,
        device_channels: int | None = None,
        max_queue_frames: int = 100,
        echo: EchoCanceller | None = None,
    ) -> None:
        if block_ms < 1 or max_queue_frames < 1:
            raise AudioError(
                AudioCode.INPUT_SETTINGS,
                f"block_ms and max_queue_frames must be positive; got {block_ms}, "
                f"{max_queue_frames}.",
            )
        self._spec = device
        self._block_ms = block_ms
        self._force_rate = device_rate
        self._force_channels = device_channels
        self._max_queue = max_queue_frames
        self.echo = echo
        """The echo canceller the frames go through, if any."""
        self._queue: FrameQueue | None = None
        self._stream: Any = None
        self._assembler: FrameAssembler | None = None
        self._closed = False
        self.device: DeviceInfo | None = None
        """The device in use, once open."""

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` was called."""
        return self._closed

    @property
    def overflows(self) -> int:
        """Frames dropped because the consumer fell more than ``max_queue_frames`` behind."""
        return 0 if self._queue is None else self._queue.overflows

    @property
    def device_format(self) -> tuple[int, int] | None:
        """(rate, channels) the device was opened with, once open."""
        a = self._assembler
        return None if a is None else (a.device_rate, a.channels)

    async def open(self) -> None:
        """Open and start the device (``frames()`` does this on first use)."""
        if self._stream is not None or self._closed:
            return
        self._queue = FrameQueue(asyncio.get_running_loop(), self._max_queue)
        stream = await asyncio.to_thread(self._open_stream)
        if self.closed:  # aclose() came while the device was opening
            await asyncio.to_thread(_stop_and_close, stream)
            return
        self._stream = stream

    def _open_stream(self) -> Any:
        sd = _load_sounddevice()
        dev, rate, channels = open_format(
            self._spec,
            "input",
            wanted_rate=SAMPLE_RATE,
            force_rate=self._force_rate,
            force_channels=self._force_channels,
        )
        self.device = dev
        self._assembler = FrameAssembler(rate, channels)
        try:
            stream = sd.RawInputStream(
                samplerate=rate,
                blocksize=max(1, rate * self._block_ms // 1000),
                device=dev.index,
                channels=channels,
                dtype="int16",
                callback=self._callback,
            )
            stream.start()
        except Exception as exc:  # sounddevice.PortAudioError
            raise AudioError(
                AudioCode.INPUT_OPEN,
                f"Could not open the microphone {dev.name!r} at {rate} Hz: {exc}. Is another "
                "program holding it? Pick another device in the settings (`hark doctor`).",
            ) from exc
        log.info(
            "Microphone open: %r at %d Hz, %d ch%s",
            dev.name,
            rate,
            channels,
            "" if (rate, channels) == (SAMPLE_RATE, 1) else " (converted to 16 kHz mono)",
        )
        return stream

    def _callback(self, indata: Any, frames: int, time_info: Any, status: Any) -> None:
        """PortAudio's thread: convert the block and pass whole frames to the loop."""
        assembler, queue = self._assembler, self._queue
        if assembler is None or queue is None or self._closed:
            return
        echo = self.echo
        heard = 0.0
        if echo is not None:  # the first new frame began with the samples still pending
            heard = _adc_monotonic(time_info) - assembler.pending_samples / SAMPLE_RATE
        for i, frame in enumerate(assembler.push(bytes(indata))):
            if echo is not None:
                frame = echo.clean(frame, heard + i * FRAME_MS / 1000)
            if not queue.put_threadsafe(frame):
                return

    async def frames(self) -> AsyncIterator[bytes]:
        """Yield 30 ms frames until :meth:`aclose` is called."""
        await self.open()
        q = self._queue
        if q is None:
            return
        while True:
            frame = await q.get()
            if frame is None:
                return
            yield frame

    async def aclose(self) -> None:
        """Stop and close the device; a running ``frames()`` ends."""
        if self._closed:
            return
        self._closed = True
        stream, self._stream = self._stream, None
        if stream is not None:
            await asyncio.to_thread(_stop_and_close, stream)
        if self._queue is not None:
            self._queue.close()
        if self.overflows:
            log.info("Microphone closed; %d frames were dropped by a slow consumer", self.overflows)


def _adc_monotonic(time_info: Any) -> float:
    """When this callback's first sample entered the ADC, on ``time.monotonic()``'s clock
    (PortAudio's distance from the stream's "now" carried over; "now" without a usable one)."""
    now = time.monotonic()
    try:
        behind = float(time_info.currentTime) - float(time_info.inputBufferAdcTime)
    except (AttributeError, TypeError, ValueError):
        return now
    if float(time_info.inputBufferAdcTime) <= 0 or not 0 <= behind < 1.0:
        return now
    return now - behind


def _stop_and_close(stream: Any) -> None:
    try:
        stream.stop()
    finally:
        stream.close()


class WavFileSource:
    """A WAV file as a :class:`~app.core.ports.FrameSource` (``hark listen --wav``, tests).

    Any rate and channel count is converted to 16 kHz mono; the last frame is zero-padded.
    ``trailing_silence_ms`` appends silence so the endpointer can see the speech end;
    ``realtime`` paces the frames at the speed of speech, for demos.
    """

    def __init__(
        self, path: str | Path, realtime: bool = False, trailing_silence_ms: int = 0
    ) -> None:
        self.path = Path(path)
        self.realtime = realtime
        self.trailing_silence_ms = max(0, trailing_silence_ms)
        self._closed = False

    async def frames(self) -> AsyncIterator[bytes]:
        """Yield the file's frames, then the trailing silence."""
        pcm = await asyncio.to_thread(read_wav_16k, self.path)
        if len(pcm) % FRAME_BYTES:
            pcm += bytes(FRAME_BYTES - len(pcm) % FRAME_BYTES)
        silence_frames = -(-self.trailing_silence_ms // FRAME_MS)
        total = len(pcm) // FRAME_BYTES + silence_frames
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        silence = bytes(FRAME_BYTES)
        for i in range(total):
            if self._closed:
                return
            if self.realtime:  # a microphone hands a frame over once it has been heard
                await asyncio.sleep(max(0.0, t0 + (i + 1) * FRAME_MS / 1000 - loop.time()))
            start = i * FRAME_BYTES
            yield pcm[start : start + FRAME_BYTES] if start < len(pcm) else silence

    async def aclose(self) -> None:
        """Stop yielding frames."""
        self._closed = True
