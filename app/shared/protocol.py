"""What the Hark server and its clients agree on: paths, headers, error bodies, states.

Kept free of heavy imports so that the desktop app (``app.asr.server``, ``app.llm``) can use it
without pulling in the server's dependencies.

Error bodies of Hark's own routes follow OpenAI's shape, so OpenAI clients read them:
``{"error": {"message": "...", "type": "...", "code": "..."}}``. Routes passed through to
Ollama keep Ollama's shape: ``{"error": "..."}``.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

TRANSCRIPTIONS_PATH = "/v1/audio/transcriptions"
HEALTH_PATH = "/healthz"
STATUS_PATH = "/status"
CODE_UPLOAD_PATH = "/box/code"
"""Where a new box takes Hark's wheel (``PUT``, the API key, the body's SHA-256 checked)."""
CODE_HASH_HEADER = "X-Hark-Code-SHA256"
"""The wheel's SHA-256, sent with a newer Hark's code to a running box (``PUT`` above)."""

OLLAMA_PASSTHROUGH = (
    ("POST", "/api/chat"),
    ("POST", "/api/generate"),
    ("GET", "/api/tags"),
    ("POST", "/api/show"),
    ("GET", "/api/ps"),
    ("GET", "/api/version"),
    ("POST", "/api/pull"),
    ("POST", "/v1/chat/completions"),
    ("GET", "/v1/models"),
)
"""The Ollama routes the server forwards (method, path); everything else of Ollama stays
private (no delete, no create, no push)."""

AUTH_HEADER = "Authorization"
BEARER = "Bearer"

RESPONSE_FORMATS = ("json", "text", "verbose_json", "srt", "vtt")


class Provisioning(StrEnum):
    """Where a freshly started server is on its way to ready (shown in ``/status``)."""

    AWAITING_CODE = "awaiting-code"
    """The box waits for the deployer to send Hark's code (see remote/image/receiver.py)."""
    INSTALLING = "installing"
    STARTING = "starting"
    PULLING_MODEL = "pulling-model"
    READY = "ready"
    FAILED = "failed"


class ErrorCode(StrEnum):
    """Stable codes in the server's error bodies."""

    UNAUTHORIZED = "unauthorized"
    RATE_LIMITED = "rate-limited"
    BUSY = "busy"
    PROVISIONING = "provisioning"
    UPSTREAM_DOWN = "upstream-unavailable"
    UPSTREAM_CUT = "upstream-stream-cut"
    BAD_AUDIO = "bad-audio"
    UNSUPPORTED_MEDIA = "unsupported-media-type"
    TOO_LARGE = "too-large"
    BAD_REQUEST = "bad-request"
    NOT_FOUND = "not-found"
    METHOD_NOT_ALLOWED = "method-not-allowed"
    PULL_REFUSED = "pull-not-allowed"
    """``/api/pull`` of a model the server's ``pull_models`` does not name."""
    WHISPER_UNAVAILABLE = "whisper-unavailable"
    CODE_HASH_MISMATCH = "code-hash-mismatch"
    """The uploaded wheel is not the one the box was told to expect (``PUT /box/code``)."""
    INTERNAL = "internal-error"


def error_body(
    code: ErrorCode | str, message: str, kind: str = "invalid_request_error"
) -> dict[str, Any]:
    """An OpenAI-shaped error body."""
    return {"error": {"message": message, "type": kind, "code": str(code)}}
