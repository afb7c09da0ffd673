"""Audio sinks: the speaker (through PortAudio), a WAV file, and nowhere (text-only mode).

The reply is spoken sentence by sentence while the model is still writing, so a sink takes PCM
chunks as they come (``write`` never waits for them to be heard), fills gaps with silence,
and can be silenced at once from any thread when the user talks over it (``stop``, barge-in).
Each sink records when the first sample of a reply went out, for the latency breakdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
import wave
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Literal, overload

import numpy as np

from app.audio.devices import DeviceInfo, load_sounddevice, open_format
from app.audio.resample import StreamResampler
from app.shared.errors import AudioCode, AudioError

if TYPE_CHECKING:
    from app.audio.echo import EchoReference, ReferenceTap

log = logging.getLogger(__name__)

_FLUSH_SAMPLES = 64
"""Silence pushed through a resampler at the end, so its last few samples come out too."""


class SoundDevicePlayer:
    """Plays a reply on a PortAudio output device, chunk by chunk, as it arrives.

    A callback-mode ``RawOutputStream`` reads from a lock-protected buffer and plays silence
    when the buffer runs dry while more is expected. :meth:`drain` lets the stream finish
    once the buffer is empty: PortAudio calls back when the last buffer has been played and
    the loop is woken with ``call_soon_threadsafe``. ``device`` is an index, a (partial)
    name, or ``None`` for the default; a rate the device refuses is resampled to its default
    rate (``device_rate`` pins the device's rate instead).

    With an ``echo`` canceller every block given to the device, silence included, is also
    handed to it (on PortAudio's thread, stamped with the block's DAC time): the reference
    that lets the microphone's frames be cleaned of this voice. The stream then stays open
    between replies (playing silence) until :meth:`aclose`: a sound server (PulseAudio,
    PipeWire) shifts its latency in the first second of a new stream, which would move the echo
    under the canceller at the start of every reply; ``drain`` returns once the reply's last
    block went to the device.
    """

    def __init__(
        self,
        device: str | int | None = None,
        *,
        device_rate: int | None = None,
        latency: str | float | None = None,
        echo: EchoReference | None = None,
    ) -> None:
        self._spec = device
        self._echo = echo
        self._tap: ReferenceTap | None = None
        self._keep_open = echo is not None
        self._open_rate: int | None = None  # the reply rate the open stream was made for
        self._idle = False  # keep-open: this reply is over, the stream plays silence
        self._force_rate = device_rate
        self._latency = latency
        self._lock = threading.Lock()
        self._buffer = bytearray()  # mono int16 at the device's rate
        self._stopped = False
        self._finishing = False
        self._first_sample_at: float | None = None
        self._stream: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._done: asyncio.Event | None = None
        self._first: asyncio.Event | None = None
        self._resampler: StreamResampler | None = None
        self._channels = 1
        self.device: DeviceInfo | None = None
        """The device in use, once started."""
        self.device_rate: int | None = None
        """The rate the device was opened with, once started."""
        self.underruns = 0
        """Callbacks that found too little audio while more was expected."""

    @property
    def first_sample_at(self) -> float | None:
        """``time.monotonic()`` at which the first sample of this reply reached the device."""
        return self._first_sample_at

    async def wait_first_sample(self) -> float | None:
        """Wait until the first sample of this reply is out (for an ``AudioStarted`` event
        as it happens); ``None`` when the reply ended or was stopped before any was played."""
        if self._first is not None:
            await self._first.wait()
        return self._first_sample_at

    async def start(self, sample_rate: int) -> None:
        """Open the device for a reply at ``sample_rate`` (before the first chunk is ready,
        so opening the device does not add to the first-audio latency)."""
        reuse = self._keep_open and self._stream is not None and self._open_rate == sample_rate
        if not reuse:
            await self._close_stream()
        self._loop = asyncio.get_running_loop()
        self._done = asyncio.Event()
        self._first = asyncio.Event()
        with self._lock:
            self._buffer.clear()
            self._stopped = False
            self._finishing = False
            self._idle = False
            self._first_sample_at = None
        if not reuse:
            self._stream = await asyncio.to_thread(self._open_stream, sample_rate)
            self._open_rate = sample_rate

    def _open_stream(self, sample_rate: int) -> Any:
        sd = load_sounddevice()
        dev, rate, channels = open_format(
            self._spec, "output", wanted_rate=sample_rate, force_rate=self._force_rate
        )
        self.device, self.device_rate, self._channels = dev, rate, channels
        self._resampler = StreamResampler(sample_rate, rate) if rate != sample_rate else None
        self._tap = self._echo.tap(rate) if self._echo is not None else None
        try:
            stream = sd.RawOutputStream(
                samplerate=rate,
                device=dev.index,
                channels=channels,
                dtype="int16",
                latency=self._latency,
                callback=self._callback,
                finished_callback=self._on_finished,
            )
            stream.start()
        except Exception as exc:  # sounddevice.PortAudioError
            raise AudioError(
                AudioCode.OUTPUT_OPEN,
                f"Could not open the speaker {dev.name!r} at {rate} Hz: {exc}. Pick another "
                "output device in the settings (`hark doctor` lists them).",
            ) from exc
        log.debug("Speaker open: %r at %d Hz, %d ch", dev.name, rate, channels)
        return stream

    async def write(self, pcm: bytes) -> None:
        """Queue mono int16 PCM; dropped when the reply was stopped (barge-in)."""
        if self._stream is None and not self._stopped:
            raise AudioError(AudioCode.PLAYER_NOT_STARTED, "start() the player before write().")
        samples = np.frombuffer(pcm[: len(pcm) - len(pcm) % 2], dtype="<i2")
        if self._resampler is not None:
            samples = self._resampler.process(samples)
        data = samples.astype("<i2").tobytes()
        with self._lock:
            if not self._stopped:
                self._buffer += data

    async def drain(self) -> None:
        """Wait until everything written has been played, then release the device."""
        if self._stream is None or self._done is None:
            return
        tail = b""
        if self._resampler is not None:
            tail = self._resampler.process(np.zeros(_FLUSH_SAMPLES, dtype=np.int16)).tobytes()
        with self._lock:
            if not self._stopped:
                self._buffer += tail
            self._finishing = True
        await self._done.wait()
        if not self._keep_open:
            await self._close_stream()
        self._wake(self._first)

    def stop(self) -> None:
        """Barge-in: drop the queued audio and play silence from the next device buffer on.

        Safe from any thread; touches no PortAudio call, only the buffer and a flag.
        """
        with self._lock:
            self._stopped = True
            self._buffer.clear()
        self._wake(self._done, self._first)

    async def aclose(self) -> None:
        """Stop and release the device."""
        self.stop()
        await self._close_stream()

    async def _close_stream(self) -> None:
        stream, self._stream = self._stream, None
        self._open_rate = None
        if stream is not None:
            await asyncio.to_thread(stream.close)

    def _callback(self, outdata: Any, frames: int, time_info: Any, status: Any) -> None:
        """PortAudio's thread: copy what is buffered, pad with silence, finish when done."""
        need = frames * 2
        with self._lock:
            chunk = bytes(self._buffer[:need])
            del self._buffer[:need]
            ending = self._stopped or (self._finishing and not self._buffer)
            first = bool(chunk) and self._first_sample_at is None
            if first:
                self._first_sample_at = _dac_monotonic(time_info)
            newly_idle = ending and self._keep_open and not self._idle
            if newly_idle:
                self._idle = True
        if first:
            self._wake(self._first)
        if len(chunk) < need:
            if not ending:
                self.underruns += 1
            chunk += bytes(need - len(chunk))
        tap = self._tap
        if tap is not None:  # what the device plays now is what the microphone will hear
            tap.push(chunk, _dac_monotonic(time_info, known_only=True))
        if self._channels > 1:
            chunk = np.repeat(np.frombuffer(chunk, dtype="<i2"), self._channels).tobytes()
        outdata[:] = chunk
        if newly_idle:  # the stream stays open for the next reply: drain is done now
            self._wake(self._done)
        elif ending and not self._keep_open:
            raise load_sounddevice().CallbackStop

    def _on_finished(self) -> None:
        """PortAudio's thread, once the last buffer has been played: wake ``drain``."""
        self._wake(self._done)

    def _wake(self, *events: asyncio.Event | None) -> None:
        """From any thread: set events that the loop's coroutines wait on."""
        loop = self._loop
        if loop is None:
            return
        for event in events:
            if event is not None:
                with contextlib.suppress(RuntimeError):  # the loop is already closed
                    loop.call_soon_threadsafe(event.set)


@overload
def _dac_monotonic(time_info: Any, known_only: Literal[False] = False) -> float: ...
@overload
def _dac_monotonic(time_info: Any, known_only: bool) -> float | None: ...
def _dac_monotonic(time_info: Any, known_only: bool = False) -> float | None:
    """When this callback's first sample will leave the DAC, on ``time.monotonic()``'s clock.

    PortAudio gives that time on the stream's clock; its distance from the stream's "now"
    carries over to the monotonic clock. Without a usable DAC time, "now" is the best guess
    for the latency figures, and ``None`` (``known_only``) for the echo canceller, which then
    places the block after the last one rather than a whole output latency early.
    """
    now = time.monotonic()
    try:
        ahead = float(time_info.outputBufferDacTime) - float(time_info.currentTime)
    except (AttributeError, TypeError, ValueError):
        return None if known_only else now
    if float(time_info.outputBufferDacTime) <= 0 or not 0 <= ahead < 1.0:
        return None if known_only else now
    return now + ahead


class WavFileSink:
    """Writes the spoken reply to a mono int16 WAV file (``hark ask --out reply.wav``).

    The header is updated and the file flushed after every chunk, so it is a valid WAV at any
    moment, also after a ``stop`` or a crash. A later ``start`` at another rate is resampled to the
    file's rate, so several replies can go into one file.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._file: BinaryIO | None = None
        self._wave: wave.Wave_write | None = None
        self._rate: int | None = None
        self._resampler: StreamResampler | None = None
        self._stopped = False
        self._first_sample_at: float | None = None
        self.samples_written = 0

    @property
    def first_sample_at(self) -> float | None:
        """``time.monotonic()`` when the first chunk of this reply was written."""
        return self._first_sample_at

    @property
    def sample_rate(self) -> int | None:
        """The file's rate (set by the first ``start``)."""
        return self._rate

    async def start(self, sample_rate: int) -> None:
        """Open the file on the first call; later calls continue it."""
        if self._wave is None:
            try:
                f = self.path.open("wb")
                w = wave.open(f, "wb")  # noqa: SIM115 - open until aclose()
                w.setnchannels(1)
                w.setsampwidth(2)
                w.setframerate(sample_rate)
                w.writeframes(b"")  # writes the header now: the file is valid from the start
                f.flush()
            except OSError as exc:
                raise AudioError(
                    AudioCode.FILE_UNWRITABLE,
                    f"Cannot write the audio file {str(self.path)!r}: {exc.strerror or exc}.",
                ) from exc
            self._file, self._wave, self._rate = f, w, sample_rate
        rate = self._rate or sample_rate
        self._resampler = StreamResampler(sample_rate, rate) if sample_rate != rate else None
        self._stopped = False
        self._first_sample_at = None

    async def write(self, pcm: bytes) -> None:
        """Append int16 mono PCM to the file (dropped after ``stop``)."""
        if self._wave is None:
            raise AudioError(AudioCode.SINK_NOT_STARTED, "start() the WAV sink before write().")
        if self._stopped:
            return
        samples = np.frombuffer(pcm[: len(pcm) - len(pcm) % 2], dtype="<i2")
        if self._resampler is not None:
            samples = self._resampler.process(samples)
        if self._first_sample_at is None:
            self._first_sample_at = time.monotonic()
        self._wave.writeframes(samples.astype("<i2").tobytes())  # also updates the header
        if self._file is not None:
            self._file.flush()
        self.samples_written += len(samples)

    async def drain(self) -> None:
        """Make sure the file on disk holds everything written so far."""
        if self._file is not None:
            self._file.flush()  # writeframes keeps the header's lengths up to date

    def stop(self) -> None:
        """Barge-in: write nothing more of this reply; the file keeps what it has."""
        self._stopped = True

    async def aclose(self) -> None:
        """Finish and close the file."""
        w, f = self._wave, self._file
        self._wave = self._file = None
        if w is not None:
            w.close()
        if f is not None:
            f.close()


class NullSink:
    """Discards the audio (text-only mode) but keeps the timing and the amount written."""

    def __init__(self) -> None:
        self.sample_rate: int | None = None
        self.samples_written = 0
        self.stopped = False
        self._first_sample_at: float | None = None

    @property
    def first_sample_at(self) -> float | None:
        return self._first_sample_at

    async def start(self, sample_rate: int) -> None:
        self.sample_rate = sample_rate
        self.samples_written = 0
        self.stopped = False
        self._first_sample_at = None

    async def write(self, pcm: bytes) -> None:
        if self.stopped:
            return
        if self._first_sample_at is None and pcm:
            self._first_sample_at = time.monotonic()
        self.samples_written += len(pcm) // 2

    async def drain(self) -> None:
        return None

    def stop(self) -> None:
        self.stopped = True

    async def aclose(self) -> None:
        return None
