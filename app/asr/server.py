"""Speech recognition on a Hark server (the GPU box, or ``hark server`` on another machine).

Each utterance is sent as a 16 kHz mono WAV to the server's OpenAI-compatible
``POST /v1/audio/transcriptions`` with ``Authorization: Bearer <server API key>``, over TLS
pinned to ``remote.ca_cert`` by the same rule as the LLM client
(:func:`app.shared.tls.pinned_ssl_context`: a self-signed leaf is the only trust anchor and is
matched without a host name check; a pinned CA keeps the check).

Failures come out as :class:`~app.shared.errors.AsrError` with these codes (an error answer is
read by :mod:`app.asr.server_failures`):

============================  ===========================================================
``asr-remote-unreachable``    no connection, TLS refused, a timeout, or a gateway (502/504)
``asr-remote-auth``           401/403, or no key stored: ``hark secret set server-api-key``
``asr-remote-provisioning``   503 ``provisioning``: the server is still setting up
``asr-remote-busy``           any other 503 (``busy``: the queue is full) or 429 (rate limit)
``asr-remote-bad-request``    any other 4xx, with the server's own message
``asr-remote-server``         any other 5xx, or an answer that is not a transcription
``asr-remote-ca-cert``        the pinned certificate file cannot be used
============================  ===========================================================

Retries: unreachable, 502/503/504 are tried again up to ``remote.retry_attempts`` times, the
waits doubling from ``remote.retry_backoff_s``; a ``Retry-After`` answer sets the wait instead.
Every wait is capped at ``max_wait_s`` so a voice turn is never held for minutes. A 4xx is never
retried (it will not change), nor is a certificate that does not match the pin.
"""

from __future__ import annotations

import asyncio
import io
import logging
import ssl
import time
import wave
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx

from app.asr.server_failures import (
    KEY_FIX,
    Failure,
    cert_mismatch,
    status_failure,
    tls_error,
    unreachable,
)
from app.audio.resample import resample_pcm
from app.core.types import SAMPLE_RATE, Transcript
from app.settings.schema import AsrSettings, RemoteSettings
from app.shared.errors import AsrCode, AsrError
from app.shared.protocol import AUTH_HEADER, BEARER, TRANSCRIPTIONS_PATH
from app.shared.tls import is_tls_error, pinned_ssl_context

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]
Notice = Callable[[str, str], None]
"""``on_notice(code, message)``: tell the user something (GUI toast, CLI line)."""

MAX_WAIT_S = 15.0
"""The longest single wait between two tries, whatever the backoff or ``Retry-After`` says."""
MIN_AUDIO_S = 0.1
"""Shorter input cannot hold a word: answered empty without asking the server."""
REQUEST_MODEL = "whisper-1"
"""The ``model`` field OpenAI's API requires; the server transcribes with its own model."""


def wav_bytes(pcm: bytes, sample_rate: int) -> bytes:
    """int16 mono PCM as a 16 kHz WAV file in memory (resampled when the rate differs)."""
    pcm = pcm[: len(pcm) - len(pcm) % 2]
    if sample_rate != SAMPLE_RATE:
        pcm = resample_pcm(pcm, sample_rate, SAMPLE_RATE)
    buf = io.BytesIO()
    with wave.open(buf, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(SAMPLE_RATE)
        wav.writeframes(pcm)
    return buf.getvalue()


class RemoteWhisper:
    """The Transcriber port on a Hark server: one HTTPS request per utterance, with retries.

    ``api_key`` is the server's key (keyring ``server-api-key``), sent as a bearer token and
    never logged. ``client`` injects an ``httpx.AsyncClient`` (its TLS settings are then the
    caller's); otherwise one is built with the pin and closed by :meth:`aclose`. ``sleep`` is
    what waits between tries (tests record the waits instead of waiting). ``on_notice`` hears
    once per kind of trouble that a retry is under way, so the user knows why a turn is slow.
    """

    def __init__(
        self,
        settings: RemoteSettings,
        asr: AsrSettings,
        api_key: str | None,
        *,
        client: httpx.AsyncClient | None = None,
        sleep: Sleep = asyncio.sleep,
        on_notice: Notice | None = None,
        max_wait_s: float = MAX_WAIT_S,
    ) -> None:
        if settings.url is None:
            raise AsrError(
                AsrCode.REMOTE_UNCONFIGURED,
                "no Hark server is configured: set remote.url (HARK_REMOTE__URL), or use the "
                "local speech recogniser.",
            )
        self._settings = settings
        self._asr = asr
        self._base = settings.url.rstrip("/")
        self._endpoint = f"{self._base}{TRANSCRIPTIONS_PATH}"
        self._headers = {AUTH_HEADER: f"{BEARER} {api_key}"} if api_key else {}
        self._has_key = bool(api_key)
        self._sleep = sleep
        self._on_notice = on_notice
        self._max_wait_s = max_wait_s
        self._timeout = httpx.Timeout(settings.timeout_s)
        self._noticed: set[str] = set()
        self._setup_error: AsrError | None = None
        self._owns_client = client is None
        if client is None:
            client = httpx.AsyncClient(verify=self._verify(), timeout=self._timeout)
        self._client = client
        parts = urlsplit(self._base)
        if parts.scheme == "http" and parts.hostname not in ("127.0.0.1", "localhost", "::1"):
            log.warning("the Hark server at %s is reached without TLS; use https", self._base)

    def _verify(self) -> ssl.SSLContext | bool:
        pin = self._settings.ca_cert
        if pin is None:
            return True  # the system's public CAs (a server with a real certificate)
        try:
            return pinned_ssl_context(pin.expanduser().read_text(encoding="ascii"))
        except (OSError, ValueError, ssl.SSLError) as exc:
            self._setup_error = AsrError(
                AsrCode.REMOTE_CA_CERT,
                f"the pinned certificate {pin} cannot be used ({exc}). Point remote.ca_cert "
                "(HARK_REMOTE__CA_CERT) at the server's PEM certificate.",
            )
            log.warning("Hark server certificate pin unusable: %s", exc)
            return True

    @property
    def url(self) -> str:
        """The server's base URL."""
        return self._base

    async def aclose(self) -> None:
        """Close the HTTP client if this object made it."""
        if self._owns_client:
            await self._client.aclose()

    def _language(self) -> str | None:
        language = self._asr.language.strip().lower()
        if language != "auto":
            return language
        allowed = [c.strip().lower() for c in self._asr.languages if c.strip()]
        return allowed[0] if len(allowed) == 1 else None

    async def transcribe(
        self, pcm: bytes, sample_rate: int, *, retries: int | None = None
    ) -> Transcript:
        """Transcribe int16 mono PCM on the server; silence gives ``text == ""``.

        ``retries`` overrides ``remote.retry_attempts`` for this call (the fallback probes a
        server that was down with a single try).
        """
        if sample_rate <= 0:
            raise AsrError(AsrCode.BAD_AUDIO, f"sample rate must be positive, not {sample_rate}")
        if self._setup_error is not None:
            raise AsrError(self._setup_error.code, self._setup_error.message)
        if not self._has_key:
            raise AsrError(
                AsrCode.REMOTE_AUTH, f"no API key for the Hark server at {self._base}. {KEY_FIX}"
            )
        audio_s = len(pcm) // 2 / sample_rate
        language = self._language()
        if audio_s < MIN_AUDIO_S:
            return Transcript(text="", language=language, audio_s=audio_s)
        body = wav_bytes(pcm, sample_rate)
        data = {"model": REQUEST_MODEL, "response_format": "verbose_json"}
        if language is not None:
            data["language"] = language
        budget = self._settings.retry_attempts if retries is None else max(0, retries)
        attempt = 0
        while True:
            started = time.monotonic()
            outcome = await self._try(body, data)
            if isinstance(outcome, Failure):
                failure = outcome
            else:
                self._noticed.clear()
                log.debug(
                    "remote ASR: %.2f s of audio, %d characters, in %.2f s",
                    audio_s,
                    len(outcome.get("text") or ""),
                    time.monotonic() - started,
                )
                return self._transcript(outcome, language, audio_s)
            if not failure.retry or attempt >= budget:
                raise failure.error
            wait = self._wait(attempt, failure.retry_after_s)
            attempt += 1
            log.info(
                "remote ASR failed (%s); try %d of %d in %.1f s",
                failure.error.code,
                attempt + 1,
                budget + 1,
                wait,
            )
            self._notify_retry(failure.error, wait)
            await self._sleep(wait)

    def _wait(self, attempt: int, retry_after_s: float | None) -> float:
        if retry_after_s is not None:
            return min(retry_after_s, self._max_wait_s)
        return min(self._settings.retry_backoff_s * 2.0**attempt, self._max_wait_s)

    def _notify_retry(self, error: AsrError, wait: float) -> None:
        if self._on_notice is None or error.code in self._noticed:
            return
        self._noticed.add(error.code)
        self._on_notice(error.code, f"{error.message} Trying again in {wait:.0f} s.")

    async def _try(self, body: bytes, data: Mapping[str, str]) -> dict[str, Any] | Failure:
        try:
            response = await self._client.post(
                self._endpoint,
                files={"file": ("utterance.wav", body, "audio/wav")},
                data=dict(data),
                headers=self._headers,
                timeout=self._timeout,
            )
        except httpx.TimeoutException as exc:
            what = (
                "did not accept a connection"
                if isinstance(exc, httpx.ConnectTimeout)
                else "did not answer"
            )
            return Failure(
                unreachable(self._base, f"{what} within {self._settings.timeout_s:g} s"), retry=True
            )
        except (httpx.HTTPError, OSError) as exc:
            detail = str(exc) or type(exc).__name__
            if is_tls_error(exc):
                return Failure(
                    tls_error(self._base, self._settings.ca_cert, detail),
                    retry=not cert_mismatch(exc),
                )
            return Failure(unreachable(self._base, f"could not be reached ({detail})"), retry=True)
        if response.status_code >= 300:
            return status_failure(self._base, response)
        try:
            result = response.json()
        except ValueError:
            result = None
        if not isinstance(result, dict) or not isinstance(result.get("text"), str):
            return Failure(
                AsrError(
                    AsrCode.REMOTE_SERVER,
                    f"{self._base} answered the transcription with something that is not a "
                    "transcription. Is remote.url the address of a Hark server?",
                ),
                retry=False,
            )
        return result

    @staticmethod
    def _transcript(result: Mapping[str, Any], language: str | None, audio_s: float) -> Transcript:
        text = " ".join(str(result.get("text") or "").split())
        heard = result.get("language")
        probs = [
            float(seg["no_speech_prob"])
            for seg in result.get("segments") or []
            if isinstance(seg, Mapping) and isinstance(seg.get("no_speech_prob"), int | float)
        ]
        return Transcript(
            text=text,
            language=heard if isinstance(heard, str) and heard else language,
            audio_s=audio_s,
            no_speech_prob=max(probs) if probs else None,
        )
