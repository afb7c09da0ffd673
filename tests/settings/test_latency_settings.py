"""The settings that make Hark answer sooner: ``llm.keep_alive`` (read as Ollama reads it)
and ``tts.first_clause_words``; bad values are refused with the way to write them."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from app.settings.load import DEFAULT_CONFIG_TEXT, load_settings
from app.shared.errors import ConfigError


def test_defaults_keep_the_model_loaded_and_speak_the_first_clause(tmp_path: Path) -> None:
    s = load_settings(tmp_path / "none.toml", {})
    assert s.llm.keep_alive == "30m"
    assert s.tts.first_clause_words == 5
    written = tomllib.loads(DEFAULT_CONFIG_TEXT)
    assert written["llm"]["keep_alive"] == s.llm.keep_alive
    assert written["tts"]["first_clause_words"] == s.tts.first_clause_words


@pytest.mark.parametrize(
    ("toml", "env", "expected"),
    [
        ("keep_alive = -1", None, -1),
        ("keep_alive = 600", None, 600),
        ('keep_alive = "1h30m"', None, "1h30m"),
        (None, "-1", -1),  # the environment is text: a number of seconds stays a number
        (None, "45m", "45m"),
        (None, "", None),  # the server's own default
    ],
)
def test_keep_alive_is_a_duration_or_seconds(
    tmp_path: Path, toml: str | None, env: str | None, expected: object
) -> None:
    f = tmp_path / "c.toml"
    f.write_text(f"[llm]\n{toml}\n" if toml else "")
    s = load_settings(f, {} if env is None else {"HARK_LLM__KEEP_ALIVE": env})
    assert s.llm.keep_alive == expected


@pytest.mark.parametrize("bad", ['"30 minutes"', '"soon"', "true", "1.5"])
def test_a_keep_alive_ollama_would_refuse_is_explained(tmp_path: Path, bad: str) -> None:
    f = tmp_path / "c.toml"
    f.write_text(f"[llm]\nkeep_alive = {bad}\n")
    with pytest.raises(ConfigError) as info:
        load_settings(f, {})
    assert "llm.keep_alive" in info.value.message
    assert '"30m"' in info.value.message
    assert "-1" in info.value.message


@pytest.mark.parametrize("bad", ["-1", "41", "many"])
def test_first_clause_words_is_a_small_count(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(tmp_path / "none.toml", {"HARK_TTS__FIRST_CLAUSE_WORDS": bad})
    assert "tts.first_clause_words" in info.value.message
    off = load_settings(tmp_path / "none.toml", {"HARK_TTS__FIRST_CLAUSE_WORDS": "0"})
    assert off.tts.first_clause_words == 0
