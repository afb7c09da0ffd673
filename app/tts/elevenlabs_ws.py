"""ElevenLabs' WebSocket input API: one connection per reply, text in as it is written.

``wss://…/v1/text-to-speech/{voice_id}/stream-input?model_id=…&output_format=pcm_16000``
with the ``xi-api-key`` header. The first message is a single space (it carries the
generation config); then text goes out in whole words as the model writes it, with
``flush: true`` at each sentence end so the audio for that sentence is made at once; the empty
text ``""`` ends the input. Audio comes back as JSON messages with base64 PCM in ``audio``;
the last one says ``isFinal: true`` and the service closes the connection (1000).

Why: the HTTP path must wait for a sentence to be finished and then go round a fresh request;
here the text is already at the service when the sentence ends, and the connection is opened
while the model is still writing its first words.

Failures come as the handshake's HTTP status (a proxy without WebSockets: 404/426, which
:class:`app.tts.elevenlabs.ElevenLabsVoice` answers by using HTTP instead), or as a close
frame with code 1008 and a reason (a bad key, a used-up quota, an idle timeout), or as a
connection that dies mid-reply. Each becomes a :class:`TtsError` with a stable code.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
from collections.abc import AsyncGenerator, AsyncIterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from app.settings.schema import ElevenLabsSettings
from app.shared.errors import TtsCode, TtsError
from app.tts.elevenlabs_errors import NO_KEY_HINT, api_error
from app.tts.textstream import CLAUSE_END, TextCutter, TextPiece

log = logging.getLogger(__name__)

CHUNK_LENGTH_SCHEDULE = (50, 120, 160, 250)
"""Characters buffered before the service starts on audio by itself (its default is 120
first): small first, so a long first sentence starts speaking before its full stop."""

INACTIVITY_TIMEOUT_S = 60
"""The service closes a connection that has had no text for this long (its default is 20 s;
a model that thinks or calls a tool may be quiet longer than that)."""


def stream_input_url(settings: ElevenLabsSettings) -> str:
    """The WebSocket URL for ``settings`` (``https`` base → ``wss``, ``http`` → ``ws``)."""
    parts = urlsplit(settings.base_url)
    scheme = "wss" if parts.scheme == "https" else "ws"
    path = parts.path.rstrip("/") + f"/v1/text-to-speech/{settings.voice_id}/stream-input"
    query = urlencode(
        {
            "model_id": settings.model_id,
            "output_format": settings.output_format,
            "inactivity_timeout": INACTIVITY_TIMEOUT_S,
        }
    )
    return urlunsplit((scheme, parts.netloc, path, query, ""))


@dataclass(slots=True)
class _Exchange:
    """What both halves of a connection know: whether audio is owed, and the sender's fate."""

    awaiting_audio: bool = False
    sender_error: BaseException | None = None
    sent_text: list[str] = field(default_factory=list)
    error_message: dict[str, Any] | None = None


async def stream_reply(
    settings: ElevenLabsSettings,
    api_key: str,
    pieces: AsyncIterable[str],
    *,
    timeout_s: float,
) -> AsyncGenerator[bytes, None]:
    """Speak the text of ``pieces`` over one connection; yield PCM as the service sends it.

    The connection is made before the first piece is read, so a refused upgrade
    (``tts-elevenlabs-ws-refused``) is raised before any text is taken from ``pieces``.
    ``timeout_s`` bounds connecting and each wait for audio the service owes (after a flush).
    """
    try:
        from websockets.asyncio.client import connect
        from websockets.exceptions import ConnectionClosed
    except ImportError as exc:  # pragma: no cover - elevenlabs depends on websockets
        raise TtsError(
            TtsCode.ELEVENLABS_MISSING,
            "The websockets package is missing; run `pip install elevenlabs` or set "
            'tts.elevenlabs.transport = "http".',
        ) from exc

    url = stream_input_url(settings)
    try:
        ws = await connect(
            url,
            additional_headers={"xi-api-key": api_key},
            open_timeout=timeout_s,
            close_timeout=2,
            max_size=2**23,
        )
    except Exception as exc:
        raise _connect_error(exc, settings.base_url, timeout_s) from exc
    exchange = _Exchange()
    sender = asyncio.create_task(_send_all(ws, pieces, exchange), name="elevenlabs-ws-send")
    produced = finished = False
    try:
        while True:
            wait = timeout_s if exchange.awaiting_audio else None
            try:
                raw = await asyncio.wait_for(ws.recv(), wait)
            except TimeoutError as exc:
                raise TtsError(
                    TtsCode.ELEVENLABS_UNREACHABLE,
                    f"ElevenLabs at {settings.base_url} sent no audio within {timeout_s:g} s; "
                    "check the network, or Hark will use the local voice.",
                ) from exc
            except ConnectionClosed as exc:
                if exchange.sender_error is not None:
                    raise exchange.sender_error from None
                raise _closed_error(exc, exchange, produced) from exc
            message = _parse(raw)
            audio = message.get("audio")
            if isinstance(audio, str) and audio:
                exchange.awaiting_audio = False
                try:
                    pcm = base64.b64decode(audio, validate=True)
                except (binascii.Error, ValueError) as exc:
                    raise TtsError(
                        TtsCode.ELEVENLABS_FAILED, "ElevenLabs sent audio Hark cannot read."
                    ) from exc
                produced = True
                yield pcm
            elif "message" in message or "error" in message:
                exchange.error_message = message  # the close that follows says the rest
            if message.get("isFinal") is True:
                finished = True
                break
        if exchange.sender_error is not None:
            raise exchange.sender_error
    finally:
        if not sender.done():
            sender.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await sender
        if finished:  # the service closes at once after isFinal
            with contextlib.suppress(Exception):
                await ws.close()
        else:  # stopped early (barge-in) or broken: hang up now, never wait for a handshake
            ws.transport.abort()


async def _send_all(ws: Any, pieces: AsyncIterable[str], exchange: _Exchange) -> None:
    """The initial message, the text in whole words (flush at sentence ends), then ``""``."""
    from websockets.exceptions import ConnectionClosed

    try:
        await ws.send(
            json.dumps(
                {
                    "text": " ",
                    "generation_config": {"chunk_length_schedule": list(CHUNK_LENGTH_SCHEDULE)},
                }
            )
        )
        cutter = TextCutter()
        first = True
        async for text in pieces:
            parts = cutter.feed(text)
            # a piece ending at a clause mark before anything was sent is the speaker's first
            # clause: flushed, so that it is voiced at once (later commas are not: each flush
            # costs the voice some of its flow)
            if first and parts and text[-1:].isspace() and CLAUSE_END.search(text):
                parts[-1] = TextPiece(parts[-1].text, sentence_end=True)
            first = first and not parts
            for piece in parts:
                await _send_piece(ws, piece.text, piece.sentence_end, exchange)
        last = cutter.finish()
        if last is not None:
            await _send_piece(ws, last.text, True, exchange)
        exchange.awaiting_audio = True
        await ws.send(json.dumps({"text": ""}))
    except ConnectionClosed:
        return  # the receiving side reads why
    except Exception as exc:  # the text source failed (the model's stream broke)
        exchange.sender_error = exc
        with contextlib.suppress(Exception):
            await ws.close()


async def _send_piece(ws: Any, text: str, flush: bool, exchange: _Exchange) -> None:
    message: dict[str, Any] = {"text": text}
    if flush:
        message["flush"] = True
        exchange.awaiting_audio = True
    exchange.sent_text.append(text)
    await ws.send(json.dumps(message))


def _parse(raw: str | bytes) -> dict[str, Any]:
    try:
        message = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise TtsError(
            TtsCode.ELEVENLABS_FAILED, "ElevenLabs sent a message Hark cannot read."
        ) from exc
    if not isinstance(message, dict):
        raise TtsError(TtsCode.ELEVENLABS_FAILED, "ElevenLabs sent a message Hark cannot read.")
    return message


def _connect_error(exc: Exception, where: str, timeout_s: float) -> TtsError:
    from websockets.exceptions import InvalidHandshake, InvalidStatus

    if isinstance(exc, InvalidStatus):
        status = exc.response.status_code
        body: object = exc.response.body.decode("utf-8", "replace") if exc.response.body else ""
        with contextlib.suppress(ValueError):
            body = json.loads(str(body))
        if status in (401, 403, 429) or status >= 500:
            return api_error(401 if status == 403 else status, body, dict(exc.response.headers))
        return TtsError(
            TtsCode.ELEVENLABS_WS_REFUSED,
            f"ElevenLabs at {where} refused the WebSocket upgrade (HTTP {status}); Hark speaks "
            'over HTTP instead (set tts.elevenlabs.transport = "http" to skip the attempt).',
        )
    if isinstance(exc, InvalidHandshake):
        return TtsError(
            TtsCode.ELEVENLABS_WS_REFUSED,
            f"ElevenLabs at {where} did not accept a WebSocket ({type(exc).__name__}); Hark "
            "speaks over HTTP instead.",
        )
    if isinstance(exc, TimeoutError):
        return TtsError(
            TtsCode.ELEVENLABS_UNREACHABLE,
            f"ElevenLabs at {where} did not answer within {timeout_s:g} s; check the network, "
            "or Hark will use the local voice.",
        )
    return TtsError(
        TtsCode.ELEVENLABS_UNREACHABLE,
        f"Could not reach ElevenLabs at {where} ({type(exc).__name__}); check the network "
        "connection and tts.elevenlabs.base_url.",
    )


def _closed_error(exc: Exception, exchange: _Exchange, produced: bool) -> TtsError:
    """Why the service closed the connection before ``isFinal``, as a TtsError."""
    from websockets.exceptions import ConnectionClosed

    assert isinstance(exc, ConnectionClosed)
    frame = exc.rcvd
    code = frame.code if frame is not None else 1006
    said = (frame.reason if frame is not None else "") or ""
    if exchange.error_message is not None:
        said = str(exchange.error_message.get("message") or said)
        kind = str(exchange.error_message.get("error") or "")
    else:
        kind = ""
    lowered = f"{kind} {said}".lower()
    said_part = f" ElevenLabs said: {said}" if said else ""
    if "quota" in lowered:
        return TtsError(
            TtsCode.ELEVENLABS_AUTH,
            "The ElevenLabs quota of this API key is used up; wait for it to renew, upgrade "
            'the plan, or use the local voice (tts.engine = "piper").' + said_part,
        )
    if "api key" in lowered or "api_key" in lowered or "unauthorized" in lowered:
        return TtsError(
            TtsCode.ELEVENLABS_AUTH,
            f"ElevenLabs rejected the API key; {NO_KEY_HINT} with a valid key." + said_part,
        )
    if "concurrent" in lowered or "rate" in lowered:
        return TtsError(
            TtsCode.ELEVENLABS_RATE_LIMITED,
            "ElevenLabs is rate limiting Hark; Hark will try it again later." + said_part,
        )
    if code == 1011 or code == 1013:
        return TtsError(
            TtsCode.ELEVENLABS_SERVER,
            f"ElevenLabs had a server error (close code {code}); Hark will try it again later."
            + said_part,
        )
    if code == 1008 and frame is not None:
        return TtsError(
            TtsCode.ELEVENLABS_REQUEST,
            "ElevenLabs refused the request (close code 1008); check tts.elevenlabs.voice_id, "
            "model_id and output_format." + said_part,
        )
    where = "in the middle of the reply" if produced else "before any audio"
    return TtsError(
        TtsCode.ELEVENLABS_CUT,
        f"The connection to ElevenLabs was cut {where} (close code {code}); Hark will try it "
        "again later." + said_part,
    )
