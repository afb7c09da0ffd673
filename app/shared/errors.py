"""Errors with stable codes.

Every error Hark shows a user carries a short stable ``code`` (for logs, tests and the GUI) and a
message that says what went wrong and what to do. Adapters chain the underlying exception at
stage boundaries (``raise AsrError(...) from exc``) so tracebacks keep the cause.

The codes are StrEnums, one per area (:class:`AsrCode`, :class:`ConfigCode`, …), so a code is
written once and a typo is a name error; a member equals its text (``AsrCode.MODEL_MISSING ==
"asr-model-missing"``), which is what logs, ``--json`` output and the GUI's wording see.
Vast.ai's and the deployer's codes live with them (``remote.vast.errors.VastCode``,
``remote.deploy.errors.DeployCode``); the server's wire codes are
``app.shared.protocol.ErrorCode``.
"""

from __future__ import annotations

from enum import StrEnum


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


class CoreCode(StrEnum):
    """The engine and its policy (HarkError)."""

    ENGINE_STARTING = "engine-starting"
    POLICY_MISSING = "policy-missing"


class ConfigCode(StrEnum):
    """Settings, secrets, files and the server's start-up options (ConfigError)."""

    API_KEY_FILE_EMPTY = "api-key-file-empty"
    API_KEY_FILE_MISSING = "api-key-file-missing"
    API_KEY_FILE_UNREADABLE = "api-key-file-unreadable"
    API_KEY_TOO_SHORT = "api-key-too-short"
    AUTOSTART_UNSUPPORTED = "autostart-unsupported"
    AUTOSTART_WRITE = "autostart-write"
    CADDY_MISSING = "caddy-missing"
    CONFIG_EXISTS = "config-exists"
    CONFIG_INVALID = "config-invalid"
    CONFIG_PARSE = "config-parse"
    CONFIG_READ = "config-read"
    CONFIG_SECRET_IN_FILE = "config-secret-in-file"
    KEYRING_UNAVAILABLE = "keyring-unavailable"
    PROMPT_UNREADABLE = "prompt-unreadable"
    RESOURCES_MISSING = "resources-missing"
    SECRET_EMPTY = "secret-empty"
    SECRET_FILE_EXISTS = "secret-file-exists"
    SECRET_FILE_OPEN = "secret-file-open"
    SECRET_NAME_MISSING = "secret-name-missing"
    SECRET_UNKNOWN = "secret-unknown"
    SERVER_ARGS_MISSING = "server-args-missing"
    SERVER_DOMAIN_INVALID = "server-domain-invalid"
    SERVER_INSECURE_PUBLIC = "server-insecure-public"
    SERVER_KEY_FILE_OPEN = "server-key-file-open"
    SERVER_KEY_FILE_UNREADABLE = "server-key-file-unreadable"
    SERVER_KEY_INVALID = "server-key-invalid"
    SERVER_LISTEN_INVALID = "server-listen-invalid"
    SERVER_NO_API_KEY = "server-no-api-key"
    SERVER_NOT_INSTALLED = "server-not-installed"
    SERVER_PORT_BUSY = "server-port-busy"
    SERVER_PORT_DENIED = "server-port-denied"
    SERVER_SETTINGS_INVALID = "server-settings-invalid"
    TLS_CERT_EXISTS = "tls-cert-exists"
    TLS_CERT_EXPIRED = "tls-cert-expired"
    TLS_CERT_INVALID = "tls-cert-invalid"
    TLS_FILE_MISSING = "tls-file-missing"
    TLS_FILE_UNREADABLE = "tls-file-unreadable"
    TLS_KEY_ENCRYPTED = "tls-key-encrypted"
    TLS_KEY_INVALID = "tls-key-invalid"
    TLS_KEY_MISMATCH = "tls-key-mismatch"
    TLS_MODE_CONFLICT = "tls-mode-conflict"
    TLS_MODE_MISSING = "tls-mode-missing"
    TLS_PAIR_INCOMPLETE = "tls-pair-incomplete"


class AudioCode(StrEnum):
    """A microphone, speaker or audio file could not be used (AudioError)."""

    DEVICE_FORMAT = "audio-device-format"
    DEVICES_UNAVAILABLE = "audio-devices-unavailable"
    ECHO_SETTINGS = "audio-echo-settings"
    ECHO_UNAVAILABLE = "audio-echo-unavailable"
    FILE_EMPTY = "audio-file-empty"
    FILE_FORMAT = "audio-file-format"
    FILE_UNREADABLE = "audio-file-unreadable"
    FILE_UNWRITABLE = "audio-file-unwritable"
    FRAME_SIZE = "audio-frame-size"
    INPUT_OPEN = "audio-input-open"
    INPUT_SETTINGS = "audio-input-settings"
    NO_SPEECH = "audio-no-speech"
    OUTPUT_OPEN = "audio-output-open"
    PCM_ODD_LENGTH = "audio-pcm-odd-length"
    PLAYER_NOT_STARTED = "audio-player-not-started"
    PORTAUDIO_MISSING = "audio-portaudio-missing"
    SILERO_UNAVAILABLE = "audio-silero-unavailable"
    SINK_NOT_STARTED = "audio-sink-not-started"
    SOUNDDEVICE_MISSING = "audio-sounddevice-missing"
    TURN_MODEL_CHECKSUM = "audio-turn-model-checksum"
    TURN_MODEL_DOWNLOAD = "audio-turn-model-download"
    TURN_MODEL_UNAVAILABLE = "audio-turn-model-unavailable"
    VAD_SETTINGS = "audio-vad-settings"
    WAKE_MODEL = "audio-wake-model"
    WAKE_SETTINGS = "audio-wake-settings"
    WAKE_UNAVAILABLE = "audio-wake-unavailable"


class AsrCode(StrEnum):
    """Speech could not be transcribed (AsrError)."""

    BAD_AUDIO = "asr-bad-audio"
    CUDA_UNAVAILABLE = "asr-cuda-unavailable"
    LANGUAGE_UNKNOWN = "asr-language-unknown"
    LANGUAGE_UNSUPPORTED = "asr-language-unsupported"
    MODEL_DOWNLOAD = "asr-model-download"
    MODEL_LOAD = "asr-model-load"
    MODEL_MISSING = "asr-model-missing"
    NOT_CONFIGURED = "asr-not-configured"
    REMOTE_AUTH = "asr-remote-auth"
    REMOTE_BAD_REQUEST = "asr-remote-bad-request"
    REMOTE_BUSY = "asr-remote-busy"
    REMOTE_CA_CERT = "asr-remote-ca-cert"
    REMOTE_PROVISIONING = "asr-remote-provisioning"
    REMOTE_RESTORED = "asr-remote-restored"
    REMOTE_SERVER = "asr-remote-server"
    REMOTE_UNCONFIGURED = "asr-remote-unconfigured"
    REMOTE_UNREACHABLE = "asr-remote-unreachable"


class LlmCode(StrEnum):
    """The language model (LlmError)."""

    AUTH = "llm-auth"
    READY = "llm-ready"
    """Not an error: the model answered its check (a BackendStatus code)."""
    UNCHECKED = "llm-unchecked"
    """Not an error: the model was not checked yet (a BackendStatus code)."""
    CHECK_FAILED = "llm-check-failed"
    BAD_TOOL_CALL = "llm-bad-tool-call"
    CA_CERT = "llm-ca-cert"
    MODEL_MISSING = "llm-model-missing"
    PROVISIONING = "llm-provisioning"
    SERVER_ERROR = "llm-server-error"
    STREAM_CUT = "llm-stream-cut"
    TIMEOUT = "llm-timeout"
    UNREACHABLE = "llm-unreachable"


class TtsCode(StrEnum):
    """The voices (TtsError)."""

    ELEVENLABS_AUTH = "tts-elevenlabs-auth"
    ELEVENLABS_CUT = "tts-elevenlabs-cut"
    ELEVENLABS_FAILED = "tts-elevenlabs-failed"
    ELEVENLABS_MISSING = "tts-elevenlabs-missing"
    ELEVENLABS_NO_KEY = "tts-elevenlabs-no-key"
    ELEVENLABS_RATE_LIMITED = "tts-elevenlabs-rate-limited"
    ELEVENLABS_REQUEST = "tts-elevenlabs-request"
    ELEVENLABS_SERVER = "tts-elevenlabs-server"
    ELEVENLABS_UNREACHABLE = "tts-elevenlabs-unreachable"
    ELEVENLABS_WS_REFUSED = "tts-elevenlabs-ws-refused"
    ESPEAK_FAILED = "tts-espeak-failed"
    ESPEAK_MISSING = "tts-espeak-missing"
    PIPER_FAILED = "tts-piper-failed"
    PIPER_MISSING = "tts-piper-missing"
    PIPER_SPEED = "tts-piper-speed"
    PIPER_VOICE_INVALID = "tts-piper-voice-invalid"
    PIPER_VOICE_MISSING = "tts-piper-voice-missing"


class GoogleCode(StrEnum):
    """Google Calendar and Gmail, and the tools over them (GoogleError)."""

    CALENDAR_BAD_INPUT = "calendar-bad-input"
    API_DISABLED = "google-api-disabled"
    AUTHORIZED_USER_INVALID = "google-authorized-user-invalid"
    BAD_REQUEST = "google-bad-request"
    CALENDAR_OFF = "google-calendar-off"
    CLIENT_FILE_INVALID = "google-client-file-invalid"
    CLIENT_FILE_MISSING = "google-client-file-missing"
    CLIENT_INVALID = "google-client-invalid"
    CLIENT_WEB = "google-client-web"
    CONFLICT = "google-conflict"
    FAILED = "google-failed"
    FILE_INVALID = "google-file-invalid"
    FILE_MISSING = "google-file-missing"
    FILE_UNREADABLE = "google-file-unreadable"
    FORBIDDEN = "google-forbidden"
    INSECURE_URI = "google-insecure-uri"
    LOGIN_DENIED = "google-login-denied"
    LOGIN_FAILED = "google-login-failed"
    LOGIN_PORT = "google-login-port"
    LOGIN_TIMEOUT = "google-login-timeout"
    MAIL_OFF = "google-mail-off"
    NOT_CONNECTED = "google-not-connected"
    NOT_FOUND = "google-not-found"
    NOTHING_TO_GRANT = "google-nothing-to-grant"
    RATE_LIMITED = "google-rate-limited"
    RECONNECT = "google-reconnect"
    SCOPE = "google-scope"
    UNAUTHORIZED = "google-unauthorized"
    UNAVAILABLE = "google-unavailable"
    UNREACHABLE = "google-unreachable"
    MAIL_BAD_INPUT = "mail-bad-input"
    TOOL_BAD_INPUT = "tool-bad-input"


class AuditCode(StrEnum):
    """The audit log (AuditError)."""

    CORRUPT = "audit-corrupt"
    NEWER_SCHEMA = "audit-newer-schema"
    OPEN = "audit-open"
    READ = "audit-read"
    WRITE = "audit-write"
