"""The hosted ElevenLabs voice, streamed as raw PCM: over ElevenLabs' WebSocket input API, or
one HTTP request per sentence through the official ``elevenlabs`` SDK.

Hark asks for ``pcm_16000`` / ``pcm_22050`` / ``pcm_24000`` so the audio needs no decoding and
can be played the moment the first bytes arrive. With ``transport = "websocket"`` (the
default) a whole reply can go over one connection while the model writes it
(:meth:`ElevenLabsVoice.synthesize_stream`, see :mod:`app.tts.elevenlabs_ws`); a single
sentence (:meth:`ElevenLabsVoice.synthesize`) takes one connection. If the upgrade is refused
(a proxy without WebSockets) the voice says so once in the log and uses HTTP for the rest of
the session. The SDK is blocking, so on the HTTP path its chunk generator is walked on a
worker thread (:func:`app.tts.threaded.iterate_in_thread`). Every failure becomes a
:class:`TtsError` with a stable code that :class:`app.tts.fallback.FallbackVoice` uses to
decide whether to try again later.

The API key is handed to the SDK and the WebSocket header only; it never appears in a message
or a log line.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Iterator
from contextlib import aclosing
from typing import Any

from app.settings.schema import ElevenLabsSettings
from app.shared.errors import TtsCode, TtsError
from app.tts.elevenlabs_errors import NO_KEY_HINT, api_error
from app.tts.elevenlabs_ws import stream_reply
from app.tts.textstream import sentences
from app.tts.threaded import aclose_iterator, iterate_in_thread

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 10.0
"""Per request: connecting, and waiting for each next piece of audio. Never hang a turn."""

_RATES = {"pcm_16000": 16000, "pcm_22050": 22050, "pcm_24000": 24000}


class ElevenLabsVoice:
    """ElevenLabs text to speech as a Synthesizer (and a streaming one, for whole replies).

    ``settings`` chooses the voice, model, PCM rate, transport and base URL (a proxy or a test
    server); ``api_key`` comes from the keyring or ``ELEVENLABS_API_KEY`` (None: every call
    raises ``tts-elevenlabs-no-key``). ``chunk_bytes`` is how the SDK re-chunks HTTP audio.
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
        self._websocket = settings.transport == "websocket"

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

    @property
    def transport(self) -> str:
        """``websocket`` or ``http``: what the next request will use (``http`` once refused)."""
        return "websocket" if self._websocket else "http"

    async def synthesize(self, text: str) -> AsyncGenerator[bytes, None]:
        """Stream ``text`` as int16 mono PCM at :attr:`sample_rate`, chunk by chunk.

        A chunk may end in the middle of a sample; the odd byte is kept for the next chunk so
        every yielded chunk holds whole samples.
        """
        if not text.strip():
            return
        key = self._key()
        audio = self._over_websocket(key, _One(text)) if self._websocket else self._over_http(text)
        try:
            async for chunk in audio:
                yield chunk
        finally:
            await aclose_iterator(audio)

    async def synthesize_stream(self, pieces: AsyncIterable[str]) -> AsyncGenerator[bytes, None]:
        """Speak a whole reply whose text arrives in pieces, starting before it is complete.

        Over the WebSocket the pieces go out as they come (one connection for the reply);
        over HTTP each sentence is a request as soon as it ends.
        """
        key = self._key()
        if self._websocket:
            audio = self._over_websocket(key, pieces)
            try:
                async for chunk in audio:
                    yield chunk
                return
            except TtsError as exc:
                if exc.code != TtsCode.ELEVENLABS_WS_REFUSED:
                    raise
                # refused before any text was read: the same pieces go over HTTP below
            finally:
                await aclose_iterator(audio)
        async for sentence in sentences(pieces):
            chunks = self._over_http(sentence)
            try:
                async for chunk in chunks:
                    yield chunk
            finally:
                await aclose_iterator(chunks)

    def _key(self) -> str:
        if self._api_key is None:
            raise TtsError(
                TtsCode.ELEVENLABS_NO_KEY,
                f"No ElevenLabs API key is set; {NO_KEY_HINT}.",
            )
        return self._api_key

    async def _over_websocket(
        self, key: str, pieces: AsyncIterable[str]
    ) -> AsyncGenerator[bytes, None]:
        """The WebSocket path; a refused upgrade switches this voice to HTTP, then re-raises."""
        audio = stream_reply(self._settings, key, pieces, timeout_s=self._timeout_s)
        carry = b""
        try:
            async for piece in audio:
                data = carry + piece
                cut = len(data) - len(data) % 2
                carry = data[cut:]
                if cut:
                    yield data[:cut]
        except TtsError as exc:
            if exc.code == TtsCode.ELEVENLABS_WS_REFUSED:
                self._websocket = False
                log.warning("ElevenLabs WebSocket refused; using HTTP for this session")
                if isinstance(pieces, _One):
                    async for chunk in self._over_http(pieces.text):
                        yield chunk
                    return
            raise
        finally:
            await aclose_iterator(audio)

    async def _over_http(self, text: str) -> AsyncGenerator[bytes, None]:
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
            return api_error(exc.status_code, exc.body, exc.headers)
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


def _is_timeout(exc: BaseException) -> bool:
    import httpx

    return isinstance(exc, httpx.TimeoutException | TimeoutError)


def _is_transport_error(exc: BaseException) -> bool:
    import httpx

    return isinstance(exc, httpx.TransportError | ConnectionError | OSError)


class _One:
    """One sentence as a stream of text pieces (kept so a refused upgrade can use HTTP)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __aiter__(self) -> AsyncIterator[str]:
        return self._pieces()

    async def _pieces(self) -> AsyncIterator[str]:
        yield self.text
