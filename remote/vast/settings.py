"""Settings of the Vast.ai client: where the API is, how long to wait, how often to retry.

Read from ``HARK_VAST__<FIELD>`` environment variables (``HARK_VAST__TIMEOUT_S=30``). The base
URL also honours ``VAST_URL`` (the variable the official ``vastai`` client reads) when
``HARK_VAST__URL`` is unset, so a proxy or a test server can stand in for Vast.ai. Build one
``VastSettings()`` at the entry point and pass it down.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "HARK_VAST__"
DEFAULT_URL = "https://console.vast.ai"


class VastSettings(BaseSettings):
    """Everything :class:`remote.vast.client.VastClient` needs besides the API key."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        extra="ignore",
        frozen=True,
        case_sensitive=False,
        populate_by_name=True,
    )

    url: str = Field(
        default=DEFAULT_URL,
        validation_alias=AliasChoices("HARK_VAST__URL", "VAST_URL"),
    )
    """The Vast.ai API base (scheme and host, optionally a port and a path prefix)."""
    connect_timeout_s: float = Field(default=10.0, gt=0, le=300)
    timeout_s: float = Field(default=60.0, gt=0, le=1800)
    """The longest wait for a reply to any request."""
    create_timeout_s: float = Field(default=120.0, gt=0, le=1800)
    """The longest wait for a create reply (slow, and never retried)."""
    retries: int = Field(default=4, ge=0, le=20)
    """Extra attempts after a 429, a 5xx or a connection error (never for a create)."""
    backoff_s: float = Field(default=1.0, ge=0, le=60)
    """The first wait between attempts; it doubles (``backoff_factor``) up to ``backoff_max_s``."""
    backoff_factor: float = Field(default=2.0, ge=1, le=10)
    backoff_max_s: float = Field(default=30.0, ge=0, le=600)
    retry_after_max_s: float = Field(default=60.0, ge=0, le=3600)
    """A 429 asking for a longer wait than this is not waited out: it fails at once."""
    page_size: int = Field(default=25, ge=1, le=1000)
    """Instances per page when listing."""
    max_pages: int = Field(default=400, ge=1)
    """A guard against a list that never ends."""
    logs_attempts: int = Field(default=30, ge=1, le=1000)
    """How often to look for a requested log before giving up."""
    logs_poll_s: float = Field(default=1.0, ge=0, le=60)

    @field_validator("url")
    @classmethod
    def _url_is_http(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                f"{value!r} is not an http(s) URL with a host; write it like {DEFAULT_URL}"
            )
        return value.strip().rstrip("/")

    @model_validator(mode="after")
    def _backoff_in_order(self) -> VastSettings:
        if self.backoff_max_s < self.backoff_s:
            raise ValueError("backoff_max_s must not be less than backoff_s")
        return self
