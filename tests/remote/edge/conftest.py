"""Fixtures for the TLS edge: certificates, API key files, and a running stack."""

from __future__ import annotations

import asyncio
import os
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from remote.server.run import check_options
from remote.server.stack import ServeOptions, run_stack
from remote.tls import CertInfo, write_api_key_file, write_self_signed
from tests.remote.edge.edge_app import EdgeApp
from tests.remote.edge.procs import children, command_name, free_port


@pytest.fixture
def pair(tmp_path: Path) -> CertInfo:
    return write_self_signed(tmp_path / "tls", ["127.0.0.1", "localhost"])


@pytest.fixture
def other_pair(tmp_path: Path) -> CertInfo:
    return write_self_signed(tmp_path / "other", ["127.0.0.1", "localhost"])


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "api-keys"
    write_api_key_file(path)
    return path


def pinned(cert: Path, *, check_hostname: bool = True) -> ssl.SSLContext:
    """A client context that trusts only ``cert`` (as Hark's client does)."""
    ctx = ssl.create_default_context(cadata=cert.read_text("ascii"))
    ctx.check_hostname = check_hostname
    return ctx


def caddy_children() -> list[int]:
    return [p for p in children(os.getpid()) if command_name(p) == "caddy"]


@dataclass
class RunningStack:
    """A stack run by ``run_stack`` in this event loop."""

    options: ServeOptions
    app: EdgeApp
    task: asyncio.Task[int]
    stop: asyncio.Event
    urls: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.urls[0]

    @property
    def port(self) -> int:
        return self.options.listen.port


async def start_stack(
    options: ServeOptions, app: EdgeApp, *, timeout: float = 30.0
) -> RunningStack:
    """Start ``run_stack`` and wait until it says it is ready (or has ended)."""
    stop, ready = asyncio.Event(), asyncio.Event()
    urls: list[str] = []

    def on_ready(url: str) -> None:
        urls.append(url)
        ready.set()

    task = asyncio.create_task(run_stack(options, app, stop=stop, on_ready=on_ready))
    waiter = asyncio.create_task(ready.wait())
    await asyncio.wait({task, waiter}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    return RunningStack(options, app, task, stop, urls)


async def finish(stack: RunningStack, timeout: float = 30.0) -> int:
    stack.stop.set()
    return await asyncio.wait_for(stack.task, timeout)


@pytest.fixture
async def edge(pair: CertInfo, key_file: Path) -> AsyncIterator[RunningStack]:
    """Caddy with the pinned pair in front of uvicorn serving the stand-in app."""
    options = check_options(
        f"127.0.0.1:{free_port()}",
        key_file,
        tls_cert=pair.cert_path,
        tls_key=pair.key_path,
        max_body_bytes=1000,
        startup_timeout_s=20,
    )
    stack = await start_stack(options, EdgeApp())
    try:
        assert stack.urls, "the stack did not come up"
        yield stack
    finally:
        stack.app.gate.set()
        await finish(stack)
