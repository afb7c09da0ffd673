"""save_settings: merge into what the file holds, validate before replacing, write atomically."""

from __future__ import annotations

import os
import stat
import tomllib
from pathlib import Path

import pytest

from app.settings.file import merge_updates, save_settings
from app.settings.load import load_settings
from app.shared.errors import ConfigError

HAND_WRITTEN = """\
# my settings
[llm]
model = "llama3.1:8b"

[talk]
hotkey = "<ctrl>+<shift>+h"
wake_word = "alexa"

[policy]
tools = { mail_send = "deny" }
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "hark" / "config.toml"
    path.parent.mkdir()
    path.write_text(HAND_WRITTEN, encoding="utf-8")
    return path


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_merges_updates_and_keeps_other_keys(config: Path) -> None:
    settings = save_settings(
        {"talk": {"hotkey_mode": "toggle"}, "asr": {"model": "tiny.en"}}, config, env={}
    )
    data = tomllib.loads(config.read_text(encoding="utf-8"))
    assert data["llm"] == {"model": "llama3.1:8b"}
    assert data["talk"] == {
        "hotkey": "<ctrl>+<shift>+h",
        "wake_word": "alexa",
        "hotkey_mode": "toggle",
    }
    assert data["asr"] == {"model": "tiny.en"}
    assert settings.talk.hotkey_mode == "toggle"
    assert settings.llm.model == "llama3.1:8b"
    assert load_settings(config, env={}) == settings


def test_none_removes_a_key_and_empty_tables(config: Path) -> None:
    save_settings({"talk": {"wake_word": None}, "llm": {"model": None}}, config, env={})
    data = tomllib.loads(config.read_text(encoding="utf-8"))
    assert "wake_word" not in data["talk"]
    assert "llm" not in data
    assert load_settings(config, env={}).talk.wake_word is None


def test_nested_tables_merge_key_by_key(config: Path) -> None:
    settings = save_settings(
        {"policy": {"tools": {"mail_send": None, "calendar_delete_event": "deny"}}},
        config,
        env={},
    )
    assert settings.policy.tools == {"calendar_delete_event": "deny"}


def test_a_bad_value_raises_and_leaves_the_file_as_it_was(config: Path) -> None:
    before = config.read_bytes()
    with pytest.raises(ConfigError) as caught:
        save_settings({"remote": {"url": "ftp://x"}}, config, env={})
    assert caught.value.code == "config-invalid"
    assert "remote.url" in caught.value.message
    assert str(config) in caught.value.message
    assert ".tmp" not in caught.value.message
    assert config.read_bytes() == before
    assert sorted(p.name for p in config.parent.iterdir()) == ["config.toml"]


def test_a_bad_environment_override_also_stops_the_save(config: Path) -> None:
    before = config.read_bytes()
    with pytest.raises(ConfigError) as caught:
        save_settings({"asr": {"model": "tiny.en"}}, config, env={"HARK_TALK__SKIP_MS": "-5"})
    assert "HARK_TALK__SKIP_MS" in caught.value.message
    assert config.read_bytes() == before


def test_secrets_are_refused(config: Path) -> None:
    before = config.read_bytes()
    with pytest.raises(ConfigError) as caught:
        save_settings({"tts": {"elevenlabs": {"api_key": "sk-123"}}}, config, env={})
    assert caught.value.code == "config-secret-in-file"
    assert config.read_bytes() == before
    assert "sk-123" not in caught.value.message


def test_writes_0600_keeps_a_backup_and_loses_comments(config: Path) -> None:
    os.chmod(config, 0o644)
    save_settings({"talk": {"barge_in": False}}, config, env={})
    backup = config.with_name("config.toml.bak")
    assert backup.read_text(encoding="utf-8") == HAND_WRITTEN
    assert _mode(config) == 0o600
    assert _mode(backup) == 0o600
    assert "# my settings" not in config.read_text(encoding="utf-8")
    assert sorted(p.name for p in config.parent.iterdir()) == ["config.toml", "config.toml.bak"]


def test_creates_the_file_and_its_folder(tmp_path: Path) -> None:
    path = tmp_path / "new" / "config.toml"
    settings = save_settings({"remote": {"ca_cert": tmp_path / "server.pem"}}, path, env={})
    assert settings.remote.ca_cert == tmp_path / "server.pem"
    assert tomllib.loads(path.read_text(encoding="utf-8")) == {
        "remote": {"ca_cert": str(tmp_path / "server.pem")}
    }
    assert not path.with_name("config.toml.bak").exists()


def test_default_path_is_the_config_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.toml"
    monkeypatch.setenv("HARK_CONFIG", str(target))
    save_settings({"asr": {"language": "auto"}})
    assert load_settings().asr.language == "auto"
    assert tomllib.loads(target.read_text(encoding="utf-8")) == {"asr": {"language": "auto"}}


def test_returned_settings_include_the_environment(config: Path) -> None:
    settings = save_settings(
        {"asr": {"model": "small.en"}}, config, env={"HARK_LLM__MODEL": "qwen2.5:7b"}
    )
    assert settings.llm.model == "qwen2.5:7b"
    assert tomllib.loads(config.read_text(encoding="utf-8"))["llm"]["model"] == "llama3.1:8b"


def test_a_broken_file_is_not_overwritten(config: Path) -> None:
    config.write_text("[talk\nhotkey = 1", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        save_settings({"talk": {"barge_in": False}}, config, env={})
    assert caught.value.code == "config-parse"
    assert config.read_text(encoding="utf-8") == "[talk\nhotkey = 1"


def test_merge_updates_is_pure() -> None:
    data = {"a": {"x": 1, "y": 2}}
    merged = merge_updates(data, {"a": {"x": None, "z": (1, 2)}, "b": {"p": Path("/q")}})
    assert merged == {"a": {"y": 2, "z": [1, 2]}, "b": {"p": "/q"}}
    assert data == {"a": {"x": 1, "y": 2}}
