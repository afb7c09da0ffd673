"""Servers for tests on 127.0.0.1: the threaded HTTP server under the fakes and the start/stop
lifecycle they share (:class:`FakeService`), real uvicorn in a thread (:func:`serve`), and
ports that are free or that refuse connections.

The fakes' server joins its handler threads on close and can cut every open connection at once
(to simulate an upstream that dies mid-stream). uvicorn gets a socket that is bound and
listening *before* it starts, so clients may connect at once: the kernel holds them in the
backlog until uvicorn accepts. Nobody polls or sleeps for a server to come up.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol, Self


class TrackingHTTPServer(ThreadingHTTPServer):
    """Handlers call :meth:`track` on setup/finish; :meth:`close_connections` cuts them all."""

    daemon_threads = False
    block_on_close = True
    request_queue_size = 128
    """socketserver's default of 5 drops connections when a test opens twenty at once."""

    def server_bind(self) -> None:
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().server_bind()

    def track(self, sock: socket.socket, alive: bool) -> None:
        with self._open_lock:
            (self._open.add if alive else self._open.discard)(sock)

    def close_connections(self) -> None:
        with self._open_lock:
            for sock in list(self._open):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients hanging up (or failing the TLS handshake) are normal here: stay quiet."""


class ClosableServer(Protocol):
    """What :class:`FakeService` needs of its server (a ``socketserver`` server that can cut
    its open connections, as :class:`TrackingHTTPServer` does)."""

    server_address: Any

    def serve_forever(self, poll_interval: float = 0.5) -> None: ...

    def shutdown(self) -> None: ...

    def close_connections(self) -> None: ...

    def server_close(self) -> None: ...


class FakeService:
    """A fake service's server in a background thread: start it with ``with`` (or
    :meth:`start` / :meth:`stop`); :attr:`url` is its base URL on 127.0.0.1.

    A fake says how to build its server (:meth:`_make_server`, bound to 127.0.0.1 and a free
    port unless the fake asks for one) and what to let go when it stops (:meth:`_release`:
    held answers, gates). ``_stopping`` is set while it stops, so simulated delays can end at
    once. Stopping cuts open connections and joins every thread.
    """

    _name = "the fake server"
    """What errors call it."""
    _thread_name = "fake-server"
    """The serving thread's name."""
    _poll_interval_s = 0.05
    """How often the serving thread looks for a stop request."""

    def __init__(self) -> None:
        self._server: ClosableServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    def _make_server(self) -> ClosableServer:
        """The fake's server, bound to 127.0.0.1 (a subclass says how)."""
        raise NotImplementedError

    def _release(self) -> None:
        """Let go of whatever a handler may be waiting on (called first thing on stop)."""

    @property
    def scheme(self) -> str:
        return "http"

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError(f"{self._name} is not running; call start() first")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:40123``."""
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def start(self) -> Self:
        """Bind and serve in a background thread; returns self."""
        if self._server is not None:
            raise RuntimeError(f"{self._name} is already running")
        self._stopping.clear()
        server = self._make_server()
        thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": self._poll_interval_s},
            name=self._thread_name,
        )
        self._server, self._thread = server, thread
        thread.start()
        return self

    def stop(self) -> None:
        """Stop serving: release what handlers wait on, cut open connections, join threads."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self._stopping.set()
        self._release()
        server.shutdown()
        server.close_connections()
        server.server_close()  # joins the handler threads
        thread.join(timeout=10)
        self._server = self._thread = None
        assert not thread.is_alive(), f"{self._name} did not stop"

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextmanager
def serve(app: Any, cert: Path | None = None, key: Path | None = None) -> Iterator[str]:
    """Run ``app`` under real uvicorn on 127.0.0.1 (a free port; TLS when ``cert``/``key`` are
    given); yields the base URL.

    On exit uvicorn is asked to stop (running the app's shutdown) and its thread is joined.
    """
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    port = int(sock.getsockname()[1])
    config = uvicorn.Config(
        app,
        ssl_certfile=str(cert) if cert else None,
        ssl_keyfile=str(key) if key else None,
        log_level="warning",
        lifespan="auto",
        access_log=False,
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    failed: list[BaseException] = []

    def run() -> None:
        try:
            server.run(sockets=[sock])
        except BaseException as exc:  # handed to the test below
            failed.append(exc)

    thread = threading.Thread(target=run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    scheme = "https" if cert else "http"
    try:
        yield f"{scheme}://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()
        assert not thread.is_alive(), "uvicorn did not stop"
    if failed:
        raise RuntimeError("uvicorn failed") from failed[0]


@contextmanager
def closed_port() -> Iterator[int]:
    """A port on 127.0.0.1 that refuses connections (bound, never listening) while in use."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    try:
        yield int(sock.getsockname()[1])
    finally:
        sock.close()


def free_port() -> int:
    """A port on 127.0.0.1 that was free a moment ago (bound, then let go), for a server a
    test starts itself; nothing listens on it until then."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
