"""OllamaChat over https with a pinned certificate (the Hark GPU server's self-signed one)."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.core.types import ChatMessage
from app.llm.ollama import OllamaChat
from app.settings.schema import LlmSettings
from app.shared.errors import LlmError
from app.shared.tls import pinned_ssl_context
from tests.fakes.ollama import FakeOllama
from tests.support.tls import CertPair, self_signed

HI = [ChatMessage("user", "hi")]  # no messages at all would only load the model

MODEL = "llama3.2:3b"


@pytest.fixture
def tls_fake(server_cert: CertPair, tmp_path: Path) -> Iterator[FakeOllama]:
    ctx = server_cert.server_context(tmp_path)
    with FakeOllama(models=[MODEL], ssl_context=ctx) as fake:
        yield fake


def pinned(url: str, pem: str, tmp_path: Path) -> OllamaChat:
    path = tmp_path / "pin.pem"
    path.write_text(pem, encoding="ascii")
    return OllamaChat(LlmSettings(host=url, model=MODEL, timeout_s=5, ca_cert=path))


async def test_pinned_self_signed_certificate_is_trusted(
    tls_fake: FakeOllama, server_cert: CertPair, tmp_path: Path
) -> None:
    assert tls_fake.url.startswith("https://")
    chat = pinned(tls_fake.url, server_cert.cert_pem, tmp_path)
    tls_fake.reply("Secure hello.")
    status = await chat.check()
    deltas = [d async for d in chat.stream_chat(HI, [])]
    await chat.aclose()
    assert status.ok
    assert "".join(d.content for d in deltas) == "Secure hello."


async def test_other_pinned_certificate_is_refused(tls_fake: FakeOllama, tmp_path: Path) -> None:
    other = self_signed("someone-else", dns="hark-server.invalid")
    chat = pinned(tls_fake.url, other.cert_pem, tmp_path)
    status = await chat.check()
    await chat.aclose()
    assert not status.ok
    assert status.code == "llm-unreachable"
    assert "TLS" in status.message
    assert "pin.pem" in status.message
    assert tls_fake.calls == []  # no request got through


async def test_without_a_pin_the_self_signed_server_is_refused(tls_fake: FakeOllama) -> None:
    chat = OllamaChat(LlmSettings(host=tls_fake.url, model=MODEL, timeout_s=5))
    status = await chat.check()
    await chat.aclose()
    assert status.code == "llm-unreachable"
    assert "TLS" in status.message


async def test_unreadable_pin_file_is_reported_not_raised(tmp_path: Path) -> None:
    bad = tmp_path / "garbage.pem"
    bad.write_text("not a certificate", encoding="ascii")
    chat = OllamaChat(LlmSettings(host="https://127.0.0.1:9", model=MODEL, ca_cert=bad))
    status = await chat.check()
    assert status.code == "llm-ca-cert"
    assert str(bad) in status.message
    with pytest.raises(LlmError) as info:
        await anext(chat.stream_chat(HI, []))
    await chat.aclose()
    assert info.value.code == "llm-ca-cert"


def test_hostname_check_is_off_only_for_a_self_signed_leaf() -> None:
    leaf = pinned_ssl_context(self_signed(ca=False).cert_pem)
    root = pinned_ssl_context(self_signed(ca=True).cert_pem)
    bundle = pinned_ssl_context(self_signed(ca=False).cert_pem + self_signed(ca=False).cert_pem)
    assert leaf.check_hostname is False
    assert leaf.verify_mode == ssl.CERT_REQUIRED
    assert root.check_hostname is True
    assert bundle.check_hostname is True


async def test_cut_stream_over_tls(
    tls_fake: FakeOllama, server_cert: CertPair, tmp_path: Path
) -> None:
    chat = pinned(tls_fake.url, server_cert.cert_pem, tmp_path)
    tls_fake.cut_stream_after(1, "one two")
    got: list[str] = []

    async def read() -> None:
        async for delta in chat.stream_chat(HI, []):
            got.append(delta.content)

    with pytest.raises(LlmError) as info:
        await read()
    await chat.aclose()
    assert info.value.code == "llm-stream-cut"
    assert got == ["one"]
