"""Errors with stable codes.

Every error Hark shows a user carries a short stable ``code`` (for logs, tests and the GUI) and a
message that says what went wrong and what to do. Adapters chain the underlying exception at
stage boundaries (``raise AsrError(...) from exc``) so tracebacks keep the cause.
"""

from __future__ import annotations


class HarkError(Exception):
    """Base of all Hark errors: a stable ``code`` plus a human message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConfigError(HarkError):
    """The settings file, an environment override or a secret is invalid."""


class AudioError(HarkError):
    """A microphone, speaker or audio file could not be used."""


class AsrError(HarkError):
    """Speech could not be transcribed."""


class LlmError(HarkError):
    """The language model could not be reached or failed during a reply."""


class TtsError(HarkError):
    """A voice could not speak."""


class ToolError(HarkError):
    """A tool the model asked for could not run."""


class GoogleError(HarkError):
    """Google Calendar or Gmail refused a request, or could not be reached."""
