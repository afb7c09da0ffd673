"""Loading the settings: defaults, then the TOML file, then ``HARK_<SECTION>__<KEY>`` variables.

Where settings come from, lowest to highest precedence:

1. the defaults in :mod:`app.settings.schema` (a first run with no file works: local mode);
2. the TOML file at ``user_config_dir("hark")/config.toml``, or the path in ``HARK_CONFIG``;
3. environment variables ``HARK_<SECTION>__<KEY>`` (``HARK_LLM__MODEL=llama3.1:8b``), and plain
   ``OLLAMA_HOST`` when ``HARK_LLM__HOST`` is unset.

A bad value is a :class:`~app.shared.errors.ConfigError` naming the setting, where it came from
and what it should be; a secret written into the file is refused (secrets live in the keyring).
"""

from __future__ import annotations

import json
import logging
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import (
    ValidationError,
)

from app.settings.schema import Settings, UserPath
from app.shared.errors import ConfigCode, ConfigError
from app.shared.paths import CONFIG_ENV, config_path

log = logging.getLogger(__name__)

ENV_PREFIX = "HARK_"


SERVER_ENV_PREFIX = "HARK_SERVER__"


OTHER_ENV_PREFIXES = (SERVER_ENV_PREFIX, "HARK_VAST__")
"""Read by ``hark server`` (remote.server.settings) and ``hark remote`` (remote.vast.settings),
not by the desktop app's settings."""


def _env_value(raw: str) -> Any:
    """Env values are strings; JSON lists/objects/numbers are decoded, the rest kept as text."""
    text = raw.strip()
    if text[:1] in ("[", "{"):
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return raw
    return raw


def _env_overrides(env: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """Nested dict from ``HARK_<SECTION>__<KEY>`` variables, and where each value came from."""
    data: dict[str, Any] = {}
    origin: dict[str, str] = {}
    for name, raw in env.items():
        if not name.startswith(ENV_PREFIX) or "__" not in name or name == CONFIG_ENV:
            continue
        if name.startswith(OTHER_ENV_PREFIXES):  # the server's and the deployer's own
            continue
        path = [p.lower() for p in name[len(ENV_PREFIX) :].split("__")]
        if not all(path):
            continue
        node = data
        for part in path[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                break
            node = child
        else:
            node[path[-1]] = _env_value(raw)
            origin[".".join(path)] = f"environment variable {name}"
    if "OLLAMA_HOST" in env and "host" not in data.get("llm", {}):
        host = env["OLLAMA_HOST"].strip()
        if host and "://" not in host and ":" in host and not host.startswith("["):
            # Ollama itself accepts "host:port"; so do we, for this variable only.
            host = f"http://{host}"
        data.setdefault("llm", {})["host"] = host
        origin["llm.host"] = "environment variable OLLAMA_HOST"
    return data, origin


def _not_ollama_host_for_openai(
    file: Mapping[str, Any], merged: dict[str, Any], origin: dict[str, str]
) -> None:
    """``OLLAMA_HOST`` is Ollama's address, never the base URL of an OpenAI-compatible server:
    with ``llm.provider = "openai"`` the file's host stands (or the default for that kind)."""
    llm = merged.get("llm")
    if not isinstance(llm, dict) or llm.get("provider") != "openai":
        return
    if origin.get("llm.host") != "environment variable OLLAMA_HOST":
        return
    file_llm = file.get("llm")
    file_host = file_llm.get("host") if isinstance(file_llm, dict) else None
    if file_host is None:
        llm.pop("host", None)
    else:
        llm["host"] = file_host
    origin.pop("llm.host")


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _explain(exc: ValidationError, origin: Mapping[str, str], file: Path) -> str:
    lines = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"])
        source = origin.get(where) or next(
            (o for key, o in origin.items() if key.startswith(where + ".")), str(file)
        )
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown setting (check the spelling; `hark config show` lists them all)"
        lines.append(f"  {where} (from {source}): {msg}")
    return "Invalid settings:\n" + "\n".join(lines)


def load_settings(path: UserPath | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Read the TOML file (if any) and the environment; raise ``ConfigError`` if invalid."""
    env = os.environ if env is None else env
    file = path or config_path(env)
    data: dict[str, Any] = {}
    origin: dict[str, str] = {}
    if file.exists():
        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(
                ConfigCode.CONFIG_PARSE, f"{file} is not valid TOML: {exc}. Fix the line it names."
            ) from exc
        except OSError as exc:
            raise ConfigError(ConfigCode.CONFIG_READ, f"cannot read {file}: {exc}") from exc
        _reject_secrets_in_file(data, file)
    env_data, origin = _env_overrides(env)
    merged = _merge(data, env_data)
    _not_ollama_host_for_openai(data, merged, origin)
    try:
        settings = Settings.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError(ConfigCode.CONFIG_INVALID, _explain(exc, origin, file)) from None
    log.debug("settings loaded from %s", file if file.exists() else "defaults")
    return settings


_SECRET_WORDS = ("api_key", "apikey", "token", "secret", "password")


_ADDRESS_SUFFIXES = ("_uri", "_url")


def _reject_secrets_in_file(data: Mapping[str, Any], file: Path, prefix: str = "") -> None:
    for key, value in data.items():
        where = f"{prefix}{key}"
        if isinstance(value, Mapping):
            _reject_secrets_in_file(value, file, where + ".")
        elif key.lower().endswith(_ADDRESS_SUFFIXES):
            continue  # an address such as google.token_uri names no secret
        elif any(word in key.lower() for word in _SECRET_WORDS):
            raise ConfigError(
                ConfigCode.CONFIG_SECRET_IN_FILE,
                f"{file} holds a secret ({where}); secrets belong in the keyring. Remove that "
                f"line and run `hark secret set <name>` instead.",
            )


def write_default_config(path: Path) -> None:
    """Write a commented starter file (no secrets), for ``hark config init``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(DEFAULT_CONFIG_TEXT, encoding="utf-8")


DEFAULT_CONFIG_TEXT = """\
# Hark settings. Every key can also be set by environment: HARK_<SECTION>__<KEY>.
# Secrets (API keys, tokens) are NOT kept here: use `hark secret set NAME`.

[llm]
provider = "ollama"               # or "openai": an OpenAI-compatible server (llama.cpp, vLLM…)
host = "http://localhost:11434"   # or OLLAMA_HOST; for "openai" its base URL, ".../v1"
model = "llama3.2:3b"
keep_alive = "30m"                # how long Ollama keeps the model loaded; -1: for ever

[asr]
model = "base.en"                 # a faster-whisper name, or a local model directory
language = "en"                   # or "auto"

[tts]
engine = "elevenlabs"             # elevenlabs | piper | espeak | none
fallback = "piper"                # used when the hosted voice fails
first_clause_words = 5            # start speaking at the first comma after 5 words; 0: sentences

# [tts.elevenlabs]                # the hosted voice (its key: `hark secret set elevenlabs-api-key`)
# model_id = "eleven_flash_v2_5"  # Flash: ElevenLabs' lowest-latency model (the default)
# transport = "websocket"         # text streams in as it is written; "http": a request a sentence

[audio]
# input_device = "USB"            # a device name (part of it) or index; `hark doctor` lists them
hangover_ms = 450                 # end_of_turn = "silence": the silence that ends a turn
end_of_turn = "smart"             # smart (a model hears whether you finished) | silence
# turn_silence_ms = 200           # smart: the silence after which the model is asked
# turn_max_wait_ms = 2000         # smart: the longest silence before the turn ends anyway
echo_cancellation = true          # take Hark's own voice out of the mic (barge-in on speakers)

[remote]
# A Hark server does ASR and the LLM (its key: `hark secret set server-api-key`).
# url = "https://203.0.113.7:41234"
# ca_cert = "~/.config/hark/server.pem"  # the server's certificate, pinned
# use_deployment = true           # or: the newest server `hark remote deploy` made
fallback_to_local_asr = true

[google]
# Connect with `hark google login --client-file FILE` (see the README).
calendar = "write"                # off | read | write
mail = "compose"                  # off | read | compose | send
# time_zone = "Europe/Berlin"     # default: this computer's zone

[policy]
# Per tool: auto (just do it), confirm (ask me), deny (never).
# tools = { mail_send = "confirm", calendar_delete_event = "deny" }
max_recipients = 5
"""
