"""The fake ElevenLabs' fixed wire shapes: the service's error bodies, the PCM formats, the
deterministic tone it answers, and FastAPI-style validation of a text-to-speech body."""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

DEFAULT_KEY = "test-elevenlabs-key"
PCM_RATES = {
    "pcm_8000": 8000,
    "pcm_16000": 16000,
    "pcm_22050": 22050,
    "pcm_24000": 24000,
    "pcm_44100": 44100,
    "pcm_48000": 48000,
}

INVALID_KEY_BODY = {"detail": {"status": "invalid_api_key", "message": "Invalid API key"}}
RATE_LIMIT_BODY = {
    "detail": {
        "status": "too_many_concurrent_requests",
        "message": "Too many concurrent requests. Your current subscription is limited to 2 "
        "concurrent requests.",
    }
}
QUOTA_BODY = {
    "detail": {
        "status": "quota_exceeded",
        "message": "This request exceeds your quota of 10000. You have 3 credits remaining, "
        "while 50 credits are required for this request.",
    }
}
SERVER_ERROR_BODY = {
    "detail": {"status": "internal_server_error", "message": "An internal error occurred."}
}


def tone_pcm(text: str, sample_rate: int, ms_per_char: float = 40.0) -> bytes:
    """A 440 Hz tone at a third of full scale, ``ms_per_char`` ms per character of ``text``."""
    n = round(sample_rate * ms_per_char / 1000.0 * len(text))
    t = np.arange(n, dtype=np.float64) / sample_rate
    samples = np.round(np.sin(2 * math.pi * 440.0 * t) * 10000.0).astype("<i2")
    return samples.tobytes()


def validate_body(body: Any, query: Mapping[str, str]) -> list[dict[str, Any]]:
    """FastAPI-style validation errors, as ElevenLabs returns them with HTTP 422."""
    problems: list[dict[str, Any]] = []
    if not isinstance(body, dict):
        return [{"loc": ["body"], "msg": "field required", "type": "value_error.missing"}]
    if "text" not in body:
        problems.append(
            {"loc": ["body", "text"], "msg": "field required", "type": "value_error.missing"}
        )
    elif not isinstance(body["text"], str):
        problems.append(
            {"loc": ["body", "text"], "msg": "str type expected", "type": "type_error.str"}
        )
    if "model_id" in body and not isinstance(body["model_id"], str):
        problems.append(
            {"loc": ["body", "model_id"], "msg": "str type expected", "type": "type_error.str"}
        )
    fmt = query.get("output_format", "mp3_44100_128")  # the service's default
    if fmt not in PCM_RATES:
        problems.append(
            {
                "loc": ["query", "output_format"],
                "msg": f"this fake serves raw PCM only ({', '.join(PCM_RATES)}), not {fmt}",
                "type": "value_error",
            }
        )
    return problems


@dataclass
class RecordedRequest:
    """One request as the fake saw it. The API key itself is never kept: only whether it was
    sent and valid (``headers["xi-api-key"]`` reads ``"<redacted>"``)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    voice_id: str | None
    key_valid: bool
    status: int = 0
    bytes_sent: int = 0
    """Audio bytes handed to the connection so far."""
    completed: bool = False
    """True once all the audio was handed to the connection (a client that hung up early
    leaves it False)."""
    done: threading.Event = field(default_factory=threading.Event, repr=False)
    """Set when the fake finished with this request, however it ended."""
    spoken: list[str] = field(default_factory=list)
    """WebSocket only: the text of each generation, in order (``body`` lists the messages)."""


@dataclass
class ScriptedFailure:
    status: int
    body: Any
    headers: dict[str, str]
