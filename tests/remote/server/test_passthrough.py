"""The Ollama API through the server: streaming, tool calls, faults, official clients."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import ollama
import openai
import pytest

from remote.server.app import create_app
from remote.server.whisper import WhisperEngine
from tests.fakes.ollama import FakeOllama, tokenize
from tests.remote.server.harness import AUTH, KEY, MODEL, OTHER_KEY, make_settings
from tests.support.servers import closed_port, serve

CHAT = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
WEATHER_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


@pytest.fixture
def url(tiny_en_dir: Path, shared_engine: WhisperEngine, fake: FakeOllama) -> Iterator[str]:
    with serve(create_app(make_settings(tiny_en_dir, fake.url), engine=shared_engine)) as base:
        yield base


@pytest.fixture
def http(url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=url, headers=AUTH, timeout=15) as client:
        yield client


def _lines(response: httpx.Response) -> Iterator[dict[str, Any]]:
    for line in response.iter_lines():
        if line.strip():
            yield json.loads(line)


def test_chunks_arrive_before_ollama_finishes(fake: FakeOllama, http: httpx.Client) -> None:
    gate = threading.Event()
    fake.reply("one two three four", gate=gate, gate_after=2)
    with http.stream("POST", "/api/chat", json=CHAT) as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"] == "application/x-ndjson"
        lines = _lines(resp)
        first, second = next(lines), next(lines)
        assert fake.held_at_gate()  # Ollama is still "writing": these came through at once
        assert [first["message"]["content"], second["message"]["content"]] == ["one", " two"]
        gate.set()
        rest = list(lines)
    assert [p["message"]["content"] for p in rest[:-1]] == [" three", " four"]
    assert rest[-1]["done"] is True
    assert fake.gate_timeouts == 0


def test_client_key_and_hop_by_hop_headers_stay_here(fake: FakeOllama, http: httpx.Client) -> None:
    headers = {
        "Connection": "keep-alive, X-Hop-Only",
        "X-Hop-Only": "1",
        "TE": "trailers",
        "Proxy-Authorization": "Basic c2VjcmV0",
        "Cookie": "session=abc",
        "X-Request-Id": "abc-123",
    }
    resp = http.post("/api/chat", json={**CHAT, "stream": False}, headers=headers)
    assert resp.status_code == 200
    sent = fake.headers[-1]
    for name in ("authorization", "x-hop-only", "te", "proxy-authorization", "cookie"):
        assert name not in sent, name
    assert KEY not in json.dumps(sent)
    assert sent["x-request-id"] == "abc-123"
    assert sent["content-type"] == "application/json"
    assert "FakeOllama" not in resp.headers.get("server", "")  # Ollama's own headers stay there
    assert resp.headers["content-type"].startswith("application/json")


def test_ollama_client_chats_through_the_server(fake: FakeOllama, url: str) -> None:
    client = ollama.Client(host=url, headers=AUTH, timeout=15)
    fake.reply("Hello from the box.")
    whole = client.chat(MODEL, messages=[{"role": "user", "content": "hi"}])
    assert whole.message.content == "Hello from the box."
    fake.reply("Streaming works too.")
    parts = list(client.chat(MODEL, messages=[{"role": "user", "content": "x"}], stream=True))
    assert "".join(p.message.content or "" for p in parts) == "Streaming works too."
    assert parts[-1].done
    fake.reply_tool_call("get_weather", {"city": "Paris"})
    called = client.chat(MODEL, messages=[{"role": "user", "content": "?"}], tools=[WEATHER_TOOL])
    assert called.message.tool_calls is not None
    assert called.message.tool_calls[0].function.name == "get_weather"
    assert called.message.tool_calls[0].function.arguments == {"city": "Paris"}
    assert [m.model for m in client.list().models] == [MODEL]
    assert client.show(MODEL).capabilities == ["completion", "tools"]
    with pytest.raises(ollama.ResponseError) as missing:
        client.chat("mistral:7b", messages=[{"role": "user", "content": "x"}])
    assert missing.value.status_code == 404
    assert "mistral:7b" in missing.value.error
    anonymous = ollama.Client(host=url, timeout=15)
    with pytest.raises(ollama.ResponseError) as info:
        anonymous.list()
    assert info.value.status_code == 401
    assert all("authorization" not in h for h in fake.headers)


def test_openai_client_through_the_server(fake: FakeOllama, url: str) -> None:
    client = openai.OpenAI(api_key=KEY, base_url=f"{url}/v1", max_retries=0, timeout=15)
    assert [m.id for m in client.models.list()] == [MODEL]
    fake.reply("Plain answer.")
    whole = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "x"}])
    assert whole.choices[0].message.content == "Plain answer."
    fake.reply("Streamed answer.")
    stream = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "x"}], stream=True
    )
    deltas = [
        c.choices[0].delta.content for c in stream if c.choices and c.choices[0].delta.content
    ]
    assert deltas == tokenize("Streamed answer.")
    fake.reply_tool_call("get_weather", {"city": "Oslo"})
    tools: Any = [WEATHER_TOOL]
    called = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "x"}], tools=tools
    )
    calls = called.choices[0].message.tool_calls
    assert calls is not None
    assert json.loads(calls[0].function.arguments) == {"city": "Oslo"}
    client.close()


def test_ollama_down_is_503_with_a_clear_error(
    tiny_en_dir: Path, shared_engine: WhisperEngine
) -> None:
    with closed_port() as port:
        settings = make_settings(tiny_en_dir, f"http://127.0.0.1:{port}")
        with (
            serve(create_app(settings, engine=shared_engine)) as url,
            httpx.Client(base_url=url, headers=AUTH, timeout=15) as c,
        ):
            for method, path in (
                ("POST", "/api/chat"),
                ("GET", "/api/tags"),
                ("POST", "/v1/chat/completions"),
            ):
                resp = c.request(method, path, json=CHAT if method == "POST" else None)
                assert resp.status_code == 503, path
                assert resp.json()["error"]["code"] == "upstream-unavailable"
                assert "Ollama" in resp.json()["error"]["message"]
                assert int(resp.headers["Retry-After"]) >= 1
            client = ollama.Client(host=url, headers=AUTH, timeout=15)
            with pytest.raises(ollama.ResponseError) as info:
                client.chat(MODEL, messages=[{"role": "user", "content": "x"}])
            assert info.value.status_code == 503


def test_cut_stream_ends_with_an_error_line_and_the_server_goes_on(
    fake: FakeOllama, http: httpx.Client, url: str
) -> None:
    fake.cut_stream_after(2, "one two three")
    with http.stream("POST", "/api/chat", json=CHAT) as resp:
        assert resp.status_code == 200
        lines = list(_lines(resp))
    assert [p["message"]["content"] for p in lines[:2]] == ["one", " two"]
    assert len(lines) == 3
    assert set(lines[2]) == {"error"}
    assert "broke off" in lines[2]["error"]
    client = ollama.Client(host=url, headers=AUTH, timeout=15)
    fake.cut_stream_after(1, "alpha beta")
    with pytest.raises(ollama.ResponseError) as info:
        list(client.chat(MODEL, messages=[{"role": "user", "content": "x"}], stream=True))
    assert "broke off" in info.value.error
    fake.reply("Still here.")
    assert client.chat(MODEL, messages=[{"role": "user", "content": "x"}]).message.content == (
        "Still here."
    )


def test_cut_openai_stream_ends_with_an_error_event(fake: FakeOllama, url: str) -> None:
    client = openai.OpenAI(api_key=KEY, base_url=f"{url}/v1", max_retries=0, timeout=15)
    fake.cut_stream_after(2, "one two three")
    got: list[str] = []

    def consume() -> None:
        for chunk in client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "x"}], stream=True
        ):
            got.append(chunk.choices[0].delta.content or "")

    with pytest.raises(openai.APIError) as info:
        consume()
    assert got == ["one", " two"]
    assert "broke off" in info.value.message
    client.close()


def test_an_ollama_error_mid_stream_passes_as_is(fake: FakeOllama, http: httpx.Client) -> None:
    fake.fail_mid_stream(1, "model runner crashed", "one two")
    with http.stream("POST", "/api/chat", json=CHAT) as resp:
        lines = list(_lines(resp))
    assert lines[-1] == {"error": "model runner crashed"}


def test_ollama_http_errors_pass_through(fake: FakeOllama, http: httpx.Client) -> None:
    fake.fail(500, "llama runner process has terminated")
    resp = http.post("/api/chat", json=CHAT)
    assert resp.status_code == 500
    assert resp.json() == {"error": "llama runner process has terminated"}
    assert http.post("/api/chat", content=b"{not json").status_code == 400


def test_client_leaving_mid_stream_does_not_hurt(fake: FakeOllama, http: httpx.Client) -> None:
    gate = threading.Event()
    fake.reply("one two three", gate=gate, gate_after=1)
    with http.stream("POST", "/api/chat", json=CHAT) as resp:
        assert next(_lines(resp))["message"]["content"] == "one"
    gate.set()
    fake.reply("Next one.")
    resp = http.post("/api/chat", json={**CHAT, "stream": False})
    assert resp.json()["message"]["content"] == "Next one."


# --- provisioning ------------------------------------------------------------------------------


def _state(path: Path, state: str, **extra: Any) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"state": state, **extra}))
    tmp.replace(path)


def test_missing_model_while_pulling_is_503_provisioning(
    tiny_en_dir: Path, shared_engine: WhisperEngine, tmp_path: Path
) -> None:
    state = tmp_path / "state.json"
    _state(state, "pulling-model", detail="pulling llama3.1:8b", progress=0.42, model="llama3.1:8b")
    with FakeOllama(models=[]) as empty:
        settings = make_settings(tiny_en_dir, empty.url, state_file=state)
        with (
            serve(create_app(settings, engine=shared_engine)) as url,
            httpx.Client(base_url=url, headers=AUTH, timeout=15) as c,
        ):
            chat = {**CHAT, "model": "llama3.1:8b"}
            resp = c.post("/api/chat", json=chat)
            assert resp.status_code == 503
            assert resp.json()["error"]["code"] == "provisioning"
            assert "42 %" in resp.json()["error"]["message"]
            assert resp.headers["Retry-After"] == "15"
            openai_style = c.post("/v1/chat/completions", json=chat)
            assert openai_style.status_code == 503
            assert c.get("/api/tags").status_code == 200  # other routes answer as usual
            _state(state, "ready", model="llama3.1:8b")
            gone = c.post("/api/chat", json=chat)
            assert gone.status_code == 404  # now it really is missing: Ollama's own answer
            assert gone.json() == {"error": "model 'llama3.1:8b' not found"}


def test_ollama_not_up_while_starting_is_503_provisioning(
    tiny_en_dir: Path, shared_engine: WhisperEngine, tmp_path: Path
) -> None:
    state = tmp_path / "state.json"
    _state(state, "starting", detail="starting Ollama")
    with closed_port() as port:
        settings = make_settings(tiny_en_dir, f"http://127.0.0.1:{port}", state_file=state)
        with (
            serve(create_app(settings, engine=shared_engine)) as url,
            httpx.Client(base_url=url, headers=AUTH, timeout=15) as c,
        ):
            resp = c.get("/api/tags")
            assert resp.status_code == 503
            assert resp.json()["error"]["code"] == "provisioning"
            assert "starting Ollama" in resp.json()["error"]["message"]
            _state(state, "failed", detail="pull failed")
            down = c.get("/api/tags")
            assert down.status_code == 503
            assert down.json()["error"]["code"] == "upstream-unavailable"


def test_only_the_models_the_owner_allows_can_be_pulled(
    tiny_en_dir: Path, shared_engine: WhisperEngine, fake: FakeOllama
) -> None:
    settings = make_settings(tiny_en_dir, fake.url, pull_models=["llama3.1:8b", "qwen2.5"])
    with (
        serve(create_app(settings, engine=shared_engine)) as base,
        httpx.Client(base_url=base, headers=AUTH, timeout=15) as http,
    ):
        refused = http.post("/api/pull", json={"model": "huge/model:70b", "stream": False})
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "pull-not-allowed"
        assert "llama3.1:8b" in refused.json()["error"]["message"]
        assert "POST /api/pull" not in fake.calls  # never reached Ollama
        allowed = http.post("/api/pull", json={"model": "llama3.1:8b", "stream": False})
        assert allowed.status_code == 200
        assert fake.calls.count("POST /api/pull") == 1
        untagged = http.post("/api/pull", json={"name": "qwen2.5", "stream": False})
        assert untagged.status_code == 200


def test_by_default_nothing_can_be_pulled(fake: FakeOllama, http: httpx.Client) -> None:
    refused = http.post("/api/pull", json={"model": MODEL, "stream": False})
    assert refused.status_code == 403
    assert "HARK_SERVER__PULL_MODELS" in refused.json()["error"]["message"]
    assert "POST /api/pull" not in fake.calls


def test_one_key_may_have_only_so_many_replies_written_at_once(
    tiny_en_dir: Path, shared_engine: WhisperEngine, fake: FakeOllama
) -> None:
    settings = make_settings(tiny_en_dir, fake.url, api_keys=[KEY, OTHER_KEY], chats_per_key=2)
    gate = threading.Event()
    for _ in range(2):
        fake.reply("one two three four", gate=gate, gate_after=1)
    chat = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "stream": True}
    other = {"Authorization": f"Bearer {OTHER_KEY}"}
    with (
        serve(create_app(settings, engine=shared_engine)) as base,
        httpx.Client(base_url=base, headers=AUTH, timeout=15) as http,
    ):
        done: list[str] = []

        def held_chat() -> None:
            with http.stream("POST", "/api/chat", json=chat) as resp:
                done.append("".join(resp.iter_text()))

        try:
            threads = [threading.Thread(target=held_chat) for _ in range(2)]
            for t in threads:
                t.start()
            assert fake.held_at_gate(2)  # two replies of this key are being written
            third = http.post("/api/chat", json={**chat, "stream": False})
            assert third.status_code == 429
            assert third.headers["Retry-After"] == "1"
            assert "2 replies" in third.json()["error"]["message"]
            assert http.get("/api/tags").status_code == 200  # only replies count
            other_key = http.post("/api/chat", json={**chat, "stream": False}, headers=other)
            assert other_key.status_code == 200  # another computer's key goes on
        finally:
            gate.set()
            for t in threads:
                t.join(timeout=15)
        assert len(done) == 2
        again = http.post("/api/chat", json={**chat, "stream": False})
        assert again.status_code == 200  # the finished replies gave their places back
