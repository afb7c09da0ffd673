"""Where the Vast.ai client's settings come from."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from remote.vast.settings import DEFAULT_URL, VastSettings


@pytest.fixture(autouse=True)
def no_vast_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VAST_URL", raising=False)


def test_defaults_point_at_vast() -> None:
    settings = VastSettings()
    assert settings.url == DEFAULT_URL == "https://console.vast.ai"
    assert settings.retries >= 1


def test_vast_url_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VAST_URL", "http://127.0.0.1:9999/")
    assert VastSettings().url == "http://127.0.0.1:9999"


def test_hark_variable_wins_over_vast_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VAST_URL", "http://127.0.0.1:9999")
    monkeypatch.setenv("HARK_VAST__URL", "https://proxy.example:8443/vast")
    monkeypatch.setenv("HARK_VAST__TIMEOUT_S", "5")
    settings = VastSettings()
    assert settings.url == "https://proxy.example:8443/vast"
    assert settings.timeout_s == 5.0


def test_explicit_values_win() -> None:
    assert VastSettings(url="http://localhost:1", retries=0).retries == 0


@pytest.mark.parametrize("url", ["console.vast.ai", "ftp://x", "http://"])
def test_a_bad_url_is_refused(url: str) -> None:
    with pytest.raises(ValidationError, match="http"):
        VastSettings(url=url)


def test_backoff_bounds_are_checked() -> None:
    with pytest.raises(ValidationError, match="backoff_max_s"):
        VastSettings(backoff_s=10, backoff_max_s=1)


def test_a_plain_url_variable_is_not_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("URL", "http://elsewhere.example")
    assert VastSettings().url == DEFAULT_URL
