"""The Hark server's settings: typed, read from ``HARK_SERVER__*`` environment variables.

One :class:`ServerSettings` object per server process, built by the entry point
(``ServerSettings()`` reads the environment) and passed to
:func:`remote.server.app.create_app`. Every field can be set as ``HARK_SERVER__<FIELD>``
(upper case), e.g. ``HARK_SERVER__OLLAMA_URL=http://127.0.0.1:11434``.

Lists (``api_keys``, ``cors_origins``) are written either as a comma list
(``HARK_SERVER__CORS_ORIGINS=https://a.example,https://b.example``) or as a JSON list.

Whisper model ``auto`` means ``large-v3-turbo`` when the model runs on a CUDA GPU (near
large-v3 accuracy at several times its speed) and ``base.en`` on the CPU (fast enough for
real-time English on a few cores). Any faster-whisper model name, Hub id (``org/name``) or a
folder holding a CTranslate2 Whisper model (``model.bin``) works as well.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from app.shared.errors import ConfigError

ENV_PREFIX = "HARK_SERVER__"
DEFAULT_OLLAMA_URL = "http://127.0.0.1:11434"
GPU_WHISPER_MODEL = "large-v3-turbo"
CPU_WHISPER_MODEL = "base.en"


class ServerConfigError(ConfigError):
    """The server cannot start with these settings (say which, and how to fix it)."""


def _split_list(value: Any) -> Any:
    """``"a, b"`` or ``'["a", "b"]'`` → ``["a", "b"]``; other values pass unchanged."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.startswith("["):
        try:
            return json.loads(text)
        except ValueError as exc:
            raise ValueError(f"not a valid JSON list ({exc}); or write a comma list") from exc
    return [part.strip() for part in text.split(",") if part.strip()]


class ServerSettings(BaseSettings):
    """Everything the Hark server needs to know; see the module docstring for the env names."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        extra="ignore",
        frozen=True,
        case_sensitive=False,
        populate_by_name=True,
    )

    # --- Ollama ------------------------------------------------------------------------------
    ollama_url: str = DEFAULT_OLLAMA_URL
    """Where Ollama listens (it should listen on 127.0.0.1 only: the server is its door)."""
    ollama_connect_timeout_s: float = Field(default=5.0, gt=0, le=120)
    ollama_timeout_s: float = Field(default=600.0, gt=0, le=3600)
    """The longest wait for Ollama's next bytes (a non-streamed reply arrives all at once)."""

    # --- Whisper -----------------------------------------------------------------------------
    whisper_model: str = "auto"
    """``auto`` (large-v3-turbo on CUDA, base.en on CPU), a model name, Hub id or folder."""
    whisper_device: Literal["auto", "cpu", "cuda"] = "auto"
    whisper_compute_type: str = "auto"
    """``auto`` means float16 on CUDA and int8 on the CPU."""
    whisper_cpu_threads: int = Field(default=0, ge=0)
    whisper_beam_size: int = Field(default=1, ge=1, le=10)
    """1 (greedy) keeps latency low for a voice assistant; 5 is Whisper's accuracy setting."""
    whisper_no_speech_threshold: float = Field(default=0.6, ge=0.0, le=1.0)
    whisper_download_root: Path | None = None
    """Where downloaded models are kept (default: Hark's cache directory)."""
    whisper_hub_endpoint: str | None = None
    """A Hugging Face Hub mirror to download models from (default: the Hub)."""
    whisper_preload: bool = False
    """Load (and download) the model at start-up instead of on the first request."""
    whisper_idle_unload_s: float = Field(default=900.0, ge=0)
    """Free the model after this long without a transcription; 0 keeps it loaded."""
    whisper_concurrency: int = Field(default=1, ge=1, le=16)
    """Transcriptions that run at the same time (one model; more only helps on big GPUs)."""
    max_queue: int = Field(default=4, ge=0, le=1000)
    """Transcriptions that may wait for a free slot; one more is answered 503 busy."""
    max_audio_s: float = Field(default=3600.0, gt=0)
    """Longest decoded audio accepted (a small compressed file can hold hours of sound)."""

    # --- access ------------------------------------------------------------------------------
    api_key_file: Path | None = None
    """A file with one API key per line (``#`` starts a comment line); it must not be
    readable or writable by others (``chmod 600``), or the server refuses to start."""
    api_keys: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    """API keys given directly (comma list or JSON list); joined with those of the file."""
    max_upload_mb: float = Field(default=25.0, gt=0, le=4096)
    """Largest request body in MiB (the audio file plus a few hundred bytes of form)."""
    rate_limit_per_minute: int = Field(default=120, ge=0)
    """Requests per minute per API key (a bucket that holds one minute's worth); 0: no limit."""
    pull_models: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """The models a key holder may have the box download through ``/api/pull`` (Ollama's names,
    ``llama3.1:8b``); empty (the default): none, so no key can fill the disk with downloads.
    The box's start-up script pulls its own model without the server."""
    chats_per_key: int = Field(default=4, ge=0)
    """Replies (``/api/chat``, ``/api/generate``, ``/v1/chat/completions``) one API key may have
    being written at once, so one desktop of a household cannot take the whole box; more get
    429 with ``Retry-After``. 0: no limit."""
    failed_auth_per_minute: int = Field(default=10, ge=0)
    """Wrong API keys a client address may present a minute (a bucket that holds one minute's
    worth); past that, every request from it gets 429 until the bucket refills, so keys cannot
    be guessed at speed. 0: no limit."""
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Browser origins allowed to call the server; empty (the default) sends no CORS headers."""
    access_log: bool = True

    # --- the box -----------------------------------------------------------------------------
    state_file: Path | None = None
    """Provisioning state JSON written by the box's start-up script (shown in ``/status``)."""
    provisioning_retry_after_s: int = Field(default=15, ge=1, le=3600)
    nvidia_smi: str = "nvidia-smi"
    box_code_dir: Path | None = None
    """On a Hark box: where its code lives (``$HARK_HOME/code``); enables ``PUT /box/code``."""
    code_sha256: str | None = None
    """The SHA-256 of the Hark wheel this box runs (shown in ``/status`` as ``code``)."""

    # --- idle stop (a rented box stops itself when nobody uses it) ---------------------------
    idle_stop_minutes: float = Field(default=0.0, ge=0, le=7 * 24 * 60)
    """Stop this Vast.ai instance after so many minutes without a request (0: never). Needs
    the instance's id and key, which Vast.ai gives every instance as CONTAINER_ID and
    CONTAINER_API_KEY; the disk is kept, so `hark remote start` brings it back."""
    vast_instance_id: int | None = Field(
        default=None,
        validation_alias=AliasChoices("HARK_SERVER__VAST_INSTANCE_ID", "CONTAINER_ID"),
    )
    vast_instance_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("HARK_SERVER__VAST_INSTANCE_KEY", "CONTAINER_API_KEY"),
    )
    vast_instance_key_file: Path | None = None
    """A 0600 file holding that key instead (the box's bootstrap moves CONTAINER_API_KEY there,
    so it is in no process's environment)."""
    vast_url: str = "https://console.vast.ai"
    """The ``nvidia-smi`` command (a name on PATH or a path) for the GPU line of ``/status``."""

    @field_validator("api_keys", "cors_origins", "pull_models", mode="before")
    @classmethod
    def _lists(cls, value: Any) -> Any:
        return _split_list(value)

    @field_validator("ollama_url")
    @classmethod
    def _url(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                f"{value!r} is not an http(s) URL with a host; write it like {DEFAULT_OLLAMA_URL}"
            )
        return value.strip().rstrip("/")

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            parts = urlsplit(origin)
            if origin == "*" or parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(
                    f"CORS origin {origin!r} must be a full origin like https://app.example "
                    "(no wildcard: the server needs an API key, so list the origins you trust)"
                )
        return [o.rstrip("/") for o in value]

    @property
    def max_upload_bytes(self) -> int:
        """``max_upload_mb`` in bytes."""
        return int(self.max_upload_mb * 1024 * 1024)


def resolve_whisper_model(name: str, device: str) -> str:
    """``auto`` → the default model for ``device`` (``cuda`` or ``cpu``); others unchanged."""
    if name.strip().lower() != "auto":
        return name.strip()
    return GPU_WHISPER_MODEL if device == "cuda" else CPU_WHISPER_MODEL
