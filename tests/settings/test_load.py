"""Settings: defaults, the TOML file, environment overrides, validation and secrets."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from app.settings.load import load_settings, write_default_config
from app.settings.secrets import SecretStore
from app.shared.errors import ConfigError
from app.shared.paths import config_path


def test_first_run_uses_defaults_and_writes_nothing(isolated_home: Path):
    s = load_settings()
    assert s.llm.host == "http://localhost:11434"
    assert s.tts.engine == "elevenlabs"
    assert s.tts.fallback == "piper"
    assert s.audio.hangover_ms <= 500
    assert not config_path().exists()
    assert list(isolated_home.rglob("*")) == []


def test_config_path_follows_hark_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    target = tmp_path / "mine.toml"
    monkeypatch.setenv("HARK_CONFIG", str(target))
    target.write_text('[llm]\nmodel = "qwen2.5:7b"\n')
    assert config_path() == target
    assert load_settings().llm.model == "qwen2.5:7b"


def test_environment_overrides_the_file(tmp_path: Path):
    f = tmp_path / "c.toml"
    f.write_text('[llm]\nmodel = "a"\nhost = "http://10.1.1.1:11434"\n[asr]\nmodel = "tiny"\n')
    env = {
        "HARK_LLM__MODEL": "b",
        "HARK_ASR__MODEL": "/models/whisper-small",
        "HARK_TTS__ENGINE": "piper",
        "HARK_AUDIO__HANGOVER_MS": "300",
        "HARK_ASR__LANGUAGES": '["en", "de"]',
        "HARK_TTS__ELEVENLABS__VOICE_ID": "abc",
    }
    s = load_settings(f, env)
    assert s.llm.model == "b"
    assert s.llm.host == "http://10.1.1.1:11434"
    assert s.asr.model == "/models/whisper-small"
    assert s.tts.engine == "piper"
    assert s.audio.hangover_ms == 300
    assert s.asr.languages == ["en", "de"]
    assert s.tts.elevenlabs.voice_id == "abc"


def test_ollama_host_is_honoured_only_without_hark_llm_host(tmp_path: Path):
    nofile = tmp_path / "none.toml"
    assert load_settings(nofile, {"OLLAMA_HOST": "http://gpu:11434"}).llm.host == "http://gpu:11434"
    assert load_settings(nofile, {"OLLAMA_HOST": "gpu:11434"}).llm.host == "http://gpu:11434"
    both = {"OLLAMA_HOST": "http://gpu:11434", "HARK_LLM__HOST": "https://box:8443/"}
    assert load_settings(nofile, both).llm.host == "https://box:8443"


@pytest.mark.parametrize("bad", ["192.168.1.100:11434", "ollama-server", "ftp://host/x", "http://"])
def test_llm_host_must_be_an_http_url(tmp_path: Path, bad: str):
    with pytest.raises(ConfigError) as info:
        load_settings(tmp_path / "none.toml", {"HARK_LLM__HOST": bad})
    msg = str(info.value)
    assert info.value.code == "config-invalid"
    assert "llm.host" in msg
    assert "HARK_LLM__HOST" in msg
    assert "http://192.168.1.100:11434" in msg  # a valid example


def test_bad_values_and_unknown_keys_are_explained(tmp_path: Path):
    f = tmp_path / "c.toml"
    f.write_text("[audio]\nvad_aggressiveness = 7\nhangover = 300\n")
    with pytest.raises(ConfigError) as info:
        load_settings(f, {})
    msg = str(info.value)
    assert "audio.vad_aggressiveness" in msg
    assert "less than or equal to 3" in msg
    assert "audio.hangover" in msg
    assert "unknown setting" in msg
    f.write_text("[llm\nmodel=")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(f, {})


def test_a_secret_in_the_file_is_refused_with_the_way_out(tmp_path: Path):
    f = tmp_path / "c.toml"
    f.write_text('[tts.elevenlabs]\napi_key = "sk_live_123"\n')
    with pytest.raises(ConfigError) as info:
        load_settings(f, {})
    assert "keyring" in str(info.value)
    assert "sk_live_123" not in str(info.value)


def test_default_config_file_is_valid_and_secret_free(tmp_path: Path):
    f = tmp_path / "hark" / "config.toml"
    write_default_config(f)
    s = load_settings(f, {})
    assert s.llm.model == "llama3.2:3b"
    assert "api_key" not in f.read_text().split("#")[0]


def test_secrets_live_in_the_keyring_and_env_wins(isolated_home: Path):
    store = SecretStore(env={})
    assert store.get("elevenlabs-api-key") is None
    store.set("elevenlabs-api-key", "sk-test-1")
    assert store.get("elevenlabs-api-key") == "sk-test-1"
    assert store.source("elevenlabs-api-key") == "keyring"
    stored = next((isolated_home / ".local/share/python_keyring").glob("*"))
    assert stat.S_IMODE(os.stat(stored).st_mode) == 0o600
    env_store = SecretStore(env={"ELEVENLABS_API_KEY": "from-env"})
    assert env_store.get("elevenlabs-api-key") == "from-env"
    assert env_store.source("elevenlabs-api-key") == "environment (ELEVENLABS_API_KEY)"
    assert store.delete("elevenlabs-api-key") is True
    assert store.get("elevenlabs-api-key") is None
    with pytest.raises(ConfigError, match="unknown secret"):
        store.get("bank-pin")
    with pytest.raises(ConfigError, match="empty"):
        store.set("server-api-key", "  ")


def test_public_dump_holds_no_secret(isolated_home: Path):
    SecretStore(env={}).set("elevenlabs-api-key", "sk-very-secret")
    dump = repr(load_settings().public_dump())
    assert "sk-very-secret" not in dump
    assert "llm" in dump


def test_paths_expand_the_home_directory(tmp_path: Path, isolated_home: Path):
    env = {"HARK_REMOTE__URL": "https://203.0.113.7:41234", "HARK_REMOTE__CA_CERT": "~/s.pem"}
    s = load_settings(tmp_path / "none.toml", env)
    assert s.remote.ca_cert == isolated_home / "s.pem"
    assert s.remote.url == "https://203.0.113.7:41234"
    with pytest.raises(ConfigError, match=r"remote\.url"):
        load_settings(tmp_path / "none.toml", {"HARK_REMOTE__URL": "203.0.113.7:41234"})


def test_server_settings_in_the_environment_are_not_the_apps(tmp_path: Path):
    env = {
        "HARK_SERVER__WHISPER_MODEL": "tiny.en",
        "HARK_VAST__URL": "http://127.0.0.1:9",
        "HARK_LLM__MODEL": "x",
    }
    assert load_settings(tmp_path / "none.toml", env).llm.model == "x"
    with pytest.raises(ConfigError) as info:
        load_settings(tmp_path / "none.toml", {"HARK_SERVR__WHISPER_MODEL": "tiny.en"})
    assert "HARK_SERVR__WHISPER_MODEL" in str(info.value)
