"""Typed settings: a TOML file, environment overrides, and secrets in the OS keyring.

Where settings come from, lowest to highest precedence:

1. the defaults below (a first run with no file works: local mode);
2. the TOML file at ``user_config_dir("hark")/config.toml``, or the path in ``HARK_CONFIG``;
3. environment variables ``HARK_<SECTION>__<KEY>`` (``HARK_LLM__MODEL=llama3.1:8b``), and plain
   ``OLLAMA_HOST`` when ``HARK_LLM__HOST`` is unset.

Secrets never live in the TOML file: they go through :class:`SecretStore` (the OS keyring), and
a few well-known environment variables (``ELEVENLABS_API_KEY``) are honoured as well.
"""

from __future__ import annotations

import json
import logging
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import platformdirs
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)

from app.core.errors import ConfigError

log = logging.getLogger(__name__)

APP_NAME = "hark"
ENV_PREFIX = "HARK_"
CONFIG_ENV = "HARK_CONFIG"
SERVER_ENV_PREFIX = "HARK_SERVER__"
OTHER_ENV_PREFIXES = (SERVER_ENV_PREFIX, "HARK_VAST__")
"""Read by ``hark server`` (remote.server.settings) and ``hark remote`` (remote.deploy.settings),
not by the desktop app's settings."""


UserPath = Annotated[Path, AfterValidator(lambda p: p.expanduser())]
"""A path setting; ``~`` means the user's home, as in a shell."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_http_url(value: str, example: str) -> str:
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{value!r} is not an http(s) URL with a host; write it like {example}")
    return value.strip().rstrip("/")


class AudioSettings(_Section):
    """Microphone, speaker and the endpointer (voice activity detection)."""

    input_device: str | int | None = None
    output_device: str | int | None = None
    vad_aggressiveness: int = Field(default=2, ge=0, le=3)
    preroll_ms: int = Field(default=300, ge=0, le=2000)
    hangover_ms: int = Field(default=450, ge=90, le=3000)
    min_speech_ms: int = Field(default=240, ge=30, le=5000)
    max_utterance_s: float = Field(default=30.0, ge=1.0, le=300.0)
    overlay: bool = True
    """The desktop app shows a small window near the tray while it listens (the level, the
    words it heard, Cancel)."""


class AsrSettings(_Section):
    """Speech recognition with faster-whisper."""

    model: str = "base.en"
    """A model name faster-whisper downloads (tiny, base.en, small, large-v3…) or a local
    directory holding a CTranslate2 Whisper model."""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    compute_type: str = "auto"
    """``auto`` means float16 on CUDA and int8 on CPU."""
    language: str = "en"
    """A language code, or ``auto`` to detect (restricted to ``languages`` when that is set)."""
    languages: list[str] = Field(default_factory=list)
    beam_size: int = Field(default=1, ge=1, le=10)
    no_speech_threshold: float = Field(default=0.6, ge=0.0, le=1.0)
    cpu_threads: int = Field(default=0, ge=0)
    download_root: UserPath | None = None
    """Where downloaded models are kept; default: Hark's cache directory."""


class LlmSettings(_Section):
    """The Ollama server and model that write the replies."""

    host: str = "http://localhost:11434"
    model: str = "llama3.2:3b"
    timeout_s: float = Field(default=30.0, gt=0, le=600)
    ca_cert: UserPath | None = None
    """A PEM certificate to pin for an https host (the Hark server's self-signed one)."""
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    keep_alive: str | None = None
    history_turns: int = Field(default=6, ge=0, le=50)
    system_prompt_file: UserPath | None = None
    max_tool_rounds: int = Field(default=4, ge=1, le=10)
    retry_interval_s: float = Field(default=5.0, gt=0)
    """How often the model is checked again while it does not answer (and, while it does,
    when it runs on this computer), so the tray follows it within seconds."""

    @field_validator("host")
    @classmethod
    def _host_is_url(cls, v: str) -> str:
        return _check_http_url(v, "http://192.168.1.100:11434")


class ElevenLabsSettings(_Section):
    """The hosted ElevenLabs voice (the API key lives in the keyring)."""

    voice_id: str = "21m00Tcm4TlvDq8ikWAM"
    model_id: str = "eleven_flash_v2_5"
    output_format: Literal["pcm_16000", "pcm_22050", "pcm_24000"] = "pcm_16000"
    base_url: str = "https://api.elevenlabs.io"

    @field_validator("base_url")
    @classmethod
    def _base_is_url(cls, v: str) -> str:
        return _check_http_url(v, "https://api.elevenlabs.io")


class TtsSettings(_Section):
    """Which voice speaks, and the local voice to fall back on."""

    engine: Literal["elevenlabs", "piper", "espeak", "none"] = "elevenlabs"
    fallback: Literal["piper", "espeak", "none"] = "piper"
    piper_voice: UserPath | None = None
    """A Piper voice ``.onnx`` (its ``.onnx.json`` beside it); default: the bundled voice."""
    espeak_voice: str = "en-us"
    speed: float = Field(default=1.0, gt=0.2, le=4.0)
    stream_sentences: bool = True
    """Speak each sentence as soon as it is written (off: wait for the whole reply)."""
    elevenlabs: ElevenLabsSettings = Field(default_factory=ElevenLabsSettings)


class RemoteSettings(_Section):
    """A Hark server (your GPU box, or `hark server` elsewhere) that does ASR and the LLM.

    When ``url`` is set, speech recognition and the language model go through it, over TLS
    pinned to ``ca_cert`` and with the server's API key from the keyring (``server-api-key``).
    """

    url: str | None = None
    """e.g. ``https://203.0.113.7:41234``; unset means everything runs on this computer."""
    ca_cert: UserPath | None = None
    """The server's certificate (PEM) to pin; needed for a self-signed server."""
    use_deployment: bool = False
    """With no ``url``: use the newest server ``hark remote deploy`` made (its address and
    certificate from the deployment record, which ``hark remote start`` keeps current)."""
    fallback_to_local_asr: bool = True
    """Transcribe on this computer while the server is unreachable or still provisioning."""
    idle_stop_minutes: int = Field(default=30, ge=0, le=24 * 60)
    """With ``use_deployment``: Hark stops its Vast.ai server after this many minutes in which
    nobody used it (``0``: never), and starts it again when you next talk."""
    start_timeout_s: float = Field(default=900.0, gt=0, le=7200)
    """How long Hark waits for a stopped server to start and be ready."""
    poll_s: float = Field(default=5.0, gt=0, le=300)
    """How often Hark asks Vast.ai and the server how a start is going."""
    timeout_s: float = Field(default=30.0, gt=0, le=600)
    retry_attempts: int = Field(default=4, ge=0, le=20)
    retry_backoff_s: float = Field(default=1.0, gt=0, le=60)
    """First wait between retries; it doubles each time (capped by a Retry-After answer)."""

    @field_validator("url")
    @classmethod
    def _url_is_url(cls, v: str | None) -> str | None:
        if v is None or not v.strip():
            return None
        return _check_http_url(v, "https://203.0.113.7:41234")


class GoogleSettings(_Section):
    """The Google account: which features Hark may use (they decide the OAuth scopes asked for)
    and where Calendar and Gmail requests go. Tokens live in the keyring, never here."""

    calendar: Literal["off", "read", "write"] = "write"
    """``read``: see events; ``write``: also create, move and delete them."""
    mail: Literal["off", "read", "compose", "send"] = "compose"
    """``read``: search and read; ``compose``: also drafts; ``send``: also send, reply, mark
    read and archive."""
    client_file: UserPath | None = None
    """The OAuth client JSON downloaded from your Google Cloud project (Desktop app)."""
    api_endpoint: str | None = None
    """Send Calendar and Gmail requests to this base URL instead of Google's (a proxy)."""
    token_uri: str = "https://oauth2.googleapis.com/token"
    auth_uri: str = "https://accounts.google.com/o/oauth2/auth"
    calendar_id: str = "primary"
    time_zone: str | None = None
    """An IANA zone such as ``Europe/Berlin``; default: this computer's zone."""
    timeout_s: float = Field(default=30.0, gt=0, le=600)
    retry_attempts: int = Field(default=3, ge=0, le=10)
    retry_backoff_s: float = Field(default=1.0, gt=0, le=60)
    login_timeout_s: float = Field(default=300.0, gt=0, le=3600)
    """How long ``hark google login`` waits for you to finish in the browser."""

    @field_validator("api_endpoint")
    @classmethod
    def _endpoint_is_url(cls, v: str | None) -> str | None:
        if v is None or not v.strip():
            return None
        return _check_http_url(v, "https://proxy.example.org")

    @field_validator("token_uri", "auth_uri")
    @classmethod
    def _oauth_is_url(cls, v: str) -> str:
        return _check_http_url(v, "https://oauth2.googleapis.com/token")


ToolMode = Literal["auto", "confirm", "deny"]


class PolicySettings(_Section):
    """What Hark may do on its own, what it must ask about, and what it must never do."""

    tools: dict[str, ToolMode] = Field(default_factory=dict)
    """Per tool: ``auto``, ``confirm`` or ``deny``; a tool not named here gets its risk class's
    default (reads and reversible writes auto, external effects confirm, unknown tools deny)."""
    max_recipients: int = Field(default=5, ge=1, le=500)
    """More recipients (or guests) than this always needs confirmation."""
    confirm_unknown_recipients: bool = True
    """Mail or invitations to someone you never wrote to always need confirmation."""
    rate_limits: dict[str, int] = Field(
        default_factory=lambda: {
            "mail_send": 20,
            "mail_reply": 20,
            "calendar_create_event": 30,
            "calendar_update_event": 30,
            "calendar_delete_event": 20,
        }
    )
    """Most calls per tool per hour; ``0`` blocks the tool."""
    repeat_window_h: float = Field(default=24.0, ge=0, le=24 * 365)
    """The same action (same tool, same final arguments) within this window is not done twice:
    the earlier result is returned instead."""
    confirm_timeout_s: float = Field(default=120.0, gt=0, le=3600)
    """An unanswered confirmation is rejected after this long."""
    audit_db: UserPath | None = None
    """The audit log (SQLite); default: ``audit.sqlite3`` in Hark's data directory."""


class TalkSettings(_Section):
    """How you start talking in the desktop app: a global hotkey, a wake word, or both."""

    hotkey: str | None = "<ctrl>+<alt>+<space>"
    """A key chord in pynput's notation (``<ctrl>+<shift>+h``); empty turns the hotkey off."""
    hotkey_mode: Literal["hold", "toggle"] = "hold"
    """``hold``: talk while the keys are held; ``toggle``: press once to talk, again to stop."""
    skip_ms: int = Field(default=150, ge=0, le=1000)
    """Audio ignored after push-to-talk starts, so the key's click is not taken for speech."""
    wake_word: str | None = None
    """A wake word model: ``hey_jarvis``, ``alexa``, ``okay_nabu``, ``hey_mycroft``,
    ``hey_rhasspy``, or a ``.tflite`` file; unset: no always-on listening."""
    wake_sensitivity: float = Field(default=0.5, ge=0.05, le=0.95)
    """Higher hears the wake word more readily (and mishears more often)."""
    barge_in: bool = True


class Settings(_Section):
    """All of Hark's settings: one object per process, passed down from the entry point."""

    audio: AudioSettings = Field(default_factory=AudioSettings)
    asr: AsrSettings = Field(default_factory=AsrSettings)
    llm: LlmSettings = Field(default_factory=LlmSettings)
    tts: TtsSettings = Field(default_factory=TtsSettings)
    remote: RemoteSettings = Field(default_factory=RemoteSettings)
    google: GoogleSettings = Field(default_factory=GoogleSettings)
    policy: PolicySettings = Field(default_factory=PolicySettings)
    talk: TalkSettings = Field(default_factory=TalkSettings)

    def public_dump(self) -> dict[str, Any]:
        """The settings as plain data, for ``hark config show`` (holds no secret by design)."""
        return self.model_dump(mode="json")


def config_path(env: Mapping[str, str] | None = None) -> Path:
    """Where the settings file is: ``HARK_CONFIG``, else the platform's user config dir."""
    env = os.environ if env is None else env
    override = env.get(CONFIG_ENV)
    if override:
        return Path(override).expanduser()
    return Path(platformdirs.user_config_dir(APP_NAME)) / "config.toml"


def data_dir() -> Path:
    return Path(platformdirs.user_data_dir(APP_NAME))


def cache_dir() -> Path:
    return Path(platformdirs.user_cache_dir(APP_NAME))


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
                "config-parse", f"{file} is not valid TOML: {exc}. Fix the line it names."
            ) from exc
        except OSError as exc:
            raise ConfigError("config-read", f"cannot read {file}: {exc}") from exc
        _reject_secrets_in_file(data, file)
    env_data, origin = _env_overrides(env)
    merged = _merge(data, env_data)
    try:
        settings = Settings.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError("config-invalid", _explain(exc, origin, file)) from None
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
                "config-secret-in-file",
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
host = "http://localhost:11434"   # or OLLAMA_HOST; e.g. "http://192.168.1.100:11434"
model = "llama3.2:3b"

[asr]
model = "base.en"                 # a faster-whisper name, or a local model directory
language = "en"                   # or "auto"

[tts]
engine = "elevenlabs"             # elevenlabs | piper | espeak | none
fallback = "piper"                # used when the hosted voice fails

[audio]
# input_device = "USB"            # a device name (part of it) or index; `hark doctor` lists them
hangover_ms = 450

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


# --- secrets -------------------------------------------------------------------------------

KEYRING_SERVICE = "hark"

SECRET_NAMES: dict[str, str] = {
    "elevenlabs-api-key": "ELEVENLABS_API_KEY",
    "server-api-key": "HARK_SERVER_API_KEY",
    "llm-token": "HARK_LLM_TOKEN",
    "vast-api-key": "VAST_API_KEY",
}
"""Known secrets and the environment variable that may supply each instead of the keyring."""


class SecretStore:
    """Secrets in the OS keyring (service ``hark``), with environment variables as overrides.

    The keyring backend is whatever ``keyring`` picks (Secret Service, macOS Keychain, Windows
    Credential Locker); tests select a file backend. Values are never logged.
    """

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        self._env = os.environ if env is None else env

    @staticmethod
    def _check(name: str) -> None:
        if name not in SECRET_NAMES and not name.startswith("google-"):
            known = ", ".join(sorted(SECRET_NAMES))
            raise ConfigError("secret-unknown", f"unknown secret {name!r}; known: {known}")

    def get(self, name: str) -> str | None:
        self._check(name)
        env_name = SECRET_NAMES.get(name)
        if env_name and self._env.get(env_name):
            return self._env[env_name]
        try:
            import keyring
            from keyring.errors import KeyringError

            try:
                value: str | None = keyring.get_password(KEYRING_SERVICE, name)
            except KeyringError as exc:
                log.warning(
                    "keyring unavailable (%s); secret %s not read", type(exc).__name__, name
                )
                return None
        except ImportError:  # pragma: no cover - keyring is a hard dependency
            return None
        return value or None

    def set(self, name: str, value: str) -> None:
        self._check(name)
        if not value.strip():
            raise ConfigError("secret-empty", f"the value for {name} is empty; nothing stored")
        import keyring
        from keyring.errors import KeyringError

        try:
            keyring.set_password(KEYRING_SERVICE, name, value.strip())
        except KeyringError as exc:
            raise ConfigError(
                "keyring-unavailable",
                f"could not store {name} in the OS keyring ({type(exc).__name__}). Install and "
                "unlock a keyring (GNOME Keyring, KWallet), or set the environment variable "
                f"{SECRET_NAMES.get(name, '')} instead.",
            ) from None

    def delete(self, name: str) -> bool:
        self._check(name)
        import keyring
        from keyring.errors import KeyringError, PasswordDeleteError

        try:
            keyring.delete_password(KEYRING_SERVICE, name)
        except PasswordDeleteError:
            return False
        except KeyringError as exc:
            raise ConfigError(
                "keyring-unavailable", f"could not reach the OS keyring: {type(exc).__name__}"
            ) from None
        return True

    def source(self, name: str) -> str | None:
        """Where ``name`` would be read from (``environment`` / ``keyring``), never the value."""
        env_name = SECRET_NAMES.get(name)
        if env_name and self._env.get(env_name):
            return f"environment ({env_name})"
        return "keyring" if self.get(name) else None


def backend_description() -> str:
    """Which keyring backend is active, for ``hark doctor``."""
    import keyring

    kr = keyring.get_keyring()
    return f"{type(kr).__module__}.{type(kr).__name__}"
