"""Every route needs the key (but /healthz), keys are checked properly, limits and CORS hold."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.routing import Route

from app.shared.protocol import (
    CODE_UPLOAD_PATH,
    HEALTH_PATH,
    OLLAMA_PASSTHROUGH,
    STATUS_PATH,
    TRANSCRIPTIONS_PATH,
)
from remote.server.app import create_app
from remote.server.auth import ApiKeys, bearer_token, key_id, read_key_file
from remote.server.settings import ServerConfigError, ServerSettings
from remote.server.whisper import WhisperEngine
from tests.fakes.ollama import FakeOllama
from tests.remote.server.harness import AUTH, KEY, OTHER_KEY, make_settings
from tests.support.clocks import ManualClock
from tests.support.servers import serve


def _routes(app: FastAPI) -> list[tuple[str, str]]:
    """(method, path) of every route the app has, from its route table."""
    found = set()
    for route in app.routes:
        if isinstance(route, APIRoute | Route):
            for method in route.methods or ():
                if method != "HEAD":
                    found.add((method, route.path))
    return sorted(found)


def _schema_routes(schema: dict[str, Any]) -> list[tuple[str, str]]:
    return sorted(
        (method.upper(), path) for path, item in schema["paths"].items() for method in item
    )


@pytest.fixture
def app(tiny_en_dir: Path, shared_engine: WhisperEngine, fake: FakeOllama) -> FastAPI:
    # Every route is tried with a wrong key here: the limit on wrong keys per address (tested
    # on its own below) would end the tour early.
    settings = make_settings(tiny_en_dir, fake.url, failed_auth_per_minute=0)
    return create_app(settings, engine=shared_engine)


@pytest.fixture
async def anon(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://hark") as client:
        yield client


async def _call(
    client: httpx.AsyncClient, method: str, path: str, headers: dict[str, str]
) -> httpx.Response:
    body = {} if method == "POST" else None
    return await client.request(method, path, json=body, headers=headers)


def test_the_route_table_and_the_schema_agree(app: FastAPI) -> None:
    schema_routes = _schema_routes(app.openapi())
    table = _routes(app)
    assert set(schema_routes) <= set(table)
    assert set(table) - set(schema_routes) == {("GET", "/openapi.json")}
    expected = {
        ("GET", HEALTH_PATH),
        ("GET", STATUS_PATH),
        ("POST", TRANSCRIPTIONS_PATH),
        ("PUT", CODE_UPLOAD_PATH),
    }
    assert set(schema_routes) == expected | set(OLLAMA_PASSTHROUGH)


async def test_every_route_but_healthz_needs_the_key(
    app: FastAPI, anon: httpx.AsyncClient, fake: FakeOllama
) -> None:
    routes = _routes(app)
    assert len(routes) == 14
    for method, path in routes:
        calls = len(fake.calls)
        bare = await _call(anon, method, path, {})
        wrong = await _call(anon, method, path, {"Authorization": f"Bearer {OTHER_KEY}"})
        if path == HEALTH_PATH:
            assert bare.status_code == 200, (method, path)
            assert wrong.status_code == 200
            continue
        for resp in (bare, wrong):
            assert resp.status_code == 401, (method, path)
            assert resp.headers["WWW-Authenticate"].startswith("Bearer")
            assert resp.json()["error"]["code"] == "unauthorized"
        assert "error=" not in bare.headers["WWW-Authenticate"]
        assert 'error="invalid_token"' in wrong.headers["WWW-Authenticate"]
        assert len(fake.calls) == calls  # nothing went upstream without the key
        right = await _call(anon, method, path, AUTH)
        assert right.status_code not in (401, 403, 405, 500), (method, path, right.text)
        if (method, path) in OLLAMA_PASSTHROUGH:  # reached Ollama (the fake lacks a few routes)
            assert fake.calls[calls:] == [f"{method} {path}"]
        elif path == CODE_UPLOAD_PATH:  # only on a box; this server is not one
            assert right.status_code == 404
            assert "not a Hark box" in right.json()["error"]["message"]
        else:
            assert right.status_code != 404


@pytest.mark.parametrize(
    "header",
    [
        f"Bearer {KEY[:-1]}",
        f"Bearer {KEY}x",
        f"Basic {KEY}",
        KEY,
        "Bearer",
        "Bearer ",
        f"Bearer {KEY.upper()}",
    ],
)
async def test_near_misses_are_refused(anon: httpx.AsyncClient, header: str) -> None:
    resp = await anon.get(STATUS_PATH, headers={"Authorization": header})
    assert resp.status_code == 401


async def test_scheme_is_case_insensitive(anon: httpx.AsyncClient) -> None:
    resp = await anon.get("/api/version", headers={"Authorization": f"bearer {KEY}"})
    assert resp.status_code == 200


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/"),
        ("GET", "/docs"),
        ("GET", "/api/delete"),
        ("DELETE", "/api/delete"),
        ("POST", "/api/create"),
        ("POST", "/api/push"),
        ("GET", "/v1/audio/translations"),
        ("GET", "/healthz/"),
        ("GET", "/status/"),
        ("GET", "/healthzz"),
        ("GET", "/%2e%2e/etc/passwd"),
    ],
)
async def test_unknown_routes_are_401_without_key_and_404_with(
    anon: httpx.AsyncClient, method: str, path: str
) -> None:
    bare = await anon.request(method, path)
    assert bare.status_code == 401
    keyed = await anon.request(method, path, headers=AUTH)
    assert keyed.status_code in (404, 405)
    assert keyed.json()["error"]["code"] in ("not-found", "method-not-allowed")


async def test_wrong_method_is_405_only_with_the_key(anon: httpx.AsyncClient) -> None:
    assert (await anon.get("/api/chat")).status_code == 401
    resp = await anon.get("/api/chat", headers=AUTH)
    assert resp.status_code == 405
    assert resp.json()["error"]["code"] == "method-not-allowed"


async def test_healthz_says_only_ok(anon: httpx.AsyncClient) -> None:
    resp = await anon.get(HEALTH_PATH)
    assert resp.status_code == 200
    assert resp.json() == {"status": "ok"}


# --- keys ---------------------------------------------------------------------------------------


def test_no_key_refuses_to_start(tiny_en_dir: Path) -> None:
    settings = make_settings(tiny_en_dir, "http://127.0.0.1:9", api_keys=[])
    with pytest.raises(ServerConfigError) as info:
        create_app(settings)
    assert info.value.code == "server-no-api-key"
    assert "HARK_SERVER__API_KEY_FILE" in info.value.message


def test_blank_keys_do_not_count(tiny_en_dir: Path) -> None:
    settings = make_settings(tiny_en_dir, "http://127.0.0.1:9", api_keys=["  ", ""])
    with pytest.raises(ServerConfigError):
        create_app(settings)


def test_key_file_with_comments(tmp_path: Path) -> None:
    path = tmp_path / "keys"
    path.write_text(f"# the desktop\n{KEY}\n\n  # the laptop\n  {OTHER_KEY}  \n")
    path.chmod(0o600)
    assert read_key_file(path) == [KEY, OTHER_KEY]
    keys = ApiKeys(read_key_file(path))
    assert keys.identify(KEY) == key_id(KEY)
    assert keys.identify(OTHER_KEY) == key_id(OTHER_KEY)
    assert keys.identify("# the desktop") is None


@pytest.mark.parametrize("mode", [0o644, 0o604, 0o602])
def test_a_key_file_others_can_read_is_refused(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "keys"
    path.write_text(KEY + "\n")
    path.chmod(mode)
    settings = ServerSettings(api_key_file=path)
    with pytest.raises(ServerConfigError) as info:
        ApiKeys.from_settings(settings)
    assert info.value.code == "server-key-file-open"
    assert f"chmod 600 {path}" in info.value.message


def test_a_missing_key_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ServerConfigError) as info:
        ApiKeys.from_settings(ServerSettings(api_key_file=tmp_path / "nope"))
    assert info.value.code == "server-key-file-unreadable"


def test_a_key_with_a_space_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "keys"
    path.write_text("two words\n")
    path.chmod(0o600)
    with pytest.raises(ServerConfigError) as info:
        read_key_file(path)
    assert info.value.code == "server-key-invalid"
    assert "two words" not in info.value.message  # never echo a secret


def test_keys_from_file_and_env_are_joined(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "keys"
    path.write_text(KEY + "\n")
    path.chmod(0o640)  # the group may read: only "others" are refused
    monkeypatch.setenv("HARK_SERVER__API_KEY_FILE", str(path))
    monkeypatch.setenv("HARK_SERVER__API_KEYS", f"{OTHER_KEY}, third-key-abcdefghijk")
    keys = ApiKeys.from_settings(ServerSettings())
    assert len(keys) == 3
    assert keys.identify("third-key-abcdefghijk") is not None


def test_settings_read_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARK_SERVER__API_KEYS", f'["{KEY}"]')
    monkeypatch.setenv("HARK_SERVER__CORS_ORIGINS", "https://a.example, https://b.example/")
    monkeypatch.setenv("HARK_SERVER__OLLAMA_URL", "http://127.0.0.1:11500/")
    monkeypatch.setenv("HARK_SERVER__MAX_UPLOAD_MB", "2")
    monkeypatch.setenv("HARK_SERVER__WHISPER_MODEL", "small.en")
    monkeypatch.setenv("HARK_SERVER__MAX_QUEUE", "7")
    s = ServerSettings()
    assert [k.get_secret_value() for k in s.api_keys] == [KEY]
    assert KEY not in repr(s)
    assert s.cors_origins == ["https://a.example", "https://b.example"]
    assert s.ollama_url == "http://127.0.0.1:11500"
    assert s.max_upload_bytes == 2 * 1024 * 1024
    assert s.whisper_model == "small.en"
    assert s.max_queue == 7


@pytest.mark.parametrize("origin", ["*", "app.example", "ftp://x.example"])
def test_cors_origins_must_be_real_origins(origin: str) -> None:
    with pytest.raises(ValueError, match="origin"):
        ServerSettings(cors_origins=[origin])


def test_bearer_token_parsing() -> None:
    assert bearer_token("Bearer abc") == "abc"
    assert bearer_token("  bearer   abc  ") == "abc"
    assert bearer_token("Token abc") is None
    assert bearer_token(None) is None
    assert bearer_token("Bearer") is None


def test_key_ids_are_short_and_do_not_hold_the_key() -> None:
    ident = key_id(KEY)
    assert len(ident) == 9
    assert ident != key_id(OTHER_KEY)
    assert ident[1:] not in KEY


# --- rate limit ---------------------------------------------------------------------------------


async def test_rate_limit_per_key(
    tiny_en_dir: Path, shared_engine: WhisperEngine, fake: FakeOllama
) -> None:
    clock = ManualClock()
    settings = make_settings(
        tiny_en_dir, fake.url, api_keys=[KEY, OTHER_KEY], rate_limit_per_minute=3
    )
    app = create_app(settings, engine=shared_engine, clock=clock)
    transport = httpx.ASGITransport(app=app)
    other = {"Authorization": f"Bearer {OTHER_KEY}"}
    async with httpx.AsyncClient(transport=transport, base_url="http://h") as c:
        for _ in range(3):
            assert (await c.get("/api/version", headers=AUTH)).status_code == 200
        limited = await c.get("/api/version", headers=AUTH)
        assert limited.status_code == 429
        assert limited.json()["error"]["code"] == "rate-limited"
        assert limited.headers["Retry-After"] == "20"
        assert (await c.get("/api/version", headers=other)).status_code == 200
        assert (await c.get(HEALTH_PATH)).status_code == 200  # no key, no bucket
        clock.advance(19)
        assert (await c.get("/api/version", headers=AUTH)).status_code == 429
        clock.advance(1)
        assert (await c.get("/api/version", headers=AUTH)).status_code == 200
        assert (await c.get("/api/version", headers=AUTH)).status_code == 429


async def test_wrong_keys_are_limited_per_client_address(
    tiny_en_dir: Path,
    shared_engine: WhisperEngine,
    fake: FakeOllama,
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = ManualClock()
    settings = make_settings(tiny_en_dir, fake.url, failed_auth_per_minute=3)
    app = create_app(settings, engine=shared_engine, clock=clock)
    wrong = {"Authorization": "Bearer not-the-key-0123456789"}
    guesser = httpx.ASGITransport(app=app, client=("203.0.113.9", 5000))
    owner = httpx.ASGITransport(app=app, client=("198.51.100.4", 5000))
    caplog.set_level(logging.INFO, logger="remote.server")
    async with (
        httpx.AsyncClient(transport=guesser, base_url="http://h") as g,
        httpx.AsyncClient(transport=owner, base_url="http://h") as o,
    ):
        for _ in range(3):
            assert (await g.get("/api/version", headers=wrong)).status_code == 401
        blocked = await g.get("/api/version", headers=AUTH)  # even the right key, now
        assert blocked.status_code == 429
        assert blocked.headers["Retry-After"] == "20"
        assert "wrong API keys" in blocked.json()["error"]["message"]
        assert (await o.get("/api/version", headers=AUTH)).status_code == 200  # others go on
        assert (await g.get("/api/version")).status_code == 429  # no key: still blocked
        clock.advance(20)
        assert (await g.get("/api/version", headers=AUTH)).status_code == 200
    assert any("a wrong API key from 203.0.113.9" in m for m in caplog.messages)
    assert any(m.startswith("198.51.100.4 GET /api/version 200") for m in caplog.messages)
    assert not any("not-the-key" in m for m in caplog.messages)


async def test_no_rate_limit_when_zero(
    tiny_en_dir: Path, shared_engine: WhisperEngine, fake: FakeOllama
) -> None:
    settings = make_settings(tiny_en_dir, fake.url, rate_limit_per_minute=0)
    app = create_app(settings, engine=shared_engine, clock=ManualClock())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://h", headers=AUTH) as c:
        statuses = {(await c.get("/api/version")).status_code for _ in range(150)}
    assert statuses == {200}


# --- CORS ---------------------------------------------------------------------------------------

_PREFLIGHT = {
    "Origin": "https://app.example",
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "authorization, content-type",
}


async def test_no_cors_headers_by_default(anon: httpx.AsyncClient) -> None:
    pre = await anon.options("/api/chat", headers=_PREFLIGHT)
    assert pre.status_code == 401
    assert "access-control-allow-origin" not in pre.headers
    resp = await anon.get("/api/version", headers={**AUTH, "Origin": "https://app.example"})
    assert resp.status_code == 200
    assert "access-control-allow-origin" not in resp.headers


async def test_cors_for_an_allowed_origin_only(
    tiny_en_dir: Path, shared_engine: WhisperEngine, fake: FakeOllama
) -> None:
    settings = make_settings(tiny_en_dir, fake.url, cors_origins=["https://app.example"])
    app = create_app(settings, engine=shared_engine)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://h") as c:
        pre = await c.options("/api/chat", headers=_PREFLIGHT)
        assert pre.status_code == 200
        assert pre.headers["access-control-allow-origin"] == "https://app.example"
        assert "authorization" in pre.headers["access-control-allow-headers"].lower()
        origin = {"Origin": "https://app.example"}
        resp = await c.get("/api/version", headers={**AUTH, **origin})
        assert resp.status_code == 200
        assert resp.headers["access-control-allow-origin"] == "https://app.example"
        assert "retry-after" in resp.headers["access-control-expose-headers"].lower()
        refused = await c.get("/api/version", headers=origin)
        assert refused.status_code == 401  # CORS never replaces the key
        evil = {**_PREFLIGHT, "Origin": "https://evil.example"}
        bad = await c.options("/api/chat", headers=evil)
        assert bad.status_code == 400
        assert "access-control-allow-origin" not in bad.headers
        theirs = await c.get("/api/version", headers={**AUTH, "Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in theirs.headers
    assert all("origin" not in h for h in fake.headers)  # never passed on to Ollama


# --- the access log -----------------------------------------------------------------------------


def test_access_log_has_no_secrets(
    tiny_en_dir: Path,
    shared_engine: WhisperEngine,
    fake: FakeOllama,
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = create_app(make_settings(tiny_en_dir, fake.url), engine=shared_engine)
    caplog.set_level(logging.DEBUG)
    with serve(app) as url, httpx.Client(base_url=url, timeout=10) as c:
        c.get("/api/version?token=sekrit-query-value", headers=AUTH)
        c.post(
            "/api/chat",
            json={
                "model": "llama3.2:3b",
                "messages": [{"role": "user", "content": "my private words"}],
                "stream": False,
            },
            headers=AUTH,
        )
        c.get("/status", headers={"Authorization": "Bearer guessed-wrong-key-123"})
    lines = [r.getMessage() for r in caplog.records if r.name == "remote.server.access"]
    assert len(lines) == 3
    assert lines[0].startswith("127.0.0.1 GET /api/version 200 ")
    assert lines[0].endswith(f"key={key_id(KEY)}")
    assert lines[1].startswith("127.0.0.1 POST /api/chat 200 ")
    assert lines[2].startswith("127.0.0.1 GET /status 401 ")
    assert lines[2].endswith("key=-")
    server_side = [r for r in caplog.records if r.name.startswith(("remote.", "uvicorn", "app."))]
    assert server_side
    everything = "\n".join(r.getMessage() for r in server_side)
    for secret in (KEY, "sekrit-query-value", "my private words", "guessed-wrong-key-123"):
        assert secret not in everything
    assert os.environ.get("HARK_SERVER__API_KEYS") is None


@pytest.mark.parametrize("source", ["environment", "file"])
def test_a_short_key_is_refused_wherever_it_comes_from(
    source: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    short = "hunter2-abc"  # 11 characters: guessable
    if source == "environment":
        monkeypatch.setenv("HARK_SERVER__API_KEYS", f"{KEY}, {short}")
    else:
        path = tmp_path / "keys"
        path.write_text(f"{KEY}\n{short}\n")
        path.chmod(0o600)
        monkeypatch.setenv("HARK_SERVER__API_KEY_FILE", str(path))
    with pytest.raises(ServerConfigError) as info:
        ApiKeys.from_settings(ServerSettings())
    assert info.value.code == "api-key-too-short"
    assert "16 characters" in info.value.message
    assert short not in info.value.message  # never echo a secret
