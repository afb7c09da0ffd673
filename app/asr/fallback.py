"""Keep hearing the user when the Hark server cannot: transcribe on this computer meanwhile.

The primary is the server (:class:`~app.asr.server.RemoteWhisper`); the fallback is the local
faster-whisper (:class:`~app.asr.local.LocalWhisper`), built only the first time it is needed
(``fallback`` is a factory) so that a healthy server costs nothing on this computer.

The rules, per turn:

* the server is tried first, with its own retries (``remote.retry_attempts``);
* if it still fails with a code that may heal by waiting (unreachable, provisioning, busy), the
  utterance is transcribed locally and the user is told once per outage
  (``on_notice(code, message)``);
* for the next ``cooldown_s`` (default 60 s) turns go straight to the local model, so a server
  that is down does not add its retry waits to every turn; after that the server is probed
  again with a single try, and if it answers, it takes over again (the user is told);
* a wrong or missing API key, a refused request or a server fault is *not* hidden: it needs the
  user, so it is raised as it is;
* if the local model fails too, the server's error is raised, naming both problems.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Protocol

from app.asr.server_failures import RETRYABLE
from app.core.ports import Transcriber
from app.core.types import Transcript
from app.shared.errors import AsrCode, AsrError

log = logging.getLogger(__name__)

Notice = Callable[[str, str], None]
DEFAULT_COOLDOWN_S = 60.0
RESTORED_CODE = AsrCode.REMOTE_RESTORED


class RetryingTranscriber(Protocol):
    """A transcriber whose retries can be limited per call (the server client)."""

    async def transcribe(
        self, pcm: bytes, sample_rate: int, *, retries: int | None = None
    ) -> Transcript: ...


_WHY: dict[str, str] = {
    AsrCode.REMOTE_UNREACHABLE: "Hark server unreachable",
    AsrCode.REMOTE_PROVISIONING: "Hark server still setting up",
    AsrCode.REMOTE_BUSY: "Hark server busy",
}


class FallbackTranscriber:
    """A Transcriber that uses ``primary`` and, while it cannot serve, ``fallback()``."""

    def __init__(
        self,
        primary: RetryingTranscriber,
        fallback: Callable[[], Transcriber],
        on_notice: Notice | None = None,
        *,
        cooldown_s: float = DEFAULT_COOLDOWN_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._primary = primary
        self._make_fallback = fallback
        self._fallback: Transcriber | None = None
        self._on_notice = on_notice
        self._cooldown_s = cooldown_s
        self._clock = clock
        self._down_since: float | None = None
        self._retry_at: float | None = None
        self._last_error: AsrError | None = None

    @property
    def primary(self) -> RetryingTranscriber:
        return self._primary

    @property
    def fallback(self) -> Transcriber | None:
        """The local transcriber, once it has been needed (None before)."""
        return self._fallback

    @property
    def falling_back(self) -> bool:
        """Whether the server is out of service now (turns go to this computer)."""
        return self._down_since is not None

    async def aclose(self) -> None:
        """Close the server client (the local model needs no closing)."""
        close = getattr(self._primary, "aclose", None)
        if close is not None:
            await close()

    async def transcribe(self, pcm: bytes, sample_rate: int) -> Transcript:
        """Transcribe on the server, or on this computer while the server cannot."""
        now = self._clock()
        if self._retry_at is not None and now < self._retry_at:
            return await self._local(pcm, sample_rate, None)
        probing = self._down_since is not None
        try:
            result = await self._primary.transcribe(
                pcm, sample_rate, retries=0 if probing else None
            )
        except AsrError as exc:
            if exc.code not in RETRYABLE:
                raise
            return await self._local(pcm, sample_rate, exc)
        if probing:
            log.info("Hark server back after %.0f s", now - (self._down_since or now))
            self._down_since = self._retry_at = self._last_error = None
            self._notify(RESTORED_CODE, "Hark server reachable again; transcribing there.")
        return result

    async def _local(self, pcm: bytes, sample_rate: int, error: AsrError | None) -> Transcript:
        if error is not None:
            self._last_error = error
            if self._down_since is None:
                self._down_since = self._clock()
                why = _WHY.get(error.code, "Hark server unavailable")
                self._notify(error.code, f"{why}; transcribing on this computer. ({error.message})")
            self._retry_at = self._clock() + self._cooldown_s
            log.info("remote ASR failed (%s); local ASR for %.0f s", error.code, self._cooldown_s)
        if self._fallback is None:
            self._fallback = self._make_fallback()
        try:
            return await self._fallback.transcribe(pcm, sample_rate)
        except AsrError as local_error:
            remote = self._last_error
            raise AsrError(
                remote.code if remote is not None else AsrCode.REMOTE_UNREACHABLE,
                f"{remote.message if remote is not None else 'The Hark server is out of service.'}"
                f" Transcribing on this computer failed too: {local_error.message}",
            ) from local_error

    def _notify(self, code: str, message: str) -> None:
        if self._on_notice is not None:
            self._on_notice(code, message)
