"""ElevenLabs' HTTP error answers as TtsErrors, shared by the HTTP and WebSocket paths.

The service answers ``{"detail": {"status", "message"}}``; a used-up quota comes as a 401 or a
429 whose status or message says "quota", and is told as such (the user can act on it).
"""

from __future__ import annotations

from collections.abc import Mapping

from app.shared.errors import TtsCode, TtsError

NO_KEY_HINT = "run `hark secret set elevenlabs-api-key` or set ELEVENLABS_API_KEY"


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


def api_error(status: int, body: object, headers: object) -> TtsError:
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
