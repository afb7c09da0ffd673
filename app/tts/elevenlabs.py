"""The hosted ElevenLabs voice, streamed as raw PCM through the official ``elevenlabs`` SDK.

Hark asks for ``pcm_16000`` / ``pcm_22050`` / ``pcm_24000`` so the audio needs no decoding and
can be played the moment the first bytes arrive. The SDK is blocking, so its chunk generator is
walked on a worker thread (:func:`app.tts.threaded.iterate_in_thread`) and each chunk reaches
the loop as soon as it is read. Every failure becomes a :class:`TtsError` with a stable code
that :class:`app.tts.fallback.FallbackVoice` uses to decide whether to try again later.

The API key is handed to the SDK only; it never appears in a message or a log line.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncGenerator, Iterator, Mapping
from contextlib import aclosing
from typing import Any

from app.settings.schema import ElevenLabsSettings
from app.shared.errors import TtsCode, TtsError
from app.tts.threaded import iterate_in_thread

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 10.0
"""Per request: connecting, and waiting for each next piece of audio. Never hang a turn."""

_RATES = {"pcm_16000": 16000, "pcm_22050": 22050, "pcm_24000": 24000}

NO_KEY_HINT = "run `hark secret set elevenlabs-api-key` or set ELEVENLABS_API_KEY"


class ElevenLabsVoice:
    """ElevenLabs text to speech (``POST /v1/text-to-speech/{voice}/stream``), as a Synthesizer.

    ``settings`` chooses the voice, model, PCM rate and base URL (a proxy or a test server);
    ``api_key`` comes from the keyring or ``ELEVENLABS_API_KEY`` (None: every call raises
    ``tts-elevenlabs-no-key``). ``chunk_bytes`` is how the SDK re-chunks the stream.
    """

    def __init__(
        self,
        settings: ElevenLabsSettings,
        api_key: str | None,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        chunk_bytes: int = 1024,
    ) -> None:
        self._settings = settings
        self._api_key = api_key.strip() if api_key and api_key.strip() else None
        self._timeout_s = timeout_s
        self._chunk_bytes = chunk_bytes
        self._rate = _RATES[settings.output_format]
        self._client: Any = None
        self._http: Any = None
        self._client_lock = threading.Lock()

    @property
    def name(self) -> str:
        return "elevenlabs"

    @property
    def sample_rate(self) -> int:
        return self._rate

    @property
    def has_key(self) -> bool:
        """Whether a key was given (for ``hark doctor``; says nothing about its validity)."""
        return self._api_key is not None

    async def synthesize(self, text: str) -> AsyncGenerator[bytes, None]:
        """Stream ``text`` as int16 mono PCM at :attr:`sample_rate`, chunk by chunk.

        A chunk may end in the middle of a sample; the odd byte is kept for the next chunk so
        every yielded chunk holds whole samples.
        """
        if not text.strip():
            return
        if self._api_key is None:
            raise TtsError(
                TtsCode.ELEVENLABS_NO_KEY,
                f"No ElevenLabs API key is set; {NO_KEY_HINT}.",
            )
        carry = b""
        pieces = iterate_in_thread(lambda: self._stream_blocking(text), name="elevenlabs")
        try:
            async with aclosing(pieces):  # closing us stops the worker at once
                async for piece in pieces:
                    data = carry + piece
                    cut = len(data) - len(data) % 2
                    carry = data[cut:]
                    if cut:
                        yield data[:cut]
        except TtsError:
            raise
        except Exception as exc:
            raise self._map_error(exc) from exc
        if carry:
            log.debug("ElevenLabs stream ended with half a sample; dropped one byte")

    def close(self) -> None:
        """Release the HTTP connection pool (optional; the process exit does it too)."""
        with self._client_lock:
            http, self._http = self._http, None
            self._client = None
        if http is not None:
            http.close()

    # --- worker thread ----------------------------------------------------------------------

    def _get_client(self) -> Any:
        with self._client_lock:
            if self._client is None:
                try:
                    import httpx
                    from elevenlabs.client import ElevenLabs
                except ImportError as exc:
                    raise TtsError(
                        TtsCode.ELEVENLABS_MISSING,
                        "The ElevenLabs SDK is not installed; run `pip install elevenlabs` "
                        'or choose another voice (tts.engine = "piper").',
                    ) from exc
                self._http = httpx.Client(
                    timeout=httpx.Timeout(self._timeout_s), follow_redirects=True
                )
                self._client = ElevenLabs(
                    api_key=self._api_key,
                    base_url=self._settings.base_url,
                    timeout=self._timeout_s,
                    httpx_client=self._http,
                )
                log.info(
                    "ElevenLabs voice ready: voice=%s model=%s format=%s base=%s",
                    self._settings.voice_id,
                    self._settings.model_id,
                    self._settings.output_format,
                    self._settings.base_url,
                )
            return self._client

    def _stream_blocking(self, text: str) -> Iterator[bytes]:
        client = self._get_client()
        chunks: Iterator[bytes] = client.text_to_speech.stream(
            self._settings.voice_id,
            text=text,
            model_id=self._settings.model_id,
            output_format=self._settings.output_format,
            request_options={"chunk_size": self._chunk_bytes},
        )
        return chunks

    # --- errors -----------------------------------------------------------------------------

    def _map_error(self, exc: Exception) -> TtsError:
        from elevenlabs.core.api_error import ApiError  # importable: the client was built

        if isinstance(exc, ApiError) and isinstance(exc.status_code, int):
            return _api_error(exc.status_code, exc.body, exc.headers)
        where = self._settings.base_url
        if _is_timeout(exc):
            return TtsError(
                TtsCode.ELEVENLABS_UNREACHABLE,
                f"ElevenLabs at {where} did not answer within {self._timeout_s:g} s; check the "
                "network, or Hark will use the local voice.",
            )
        if _is_transport_error(exc):
            return TtsError(
                TtsCode.ELEVENLABS_UNREACHABLE,
                f"Could not reach ElevenLabs at {where} ({type(exc).__name__}); check the "
                "network connection and tts.elevenlabs.base_url.",
            )
        log.warning("ElevenLabs failed unexpectedly: %s", type(exc).__name__)
        return TtsError(
            TtsCode.ELEVENLABS_FAILED,
            f"ElevenLabs failed unexpectedly ({type(exc).__name__}); see the log for details.",
        )


def _detail(body: object) -> tuple[str, str]:
    """(status, message) from an ElevenLabs error body ``{"detail": {"status", "message"}}``."""
    if isinstance(body, Mapping):
        detail = body.get("detail", body)
        if isinstance(detail, Mapping):
            return str(detail.get("status", "")), str(detail.get("message", ""))
        if isinstance(detail, str):
            return "", detail
        if isinstance(detail, list) and detail and isinstance(detail[0], Mapping):
            return "", str(detail[0].get("msg", ""))
    if isinstance(body, str):
        return "", body[:200]
    return "", ""


def _header(headers: object, name: str) -> str | None:
    if isinstance(headers, Mapping):
        for key, value in headers.items():
            if str(key).lower() == name:
                return str(value)
    return None


def _api_error(status: int, body: object, headers: object) -> TtsError:
    """An HTTP error answer from ElevenLabs as a TtsError; quota problems say so."""
    kind, said = _detail(body)
    quota = "quota" in kind.lower() or "quota" in said.lower()
    said_part = f" ElevenLabs said: {said}" if said else ""
    if status == 401:
        if quota:
            return TtsError(
                TtsCode.ELEVENLABS_AUTH,
                "The ElevenLabs quota of this API key is used up; wait for it to renew, "
                'upgrade the plan, or use the local voice (tts.engine = "piper").' + said_part,
            )
        return TtsError(
            TtsCode.ELEVENLABS_AUTH,
            f"ElevenLabs rejected the API key (HTTP 401); {NO_KEY_HINT} with a valid key."
            + said_part,
        )
    if status == 429:
        retry = _header(headers, "retry-after")
        when = f"; it asks to retry after {retry} s" if retry else ""
        what = "quota is used up" if quota else "is rate limiting Hark"
        return TtsError(
            TtsCode.ELEVENLABS_RATE_LIMITED,
            f"ElevenLabs {what} (HTTP 429){when}. Hark will try it again later." + said_part,
        )
    if status >= 500:
        return TtsError(
            TtsCode.ELEVENLABS_SERVER,
            f"ElevenLabs had a server error (HTTP {status}); Hark will try it again later."
            + said_part,
        )
    return TtsError(
        TtsCode.ELEVENLABS_REQUEST,
        f"ElevenLabs refused the request (HTTP {status}{', ' + kind if kind else ''}); check "
        "tts.elevenlabs.voice_id, model_id and output_format." + said_part,
    )


def _is_timeout(exc: BaseException) -> bool:
    import httpx

    return isinstance(exc, httpx.TimeoutException | TimeoutError)


def _is_transport_error(exc: BaseException) -> bool:
    import httpx

    return isinstance(exc, httpx.TransportError | ConnectionError | OSError)
