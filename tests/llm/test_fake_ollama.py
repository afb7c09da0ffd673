"""The FakeOllama knobs other tests and the benchmarks rely on (timing, waiting, tokens)."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from tests.fakes.ollama import FakeOllama, default_reply, normalize_model, tokenize


@pytest.mark.parametrize(
    "text", ["Hello, world!", "  leading and trailing  ", "It's 10:30 — ok?\nYes.", ""]
)
def test_tokens_join_back_to_the_text(text: str) -> None:
    assert "".join(tokenize(text)) == text


def test_tokens_look_like_model_tokens() -> None:
    assert tokenize("Hello there, Anna.") == ["Hello", " there", ",", " Anna", "."]


def test_default_reply_and_model_names() -> None:
    assert default_reply({"messages": [{"role": "user", "content": "what time is it?"}]}) == (
        "You said: what time is it?."
    )
    assert normalize_model("llama3.2") == "llama3.2:latest"
    assert normalize_model("host:5000/me/m") == "host:5000/me/m:latest"


def test_first_token_and_token_delays_are_honoured() -> None:
    with FakeOllama(first_token_delay_s=0.15, token_delay_s=0.03) as fake:
        fake.reply("one two three four")  # 4 tokens
        body = {"model": "llama3.2:3b", "messages": [{"role": "user", "content": "x"}]}
        arrivals: list[float] = []
        start = time.monotonic()
        with httpx.stream("POST", f"{fake.url}/api/chat", json=body, timeout=5) as resp:
            for line in resp.iter_lines():
                if line:
                    arrivals.append(time.monotonic() - start)
    assert len(arrivals) == 5  # four tokens and the done object
    assert arrivals[0] >= 0.15
    assert arrivals[3] - arrivals[0] >= 3 * 0.03 - 0.005


def test_delays_can_change_between_requests() -> None:
    with FakeOllama() as fake:
        fake.first_token_delay_s = 0.1
        start = time.monotonic()
        httpx.post(
            f"{fake.url}/api/chat",
            json={
                "model": "llama3.2:3b",
                "messages": [{"role": "user", "content": "hi"}],
                "stream": False,
            },
            timeout=5,
        )
        assert time.monotonic() - start >= 0.1


def test_wait_for_requests_from_another_thread() -> None:
    with FakeOllama() as fake:
        body = {"model": "llama3.2:3b", "messages": [{"role": "user", "content": "hi"}]}
        sender = threading.Thread(
            target=lambda: httpx.post(f"{fake.url}/api/chat", json=body, timeout=5)
        )
        sender.start()
        got = fake.wait_for_requests(1, timeout=5)
        sender.join()
        assert got[0]["messages"] == body["messages"]
        with pytest.raises(TimeoutError):
            fake.wait_for_requests(2, timeout=0.05)


def test_root_says_ollama_is_running() -> None:
    with FakeOllama() as fake:
        resp = httpx.get(fake.url + "/", timeout=5)
        assert resp.text == "Ollama is running"
        assert fake.pending == 0
        fake.reply("x")
        assert fake.pending == 1
