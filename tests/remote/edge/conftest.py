"""Fixtures for the TLS edge: certificates, API key files, and a running stack."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from remote.server.run import check_options
from remote.tls import CertInfo, write_api_key_file, write_self_signed
from tests.remote.edge.edge_app import EdgeApp
from tests.remote.edge.running import RunningStack, finish, start_stack
from tests.support.servers import free_port


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
