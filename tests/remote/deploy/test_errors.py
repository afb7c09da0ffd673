"""Every error shape Vast.ai answers maps to a stable code and an actionable message."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from remote.vast.errors import VastCode, error_for, retry_after

KEY = "vast-secret-key-1234567890"


def vast(error: str, msg: str | None = None) -> dict[str, Any]:
    return {"success": False, "error": error, **({"msg": msg} if msg else {})}


def reply(status: int, body: Any = None, text: str | None = None, **headers: str) -> httpx.Response:
    request = httpx.Request("GET", "https://console.vast.ai/api/v0/instances/1/")
    if text is not None:
        return httpx.Response(status, text=text, headers=headers, request=request)
    return httpx.Response(status, json=body, headers=headers, request=request)


@pytest.mark.parametrize(
    ("response", "code"),
    [
        (reply(401, vast("auth_error", "Invalid user key")), "vast-auth"),
        (reply(404, vast("auth_error", "Invalid user key")), "vast-auth"),
        (reply(401, text="Unauthorized"), "vast-auth"),
        (reply(403, text="Forbidden"), "vast-auth"),
        (reply(404, vast("no_such_instance", "gone")), "vast-not-found"),
        (reply(429, {"success": False, "error": "too_many_requests"}), "vast-rate-limited"),
        (reply(429, text="API requests too frequent", **{"Retry-After": "3"}), "vast-rate-limited"),
        (reply(500, {"success": False, "error": "server_error", "msg": "oops"}), "vast-server"),
        (reply(502, text="<html>Bad Gateway</html>"), "vast-server"),
        (reply(400, vast("invalid_args", "too big")), "vast-bad-request"),
        (reply(400, vast("no_such_ask", "taken")), "vast-bad-request"),
        (reply(422, text=""), "vast-bad-request"),
    ],
)  # fmt: skip
def test_error_shapes_map_to_codes(response: httpx.Response, code: str) -> None:
    error = error_for(response, "do it", secret=KEY)
    assert error.code == code
    assert error.status == response.status_code
    assert error.message.startswith("could not do it: ")


def test_auth_error_says_where_to_fix_the_key() -> None:
    error = error_for(reply(404, {"success": False, "error": "auth_error"}), "list", secret=KEY)
    assert "cloud.vast.ai → Account → API keys" in error.message
    assert error.vast_error == "auth_error"


def test_vast_message_is_kept_for_a_bad_request() -> None:
    body = {"success": False, "error": "invalid_args", "msg": "disk must be at most 2000"}
    error = error_for(reply(400, body), "create", secret=KEY)
    assert "disk must be at most 2000" in error.message
    assert error.vast_error == "invalid_args"


def test_plain_text_rate_limit_keeps_retry_after() -> None:
    error = error_for(reply(429, text="slow down", **{"Retry-After": "7"}), "search", secret=KEY)
    assert error.retry_after == 7.0
    assert "slow down" in error.message
    assert "7 s" in error.message


def test_an_echoed_key_is_scrubbed() -> None:
    body = {"success": False, "error": "auth_error", "msg": f"key {KEY} unknown"}
    for status in (400, 401, 500):
        error = error_for(reply(status, body), "list", secret=KEY)
        assert KEY not in str(error)


@pytest.mark.parametrize(
    ("value", "seconds"), [("5", 5.0), ("0.5", 0.5), ("-3", 0.0), ("soon", None)]
)
def test_retry_after_is_read(value: str, seconds: float | None) -> None:
    assert retry_after(reply(429, text="x", **{"Retry-After": value})) == seconds


def test_retry_after_as_a_date() -> None:
    seconds = retry_after(reply(429, text="x", **{"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}))
    assert seconds == 0.0  # in the past
    assert retry_after(reply(429, text="x")) is None
    assert VastCode.CREATE_UNCERTAIN == "vast-create-uncertain"
