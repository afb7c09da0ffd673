"""The last-resort local voice: the ``espeak-ng`` program, robotic but tiny and everywhere.

``espeak-ng --stdout`` writes a WAV stream to its standard output as it speaks. Because it
cannot seek back, the RIFF and ``data`` lengths in that header are placeholders (0x7ffff000);
the parser here reads the format from the header and then takes everything up to end of file as
samples. Text goes in on standard input, so nothing in it can be mistaken for an option.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections.abc import AsyncGenerator

import numpy as np

from app.audio.resample import StreamResampler, to_mono
from app.shared.errors import TtsCode, TtsError

log = logging.getLogger(__name__)

ESPEAK_RATE = 22050
"""What espeak-ng's own voices speak at; other rates (MBROLA voices) are resampled to it."""
DEFAULT_WPM = 175
_READ_BYTES = 4096


class EspeakVoice:
    """espeak-ng as a Synthesizer; ``speed`` scales espeak's default 175 words per minute."""

    def __init__(
        self, voice: str = "en-us", speed: float = 1.0, *, binary: str = "espeak-ng"
    ) -> None:
        self._voice = voice
        self._wpm = max(80, min(600, round(DEFAULT_WPM * speed)))
        self._binary = binary

    @property
    def name(self) -> str:
        return "espeak"

    @property
    def sample_rate(self) -> int:
        return ESPEAK_RATE

    async def synthesize(self, text: str) -> AsyncGenerator[bytes, None]:
        """Yield int16 PCM as espeak-ng writes it; the process is killed if we stop early."""
        if not text.strip():
            return
        try:
            proc = await asyncio.create_subprocess_exec(
                self._binary,
                "--stdout",
                "-b",
                "1",  # the input is UTF-8
                "-v",
                self._voice,
                "-s",
                str(self._wpm),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        except FileNotFoundError as exc:
            raise TtsError(
                TtsCode.ESPEAK_MISSING,
                f"{self._binary} is not installed; install it with "
                "`sudo apt-get install espeak-ng` (or choose another voice: tts.engine).",
            ) from exc
        except OSError as exc:
            raise TtsError(TtsCode.ESPEAK_FAILED, f"could not start {self._binary}: {exc}") from exc
        assert proc.stdin is not None
        assert proc.stdout is not None
        assert proc.stderr is not None
        proc.stdin.write(text.encode("utf-8"))
        proc.stdin.close()  # flushes, then closes: espeak speaks once it sees the end
        parser = WavStreamParser(ESPEAK_RATE)
        try:
            while data := await proc.stdout.read(_READ_BYTES):
                pcm = parser.feed(data)
                if pcm:
                    yield pcm
            stderr = (await proc.stderr.read()).decode("utf-8", "replace").strip()
            code = await proc.wait()
            if code != 0 or not parser.header_done:
                raise TtsError(
                    TtsCode.ESPEAK_FAILED,
                    f"espeak-ng failed (exit {code}): {stderr or 'no audio'}. Check "
                    f"tts.espeak_voice ({self._voice!r}); `espeak-ng --voices` lists them.",
                )
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()


class WavStreamParser:
    """Turns a streamed WAV (header first, then samples until EOF) into mono int16 PCM at
    ``out_rate``. Declared chunk lengths of ``data`` are ignored on purpose (see module doc)."""

    def __init__(self, out_rate: int) -> None:
        self._out_rate = out_rate
        self._buf = b""
        self.header_done = False
        self.channels = 1
        self.rate = out_rate
        self._resampler: StreamResampler | None = None

    def feed(self, data: bytes) -> bytes:
        """Add bytes from the stream; returns the whole samples they completed (maybe none)."""
        self._buf += data
        if not self.header_done and not self._parse_header():
            return b""
        frame = 2 * self.channels
        usable = len(self._buf) - len(self._buf) % frame
        raw, self._buf = self._buf[:usable], self._buf[usable:]
        if not raw:
            return b""
        samples = np.frombuffer(raw, dtype="<i2")
        mono = to_mono(samples, self.channels)
        if self._resampler is not None:
            mono = self._resampler.process(mono)
        return mono.astype("<i2").tobytes()

    def _parse_header(self) -> bool:
        buf = self._buf
        if len(buf) < 12:
            return False
        if buf[:4] != b"RIFF" or buf[8:12] != b"WAVE":
            raise TtsError(TtsCode.ESPEAK_FAILED, "espeak-ng did not write a WAV stream")
        pos = 12
        while True:
            if len(buf) < pos + 8:
                return False
            chunk_id = buf[pos : pos + 4]
            (size,) = struct.unpack("<I", buf[pos + 4 : pos + 8])
            if chunk_id == b"data":
                self._buf = buf[pos + 8 :]
                self.header_done = True
                if self.rate != self._out_rate:
                    self._resampler = StreamResampler(self.rate, self._out_rate)
                return True
            if len(buf) < pos + 8 + size:
                return False
            if chunk_id == b"fmt ":
                fmt, channels, rate = struct.unpack("<HHI", buf[pos + 8 : pos + 16])
                (bits,) = struct.unpack("<H", buf[pos + 22 : pos + 24])
                if fmt != 1 or bits != 16 or channels < 1:
                    raise TtsError(
                        TtsCode.ESPEAK_FAILED,
                        f"espeak-ng wrote an unexpected WAV format ({fmt}, {bits} bit)",
                    )
                self.channels, self.rate = channels, rate
            pos += 8 + size + (size & 1)
