"""``run_stack``: start, readiness, supervision and shutdown of uvicorn + Caddy (in-process)."""

from __future__ import annotations

import os
import signal
import socket
from pathlib import Path

import httpx
import pytest

from remote.server.run import check_options
from remote.server.stack import EXIT_DIED, EXIT_OK
from remote.tls import CertInfo
from tests.remote.edge.edge_app import EdgeApp
from tests.remote.edge.procs import alive, caddy_children, needs_proc, port_is_free
from tests.remote.edge.running import finish, start_stack
from tests.support.servers import free_port
from tests.support.tls import pinned


def tls_options(pair: CertInfo, key_file: Path, **kw: object):
    return check_options(
        f"127.0.0.1:{free_port()}",
        key_file,
        tls_cert=pair.cert_path,
        tls_key=pair.key_path,
        **kw,  # type: ignore[arg-type]
    )


@needs_proc
async def test_stop_ends_caddy_and_uvicorn_and_frees_the_port(pair: CertInfo, key_file: Path):
    stack = await start_stack(tls_options(pair, key_file, startup_timeout_s=20), EdgeApp())
    try:
        assert stack.urls == [f"https://127.0.0.1:{stack.port}"]
        (caddy,) = caddy_children()
        async with httpx.AsyncClient(verify=pinned(pair.cert_path)) as client:
            health = await client.get(f"{stack.url}/healthz")
            missing = await client.get(f"{stack.url}/no-such-path")
        assert health.text == "ok"
        assert "server" not in health.headers  # neither Caddy's nor uvicorn's name
        assert "server" not in missing.headers
    finally:
        code = await finish(stack)
    assert code == EXIT_OK
    assert not alive(caddy)
    assert caddy_children() == []
    assert port_is_free("127.0.0.1", stack.port)


@needs_proc
async def test_caddy_dying_stops_the_stack_with_a_message(
    pair: CertInfo, key_file: Path, caplog: pytest.LogCaptureFixture
):
    stack = await start_stack(tls_options(pair, key_file, startup_timeout_s=20), EdgeApp())
    try:
        assert stack.urls
        (caddy,) = caddy_children()
        os.kill(caddy, signal.SIGKILL)
        code = await stack.task  # ends by itself
    finally:
        await finish(stack)
    assert code == EXIT_DIED
    assert "Caddy (the TLS edge) stopped unexpectedly with status -9" in caplog.text
    assert port_is_free("127.0.0.1", stack.port)


async def test_an_app_that_fails_to_start_is_reported(
    pair: CertInfo, key_file: Path, caplog: pytest.LogCaptureFixture
):
    stack = await start_stack(
        tls_options(pair, key_file, startup_timeout_s=20), EdgeApp(fail_startup=True)
    )
    code = await finish(stack)
    assert stack.urls == []
    assert code == EXIT_DIED
    assert "the Hark server app failed to start" in caplog.text
    assert caddy_children() == []


async def test_no_healthy_answer_before_the_deadline_fails(
    pair: CertInfo, key_file: Path, caplog: pytest.LogCaptureFixture
):
    stack = await start_stack(
        tls_options(pair, key_file, startup_timeout_s=0.5), EdgeApp(health_status=500)
    )
    code = await finish(stack)
    assert stack.urls == []
    assert code == EXIT_DIED
    assert "did not answer /healthz within 0.5 s (HTTP 500)" in caplog.text
    assert caddy_children() == []


async def test_a_503_health_answer_counts_as_up(pair: CertInfo, key_file: Path):
    # The app answers 503 while it is provisioning: the stack is up, and says so.
    stack = await start_stack(
        tls_options(pair, key_file, startup_timeout_s=20), EdgeApp(health_status=503)
    )
    code = await finish(stack)
    assert stack.urls == [f"https://127.0.0.1:{stack.port}"]
    assert code == EXIT_OK


async def test_no_tls_serves_plain_http_on_loopback_without_caddy(key_file: Path):
    options = check_options(f"127.0.0.1:{free_port()}", key_file, no_tls=True)
    stack = await start_stack(options, EdgeApp())
    try:
        assert stack.urls == [f"http://127.0.0.1:{stack.port}"]
        assert caddy_children() == []
        async with httpx.AsyncClient() as client:
            response = await client.get(
                f"{stack.url}/client", headers={"X-Forwarded-For": "6.6.6.6"}
            )
        assert response.json() == {"host": "127.0.0.1"}  # no proxy in front: header ignored
        assert "server" not in response.headers
    finally:
        code = await finish(stack)
    assert code == EXIT_OK
    assert port_is_free("127.0.0.1", stack.port)


@needs_proc
async def test_domain_mode_is_ready_while_caddy_still_seeks_its_certificate(
    key_file: Path, tmp_path: Path
):
    # The ACME CA is a closed local port: Caddy keeps trying, the stack is up regardless.
    options = check_options(
        f"127.0.0.1:{free_port()}",
        key_file,
        domain="hark.example.org",
        acme_ca=f"https://127.0.0.1:{free_port()}/directory",
        data_dir=tmp_path / "edge",
        startup_timeout_s=20,
    )
    stack = await start_stack(options, EdgeApp())
    try:
        assert stack.urls == [f"https://hark.example.org:{stack.port}"]
        (caddy,) = caddy_children()
        assert (tmp_path / "edge" / "storage").is_dir()  # certificates are kept here
    finally:
        code = await finish(stack)
    assert code == EXIT_OK
    assert not alive(caddy)


async def test_a_port_taken_after_the_checks_is_reported(
    key_file: Path, caplog: pytest.LogCaptureFixture
):
    options = check_options(f"127.0.0.1:{free_port()}", key_file, no_tls=True)
    with socket.socket() as thief:
        thief.bind(("127.0.0.1", options.listen.port))
        thief.listen()
        stack = await start_stack(options, EdgeApp())
        code = await finish(stack)
    assert code == EXIT_DIED
    assert "the Hark server could not start:" in caplog.text
    assert "Address already in use" in caplog.text
