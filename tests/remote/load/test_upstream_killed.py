"""Ollama killed in the middle of a streamed chat, behind the whole edge.

The upstream is FakeOllama in a process of its own, killed with SIGKILL while a chat streams
through Caddy and the server: the client's stream must end with Ollama's ``{"error": ...}``
line (never hang, never a bare dropped connection), the server must keep serving (``/status``,
an honest 503 while Ollama is gone), and a new Ollama on the same port is used at once.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import ollama
import pytest

from app.shared.protocol import ErrorCode
from tests.fakes.ollama import FakeOllama, default_reply
from tests.remote.load.child import Child
from tests.remote.load.edge import Edge, running_edge
from tests.remote.load.upstream_main import MODEL

TOKEN_MS = 50  # a 60-token reply takes 3 s: the kill lands mid-stream


class Upstream:
    """FakeOllama in a child process (``upstream_main``), to be killed by the test."""

    def __init__(self) -> None:
        self.child = Child("tests.remote.load.upstream_main", str(TOKEN_MS))
        self.port = int(self.child.ready_line.split()[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def kill(self) -> None:
        """SIGKILL, as an out-of-memory kill or a crash would end Ollama."""
        self.child.kill()


@pytest.fixture
def upstream_process() -> Iterator[Upstream]:
    upstream = Upstream()
    try:
        yield upstream
    finally:
        upstream.kill()


@pytest.fixture
def killable_edge(tmp_path: Path, upstream_process: Upstream) -> Iterator[Edge]:
    with running_edge(tmp_path, upstream_process.url) as edge:
        yield edge


def _chat_body(message: str) -> dict[str, Any]:
    return {"model": MODEL, "messages": [{"role": "user", "content": message}], "stream": True}


def test_a_stream_cut_by_a_dying_ollama_ends_with_an_error_line(
    killable_edge: Edge, upstream_process: Upstream
) -> None:
    edge = killable_edge
    message = "tell me a long story " + " ".join(f"part{j}" for j in range(60))
    with httpx.Client(
        base_url=edge.url, headers=edge.auth, verify=edge.ssl_context(), timeout=30
    ) as client:
        lines: list[dict[str, Any]] = []
        with client.stream("POST", "/api/chat", json=_chat_body(message)) as response:
            assert response.status_code == 200
            stream = response.iter_lines()
            for line in stream:
                if line.strip():
                    lines.append(json.loads(line))
                if len(lines) == 3:
                    break
            upstream_process.kill()  # mid-stream: 3 of ~65 chunks are through
            for line in stream:  # the rest must end, not hang (the client timeout bounds it)
                if line.strip():
                    lines.append(json.loads(line))

        assert not any(line.get("done") for line in lines), "the cut stream claims to be done"
        assert isinstance(lines[-1].get("error"), str)
        assert "Ollama" in lines[-1]["error"]
        got = "".join(line["message"]["content"] for line in lines[:-1])
        assert default_reply(_chat_body(message)).startswith(got)
        assert len(got) < len(default_reply(_chat_body(message)))

        # The server keeps serving: its own routes answer, Ollama's say honestly it is gone.
        assert client.get("/healthz").status_code in (200, 503)
        status = client.get("/status")
        assert status.status_code == 200, status.text
        down = client.get("/api/tags")
        assert down.status_code == 503
        assert down.json()["error"]["code"] == ErrorCode.UPSTREAM_DOWN
        assert int(down.headers["Retry-After"]) >= 1

        # A new Ollama on the same port is used at once.
        with FakeOllama(models=[MODEL], port=upstream_process.port) as revived:
            revived.reply("Back again.")
            again: list[dict[str, Any]] = []
            with client.stream("POST", "/api/chat", json=_chat_body("hello")) as response:
                assert response.status_code == 200
                again = [json.loads(line) for line in response.iter_lines() if line.strip()]
            assert "".join(line["message"]["content"] for line in again) == "Back again."
            assert again[-1]["done"] is True


def test_the_ollama_client_sees_the_cut_as_a_response_error(
    killable_edge: Edge, upstream_process: Upstream
) -> None:
    edge = killable_edge
    client = ollama.Client(host=edge.url, headers=edge.auth, verify=edge.ssl_context(), timeout=30)
    try:
        parts = client.chat(
            model=MODEL,
            messages=[{"role": "user", "content": " ".join(f"part{j}" for j in range(60))}],
            stream=True,
        )
        first = next(parts)
        assert first.message.content
        assert not first.done
        upstream_process.kill()
        with pytest.raises(ollama.ResponseError) as cut:
            for _ in parts:
                pass
        assert "Ollama" in str(cut.value.error)
    finally:
        client.close()
