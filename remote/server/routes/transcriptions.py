"""``POST /v1/audio/transcriptions``: OpenAI's transcription API, served by faster-whisper.

The form fields are OpenAI's: ``file`` (any audio container), ``model`` (accepted, but the
server always uses its configured Whisper model; ``verbose_json`` names it), ``language``,
``prompt`` (Whisper's initial prompt), ``response_format`` (json, text, verbose_json, srt,
vtt) and ``temperature`` (0 or absent: Whisper's fallback schedule; above 0: that
temperature). Other OpenAI fields are ignored.

Errors: 400 ``bad-audio`` (not audio, empty, undecodable), 400 ``bad-request`` (e.g. an
unknown language), 413 ``too-large``, 415 ``unsupported-media-type``, 503 ``busy`` with
``Retry-After`` when the queue is full, 503 ``whisper-unavailable`` when the model cannot be
loaded. Never a 500 for anything a client sends.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any, Literal

from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from app.shared.errors import AsrError
from app.shared.protocol import TRANSCRIPTIONS_PATH, ErrorCode
from remote.server.context import context
from remote.server.errors import ApiError
from remote.server.limits import QueueFull
from remote.server.whisper import Segment, TranscribeOptions, TranscriptionResult

log = logging.getLogger(__name__)

ResponseFormat = Literal["json", "text", "verbose_json", "srt", "vtt"]

_AUDIO_TYPES = ("audio/", "video/")
_OTHER_OK = frozenset({"", "application/octet-stream", "application/ogg", "binary/octet-stream"})
_STATUS_OF = {
    ErrorCode.BAD_AUDIO.value: 400,
    ErrorCode.BAD_REQUEST.value: 400,
    ErrorCode.TOO_LARGE.value: 413,
}

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "Bad audio (`bad-audio`) or a bad field (`bad-request`)"},
    401: {"description": "No or wrong API key"},
    413: {"description": "The upload is too large (`too-large`)"},
    415: {"description": "Not multipart, or the file is not audio (`unsupported-media-type`)"},
    429: {"description": "Rate limited (`rate-limited`), with Retry-After"},
    503: {"description": "Queue full (`busy`) or no model (`whisper-unavailable`)"},
}


def _audio_type_ok(content_type: str | None) -> bool:
    kind = (content_type or "").split(";", 1)[0].strip().lower()
    return kind in _OTHER_OK or kind.startswith(_AUDIO_TYPES)


def add_routes(app: FastAPI) -> None:
    """Add the transcription route to ``app``."""
    app.post(
        TRANSCRIPTIONS_PATH,
        responses=_ERRORS,
        summary="Transcribe audio (OpenAI-compatible)",
        response_model=None,
    )(create_transcription)


async def create_transcription(
    request: Request,
    file: Annotated[UploadFile, File(description="The recording, in any common audio format")],
    model: Annotated[str, Form(description="Accepted; the server's own model is used")] = "",
    language: Annotated[str | None, Form(max_length=16)] = None,
    prompt: Annotated[str | None, Form(max_length=4000)] = None,
    response_format: Annotated[ResponseFormat, Form()] = "json",
    temperature: Annotated[float | None, Form(ge=0.0, le=1.0)] = None,
) -> Response:
    """Transcribe the uploaded recording with the server's Whisper model."""
    ctx = context(request)
    if not _audio_type_ok(file.content_type):
        raise ApiError(
            415,
            ErrorCode.UNSUPPORTED_MEDIA,
            f"the file is sent as {file.content_type}, which is not audio; send a recording "
            "(audio/* or application/octet-stream)",
        )
    data = await file.read()
    options = TranscribeOptions(language or None, prompt or None, temperature)
    try:
        async with ctx.queue.slot():
            result = await ctx.engine.transcribe(data, options)
    except QueueFull as exc:
        raise ApiError(
            503,
            ErrorCode.BUSY,
            f"the server is busy with other transcriptions; try again in {exc.retry_after_s} s",
            {"Retry-After": str(exc.retry_after_s)},
        ) from exc
    except AsrError as exc:
        status = _STATUS_OF.get(exc.code, 503)
        raise ApiError(status, exc.code, exc.message) from exc
    return render(result, response_format, ctx.engine.status().model, model)


def render(
    result: TranscriptionResult, response_format: str, model: str, requested: str
) -> Response:
    """The result in one of OpenAI's response formats."""
    if response_format == "text":
        return PlainTextResponse(result.text + "\n")
    if response_format == "srt":
        return PlainTextResponse(_srt(result.segments))
    if response_format == "vtt":
        return PlainTextResponse(_vtt(result.segments), media_type="text/vtt")
    if response_format == "verbose_json":
        return JSONResponse(
            {
                "task": "transcribe",
                "language": result.language,
                "duration": round(result.duration_s, 3),
                "text": result.text,
                "segments": [_segment_json(seg) for seg in result.segments],
                "model": model,
                "requested_model": requested or None,
            }
        )
    return JSONResponse({"text": result.text})


def _segment_json(seg: Segment) -> dict[str, Any]:
    return {
        "id": seg.id,
        "seek": seg.seek,
        "start": seg.start,
        "end": seg.end,
        "text": seg.text,
        "tokens": list(seg.tokens),
        "temperature": seg.temperature,
        "avg_logprob": seg.avg_logprob,
        "compression_ratio": seg.compression_ratio,
        "no_speech_prob": seg.no_speech_prob,
    }


def _timestamp(seconds: float, separator: str) -> str:
    millis = max(0, round(seconds * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def _srt(segments: tuple[Segment, ...]) -> str:
    blocks = [
        f"{i}\n{_timestamp(s.start, ',')} --> {_timestamp(s.end, ',')}\n{s.text}\n"
        for i, s in enumerate(segments, start=1)
    ]
    return "\n".join(blocks) + ("\n" if blocks else "")


def _vtt(segments: tuple[Segment, ...]) -> str:
    blocks = [
        f"{_timestamp(s.start, '.')} --> {_timestamp(s.end, '.')}\n{s.text}\n" for s in segments
    ]
    return "WEBVTT\n\n" + "\n".join(blocks) + ("\n" if blocks else "")
