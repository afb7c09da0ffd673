"""The settings check (``probe_llm``) of an OpenAI-compatible server: the fake's ``/v1``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.llm.catalog import LlmProbe, Verdict, probe_llm
from app.settings.schema import LlmSettings
from tests.fakes.ollama import FakeOllama
from tests.support.servers import free_port

KEY = "sk-check-1"
MODEL = "qwen2.5-3b-instruct"


@pytest.fixture
def fake() -> Iterator[FakeOllama]:
    with FakeOllama(models=[MODEL, "llama-3.1-8b"], token=KEY) as server:
        yield server


def target(host: str, model: str = MODEL) -> LlmSettings:
    return LlmSettings(provider="openai", host=host, model=model, timeout_s=5)


async def test_ready_lists_the_models(fake: FakeOllama) -> None:
    probe = await probe_llm(target(f"{fake.url}/v1"), KEY)
    assert probe.verdict is Verdict.READY
    assert probe.models == (MODEL, "llama-3.1-8b")
    assert fake.calls[-1] == "GET /v1/models"
    assert probe.words() == f"The language model answers: {MODEL} is ready on {fake.url}/v1."


async def test_a_model_it_does_not_serve_names_the_ones_it_has(fake: FakeOllama) -> None:
    probe = await probe_llm(target(f"{fake.url}/v1", "gpt-4o"), KEY)
    assert probe.verdict is Verdict.MODEL_MISSING
    assert MODEL in probe.words()
    assert "ollama pull" not in probe.words()
    assert probe.has("llama-3.1-8b")
    assert not probe.has("llama-3.1-8b:latest")  # exact names, not Ollama's tags


async def test_no_key_or_a_wrong_one_is_refused(fake: FakeOllama) -> None:
    for key in (None, "sk-wrong"):
        probe = await probe_llm(target(f"{fake.url}/v1"), key)
        assert probe.verdict is Verdict.REFUSED
        assert "API key" in probe.words()


async def test_a_base_url_without_v1_is_not_the_api(fake: FakeOllama) -> None:
    probe = await probe_llm(target(fake.url), KEY)
    assert probe.verdict is Verdict.NOT_OLLAMA
    assert "/v1" in probe.words()


async def test_no_models_loaded() -> None:
    with FakeOllama(models=[]) as empty:
        probe = await probe_llm(target(f"{empty.url}/v1"))
    assert probe.verdict is Verdict.NO_MODELS


async def test_nothing_there_says_start_the_server() -> None:
    probe = await probe_llm(target(f"http://127.0.0.1:{free_port()}/v1"))
    assert probe.verdict is Verdict.UNREACHABLE
    assert "Is the server running" in probe.words()
    assert "Ollama" not in probe.words()


def test_a_bad_address_gives_the_example_of_its_kind() -> None:
    probe = LlmProbe("nonsense", MODEL, Verdict.BAD_ADDRESS, provider="openai")
    assert "http://127.0.0.1:8080/v1" in probe.words()
