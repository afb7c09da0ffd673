"""Running the Hark server: uvicorn, and Caddy in front for TLS, supervised as one stack.

With TLS uvicorn serves the app on 127.0.0.1 on a free port and Caddy holds the one public
port; without TLS uvicorn listens on the public address itself. The stack is ready when
``GET /healthz`` answers through the public port (polled, bounded by a deadline). If Caddy or
uvicorn dies afterwards, both are stopped and ``run_stack`` returns 1 with a message saying
which part died: restarting is the job of whatever runs the stack (``remote/image/onstart.sh``
on the GPU box restarts it with backoff; systemd elsewhere), so a half-dead stack never
lingers. SIGINT/SIGTERM stop both: Caddy gets SIGTERM and is waited for, uvicorn finishes its
requests (five seconds at most); a second signal stops both at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import signal
import socket
import ssl
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from app.shared.errors import ConfigCode, ConfigError
from app.shared.protocol import HEALTH_PATH
from remote.server.caddy import CaddyConfig, CaddyProcess, find_caddy
from remote.tls import CertInfo

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_DIED = 1
UVICORN_KEEPALIVE_S = 75
"""Longer than Caddy keeps idle upstream connections (30 s), so Caddy closes them first."""


@dataclass(frozen=True, slots=True)
class Listen:
    """A parsed ``HOST:PORT`` (IPv6 as ``[::1]:8443``); the host is an IP address."""

    host: str
    port: int

    @property
    def is_loopback(self) -> bool:
        return ipaddress.ip_address(self.host).is_loopback

    @property
    def probe_host(self) -> str:
        """Where this machine reaches the listener (loopback for an all-interfaces address)."""
        ip = ipaddress.ip_address(self.host)
        if ip.is_unspecified:
            return "::1" if ip.version == 6 else "127.0.0.1"
        return self.host

    def url(self, scheme: str) -> str:
        """The URL this machine reaches the listener at."""
        h = self.probe_host
        return f"{scheme}://{f'[{h}]' if ':' in h else h}:{self.port}"

    def __str__(self) -> str:
        return f"{f'[{self.host}]' if ':' in self.host else self.host}:{self.port}"


def parse_listen(text: str) -> Listen:
    """``"0.0.0.0:8443"``, ``"[::]:8443"``, ``"localhost:8443"`` or ``":8443"`` (all IPv4)."""
    raw = text.strip()
    host, sep, port_text = raw.rpartition(":")
    if not sep:
        raise _listen_error(text, "it has no port")
    host = host.strip()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise _listen_error(text, "an IPv6 address needs brackets")
    host = {"": "0.0.0.0", "*": "0.0.0.0", "localhost": "127.0.0.1"}.get(host, host)
    try:
        ip = ipaddress.ip_address(host)
    except ValueError as exc:
        raise _listen_error(
            text, f"{host!r} is not an IP address (0.0.0.0 means all interfaces)"
        ) from exc
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise _listen_error(text, f"{port_text!r} is not a port number from 1 to 65535")
    return Listen(str(ip), int(port_text))


def _listen_error(text: str, why: str) -> ConfigError:
    return ConfigError(
        ConfigCode.SERVER_LISTEN_INVALID,
        f"--listen {text!r}: {why}; write HOST:PORT, e.g. 127.0.0.1:8443, 0.0.0.0:8443 or "
        "[::1]:8443.",
    )


DEFAULT_MAX_BODY_BYTES = 25 * 1024 * 1024
DEFAULT_STARTUP_TIMEOUT_S = 120.0
"""Time for the app to start (it may load a model) and Caddy to answer through TLS."""


@dataclass(frozen=True, slots=True)
class ServeOptions:
    """Checked options for one stack (made by :func:`check_options`)."""

    listen: Listen
    api_key_file: Path
    cert: CertInfo | None = None
    domain: str | None = None
    acme_email: str | None = None
    acme_ca: str | None = None
    data_dir: Path | None = None
    """Caddy's storage; a temporary folder when unset (fine for a pinned certificate, but a
    domain's certificates should be kept: give a folder)."""
    caddy_binary: Path | None = None
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    startup_timeout_s: float = DEFAULT_STARTUP_TIMEOUT_S

    @property
    def tls(self) -> bool:
        return self.cert is not None or self.domain is not None

    @property
    def public_url(self) -> str:
        if self.domain is not None:
            return f"https://{self.domain}" + (
                "" if self.listen.port == 443 else f":{self.listen.port}"
            )
        return self.listen.url("https" if self.tls else "http")


def bind_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` (not yet listening); port 0 picks a free one."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


class _Uvicorn(uvicorn.Server):
    """uvicorn without its own signal handlers: the stack handles Ctrl-C for both parts."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class StackDied(Exception):
    """A part of the stack stopped by itself (the message says which, and its last words)."""


class _Stack:
    """uvicorn serving ``app`` and, with TLS, Caddy in front of it."""

    def __init__(self, options: ServeOptions, app: Any, workdir: Path) -> None:
        self.options = options
        self.app = app
        self.workdir = workdir
        self.server: _Uvicorn | None = None
        self.uv_task: asyncio.Task[None] | None = None
        self.caddy: CaddyProcess | None = None
        self.caddy_task: asyncio.Task[int] | None = None
        self.upstream_port = 0

    @property
    def parts(self) -> set[asyncio.Task[Any]]:
        return {t for t in (self.uv_task, self.caddy_task) if t is not None}

    async def start(self) -> None:
        opts = self.options
        host, port = ("127.0.0.1", 0) if opts.tls else (opts.listen.host, opts.listen.port)
        sock = bind_socket(host, port)
        self.upstream_port = sock.getsockname()[1]
        self.server = _Uvicorn(
            uvicorn.Config(
                self.app,
                log_config=None,
                access_log=False,  # the app keeps its own access log, without secrets
                server_header=False,  # no "server: uvicorn": nothing to fingerprint
                proxy_headers=opts.tls,  # trust X-Forwarded-For only from our own Caddy
                forwarded_allow_ips="127.0.0.1",
                timeout_keep_alive=UVICORN_KEEPALIVE_S,
                timeout_graceful_shutdown=5,
                ws="none",
            )
        )
        self.uv_task = asyncio.create_task(_serve_uvicorn(self.server, sock), name="uvicorn")
        if opts.tls:
            self.caddy = self._caddy()
            await self.caddy.start()
            self.caddy_task = asyncio.create_task(self.caddy.wait(), name="caddy")

    def _caddy(self) -> CaddyProcess:
        opts = self.options
        data_dir = opts.data_dir or self.workdir / "caddy"
        data_dir.mkdir(parents=True, exist_ok=True)
        config = CaddyConfig(
            listen_host=opts.listen.host,
            listen_port=opts.listen.port,
            upstream_port=self.upstream_port,
            data_dir=data_dir,
            max_body_bytes=opts.max_body_bytes,
            cert_file=opts.cert.cert_path.resolve() if opts.cert else None,
            key_file=opts.cert.key_path.resolve() if opts.cert else None,
            domain=opts.domain,
            acme_ca=opts.acme_ca,
            acme_email=opts.acme_email,
        )
        config_file = config.write(self.workdir / "hark-caddy.json")
        return CaddyProcess(find_caddy(opts.caddy_binary), config_file, data_dir)

    def death(self, *, starting: bool) -> str:
        """Which part stopped, and why as far as we know."""
        when = "while starting" if starting else "unexpectedly"
        if self.caddy_task is not None and self.caddy_task.done() and self.caddy is not None:
            last = "; ".join(list(self.caddy.recent)[-3:]) or "no message"
            status = self.caddy.returncode
            return f"Caddy (the TLS edge) stopped {when} with status {status}: {last}"
        task = self.uv_task
        if task is not None and task.done() and not task.cancelled():
            exc = task.exception()
            if isinstance(exc, StackDied):
                return str(exc)
            if exc is not None:
                return f"the Hark server (uvicorn) stopped {when}: {exc!r}"
        return f"the Hark server (uvicorn) stopped {when}"

    async def stop(self, force: asyncio.Event) -> None:
        """Stop Caddy (SIGTERM, waited for) and uvicorn (graceful) together; force on request."""
        jobs = []
        if self.caddy is not None:
            jobs.append(asyncio.create_task(self.caddy.stop()))
        if self.server is not None and self.uv_task is not None:
            self.server.should_exit = True
            jobs.append(asyncio.create_task(self._stop_uvicorn()))
        forcer = asyncio.create_task(self._on_force(force))
        await asyncio.gather(*jobs, return_exceptions=True)
        forcer.cancel()

    async def _stop_uvicorn(self) -> None:
        assert self.server is not None
        assert self.uv_task is not None
        done, _ = await asyncio.wait({self.uv_task}, timeout=10)
        if not done:
            self.server.force_exit = True
        await asyncio.gather(self.uv_task, return_exceptions=True)

    async def _on_force(self, force: asyncio.Event) -> None:
        await force.wait()
        log.warning("stopping at once")
        if self.server is not None:
            self.server.force_exit = True
        if self.caddy is not None:
            self.caddy.kill()


async def run_stack(
    options: ServeOptions,
    app: Any,
    *,
    stop: asyncio.Event | None = None,
    on_ready: Callable[[str], None] | None = None,
) -> int:
    """Run uvicorn (+ Caddy with TLS) until ``stop`` is set, a signal arrives or a part dies.

    ``app`` is the ASGI application. Without ``stop``, SIGINT and SIGTERM stop the stack (the
    first gracefully, a second at once; main thread only). Returns 0 after a requested stop,
    1 when a part died or never came up.
    """
    loop = asyncio.get_running_loop()
    own_signals = stop is None
    stop = stop or asyncio.Event()
    force = asyncio.Event()
    if own_signals:
        _handle_signals(loop, stop, force)
    with tempfile.TemporaryDirectory(prefix="hark-edge-") as tmp:
        stack = _Stack(options, app, Path(tmp))
        try:
            try:
                await stack.start()
            except OSError as exc:  # the port was taken meanwhile; Caddy could not be run
                raise StackDied(f"the Hark server could not start: {exc}") from exc
            await _wait_ready(stack, stop)
            if stop.is_set():
                return EXIT_OK
            if on_ready is not None:
                on_ready(options.public_url)
            stopper = asyncio.create_task(stop.wait())
            done, _ = await asyncio.wait(
                {stopper, *stack.parts}, return_when=asyncio.FIRST_COMPLETED
            )
            stopper.cancel()
            if stopper in done:
                log.info("stopping the Hark server")
                return EXIT_OK
            raise StackDied(stack.death(starting=False))
        except StackDied as exc:
            log.error("%s", exc)
            return EXIT_DIED
        finally:
            await stack.stop(force)
            if own_signals:
                _restore_signals(loop)


def _on_signal(stop: asyncio.Event, force: asyncio.Event) -> None:
    if stop.is_set():
        force.set()
    stop.set()


_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _handle_signals(
    loop: asyncio.AbstractEventLoop, stop: asyncio.Event, force: asyncio.Event
) -> None:
    for sig in _SIGNALS:
        try:
            loop.add_signal_handler(sig, _on_signal, stop, force)
        except NotImplementedError:  # Windows' event loops: plain handlers, same effect
            signal.signal(sig, lambda *_: loop.call_soon_threadsafe(_on_signal, stop, force))


def _restore_signals(loop: asyncio.AbstractEventLoop) -> None:
    for sig in _SIGNALS:
        try:
            loop.remove_signal_handler(sig)
        except NotImplementedError:
            signal.signal(
                sig, signal.default_int_handler if sig == signal.SIGINT else signal.SIG_DFL
            )


async def _serve_uvicorn(server: uvicorn.Server, sock: socket.socket) -> None:
    try:
        await server.serve(sockets=[sock])
    except SystemExit as exc:  # uvicorn exits this way when the app fails to start
        raise StackDied("the Hark server app failed to start (see the log above)") from exc
    finally:
        sock.close()


async def _wait_ready(stack: _Stack, stop: asyncio.Event) -> None:
    """Poll ``/healthz`` through the public port until it answers, a part dies or time is up."""
    opts = stack.options
    loop = asyncio.get_running_loop()
    deadline = loop.time() + opts.startup_timeout_s
    verify: ssl.SSLContext | bool = True
    if opts.cert is not None:
        verify = ssl.create_default_context(cadata=opts.cert.cert_path.read_text("ascii"))
        verify.check_hostname = False  # pinned: only this certificate's key holder matches
    if opts.domain is not None:
        # Caddy may still be fetching the certificate: check the app, then that Caddy listens.
        url = f"http://127.0.0.1:{stack.upstream_port}{HEALTH_PATH}"
    else:
        url = opts.listen.url("https" if opts.tls else "http") + HEALTH_PATH
    last = "no answer yet"
    async with httpx.AsyncClient(verify=verify, timeout=2.0) as client:
        while not stop.is_set():
            if any(t.done() for t in stack.parts):
                raise StackDied(stack.death(starting=True))
            try:
                response = await client.get(url)
                up = response.status_code in (200, 503)  # 503: the app says what is not ready
                if up and (opts.domain is None or await _port_open(opts.listen)):
                    if response.status_code == 503:
                        log.warning("up, but not ready yet: %s", response.text[:200])
                    return
                last = f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                last = str(exc) or type(exc).__name__
            if loop.time() > deadline:
                raise StackDied(
                    f"the Hark server did not answer {HEALTH_PATH} within "
                    f"{opts.startup_timeout_s:g} s ({last}); see the log above."
                )
            await asyncio.wait(stack.parts, timeout=0.05)


async def _port_open(where: Listen) -> bool:
    try:
        _, writer = await asyncio.open_connection(where.probe_host, where.port)
    except OSError:
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True
