"""The threaded HTTP server under the fakes: joins its handler threads on close, and can cut
every open connection at once (to simulate an upstream that dies mid-stream)."""

from __future__ import annotations

import contextlib
import socket
import threading
from http.server import ThreadingHTTPServer
from typing import Any


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
