"""``PUT /box/code`` on a running box: a newer Hark's wheel, kept only under its own hash."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from app.shared.protocol import CODE_HASH_HEADER
from remote.server.app import create_app
from remote.server.whisper import WhisperEngine
from tests.fakes.ollama import FakeOllama
from tests.remote.server.harness import AUTH, make_settings

WHEEL = b"PK\x03\x04 a wheel's bytes " * 1000


@pytest.fixture
async def box(
    tiny_en_dir: Path, shared_engine: WhisperEngine, fake: FakeOllama, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(
        tiny_en_dir, fake.url, box_code_dir=tmp_path / "code", code_sha256="ab" * 32
    )
    transport = httpx.ASGITransport(app=create_app(settings, engine=shared_engine))
    async with httpx.AsyncClient(transport=transport, base_url="http://hark") as client:
        yield client


async def test_a_wheel_is_kept_under_its_hash_as_the_next_code(
    box: httpx.AsyncClient, tmp_path: Path
) -> None:
    sha = hashlib.sha256(WHEEL).hexdigest()
    reply = await box.put("/box/code", content=WHEEL, headers={**AUTH, CODE_HASH_HEADER: sha})
    assert reply.status_code == 202
    assert reply.json() == {"received": sha, "restart": True}
    assert (tmp_path / "code" / f"{sha}.whl").read_bytes() == WHEEL
    assert (tmp_path / "code" / "expected").read_text() == sha + "\n"
    assert (tmp_path / "code" / f"{sha}.whl").stat().st_mode & 0o077 == 0
    status = (await box.get("/status", headers=AUTH)).json()
    assert status["code"]["sha256"] == "ab" * 32  # still the running code until the restart


async def test_a_wheel_that_is_not_what_it_names_is_refused(
    box: httpx.AsyncClient, tmp_path: Path
) -> None:
    reply = await box.put("/box/code", content=WHEEL, headers={**AUTH, CODE_HASH_HEADER: "cd" * 32})
    assert reply.status_code == 400
    assert reply.json()["error"]["code"] == "code-hash-mismatch"
    missing = await box.put("/box/code", content=WHEEL, headers=AUTH)
    assert missing.status_code == 400
    assert CODE_HASH_HEADER in missing.json()["error"]["message"]
    assert sorted(p.name for p in (tmp_path / "code").iterdir()) == []
    assert (await box.put("/box/code", content=WHEEL)).status_code == 401
