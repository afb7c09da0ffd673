"""``llm.provider``: the kind of language model server, and the address that goes with it."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.settings.load import load_settings
from app.shared.errors import ConfigError


def load(tmp_path: Path, text: str, **env: str):
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return load_settings(path, env)


def test_ollama_is_the_default(tmp_path: Path) -> None:
    llm = load(tmp_path, "").llm
    assert llm.provider == "ollama"
    assert llm.host == "http://localhost:11434"


def test_openai_without_an_address_means_a_llama_server_here(tmp_path: Path) -> None:
    llm = load(tmp_path, '[llm]\nprovider = "openai"\nmodel = "qwen"\n').llm
    assert llm.provider == "openai"
    assert llm.host == "http://127.0.0.1:8080/v1"


def test_ollama_host_is_not_taken_for_an_openai_server(tmp_path: Path) -> None:
    file = '[llm]\nprovider = "openai"\nhost = "http://10.0.0.5:8000/v1"\n'
    assert load(tmp_path, file, OLLAMA_HOST="gpu:11434").llm.host == "http://10.0.0.5:8000/v1"
    bare = load(tmp_path, "", HARK_LLM__PROVIDER="openai", OLLAMA_HOST="gpu:11434").llm
    assert bare.host == "http://127.0.0.1:8080/v1"
    ollama = load(tmp_path, "", OLLAMA_HOST="gpu:11434").llm
    assert ollama.host == "http://gpu:11434"


def test_an_unknown_provider_is_refused_with_the_choices(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, '[llm]\nprovider = "vllm"\n')
    assert "llm.provider" in info.value.message
    assert "openai" in info.value.message


def test_a_bad_address_gets_an_example_of_its_kind(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, '[llm]\nprovider = "openai"\nhost = "not a url"\n')
    assert "/v1" in info.value.message
    with pytest.raises(ConfigError) as info:
        load(tmp_path, '[llm]\nhost = "not a url"\n')
    assert "11434" in info.value.message
