"""The settings' schema: one frozen section per part of Hark, checked when loaded.

Loading is :mod:`app.settings.load`; secrets are never settings (:mod:`app.settings.secrets`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

UserPath = Annotated[Path, AfterValidator(lambda p: p.expanduser())]
"""A path setting; ``~`` means the user's home, as in a shell."""


TURN_MODEL_WHEEL_URL = (
    "https://files.pythonhosted.org/packages/38/31/"
    "29c72ca8d3a16b59fd12580fcb99a7cef641d9ee07fe7b0321c1b65ca3cf/"
    "pipecat_ai-1.14.0-py3-none-any.whl"
)
"""The PyPI wheel that ships the Smart Turn v3.2 end-of-turn model (``app.audio.turn_model``)."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_http_url(value: str, example: str) -> str:
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{value!r} is not an http(s) URL with a host; write it like {example}")
    return value.strip().rstrip("/")


_GO_DURATION = re.compile(r"[-+]?(?:(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+")


def _check_keep_alive(value: object) -> str | int | None:
    """Ollama's ``keep_alive``: a Go duration string or whole seconds (negative: for ever)."""
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = value.strip() if isinstance(value, str) else None
    if text == "":
        return None
    if text is not None and re.fullmatch(r"[-+]?\d+", text):
        return int(text)
    if text is not None and _GO_DURATION.fullmatch(text):
        return text
    raise ValueError(
        f'{value!r} is not a duration Ollama understands; write it like "30m", "1h" or '
        '"90s", a number of seconds, or -1 to keep the model loaded for ever'
    )


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
    silero_vad: bool = True
    """Check what webrtcvad calls speech with Silero VAD (shipped with faster-whisper), which
    tells speech from noise far better: fans, music and typing do not start a turn."""
    silero_threshold: float = Field(default=0.5, ge=0.2, le=0.9)
    """Silero's speech probability that starts speech (speech under way goes on down to 0.15
    below it); lower hears soft voices better, higher ignores more noise."""
    echo_cancellation: bool = True
    """Remove Hark's own voice from the microphone (WebRTC's echo canceller, with what the
    speaker plays as the reference), so barge-in works over loudspeakers."""
    end_of_turn: Literal["smart", "silence"] = "smart"
    """``smart``: after ``turn_silence_ms`` of silence an end-of-turn model (Smart Turn) says
    whether the request is finished; ``silence``: the turn ends after ``hangover_ms``."""
    turn_silence_ms: int = Field(default=180, ge=60, le=1500)
    """In ``smart`` mode: the silence after which the end-of-turn model is asked."""
    turn_max_wait_ms: int = Field(default=2000, ge=300, le=10000)
    """In ``smart`` mode: the longest silence before the turn ends anyway."""
    turn_model_url: str = TURN_MODEL_WHEEL_URL
    """Where the end-of-turn model comes from on first use (the pipecat-ai wheel; a mirror
    of the same file works: both checksums are checked)."""
    transcribe_early: bool = True
    """Start transcribing a request at its first short silence, while the end-of-turn model
    decides, so that the words are ready (or nearly) when the turn ends."""
    partial_every_ms: int = Field(default=2000, ge=0, le=30000)
    """While a long request goes on, transcribe what was said so far this often, so that the
    listening window shows the words as they come; 0: not until the first silence."""
    join_within_ms: int = Field(default=1500, ge=0, le=5000)
    """Speech that resumes this soon after a request ended belongs to it: Hark stops its answer
    (if it has begun) and hears both parts as one request; 0: only until Hark speaks."""

    @field_validator("turn_model_url")
    @classmethod
    def _turn_url(cls, v: str) -> str:
        return _check_http_url(v, TURN_MODEL_WHEEL_URL)

    @model_validator(mode="after")
    def _turn_times(self) -> AudioSettings:
        if self.turn_max_wait_ms <= self.turn_silence_ms:
            raise ValueError(
                f"turn_max_wait_ms ({self.turn_max_wait_ms}) must be longer than "
                f"turn_silence_ms ({self.turn_silence_ms}): it is how long Hark waits in all"
            )
        return self


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
    fitted_window: bool = True
    """Decode a request of up to 20 s in a window fitted to it rather than Whisper's 30 s (several
    times faster on a CPU; a result that fails Whisper's own checks is decoded again the standard
    way). Off: always the standard window."""


OLLAMA_EXAMPLE = "http://192.168.1.100:11434"
OPENAI_DEFAULT_HOST = "http://127.0.0.1:8080/v1"
"""Where llama.cpp's ``llama-server`` listens by default: an OpenAI-compatible server's
address when none is set."""


class LlmSettings(_Section):
    """The language model server and model that write the replies."""

    provider: Literal["ollama", "openai"] = "ollama"
    """``ollama``: Ollama's own API at ``host``. ``openai``: any OpenAI-compatible server
    (llama.cpp's llama-server, vLLM, SGLang, LM Studio, LocalAI, a hosted API), ``host`` being
    its base URL with the ``/v1`` (``http://127.0.0.1:8080/v1``)."""
    host: str = "http://localhost:11434"
    model: str = "llama3.2:3b"
    timeout_s: float = Field(default=30.0, gt=0, le=600)
    ca_cert: UserPath | None = None
    """A PEM certificate to pin for an https host (the Hark server's self-signed one)."""
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    keep_alive: str | int | None = "30m"
    """How long Ollama keeps the model loaded after each request, so a turn after a quiet spell
    does not wait for it to load again: a duration (``"30m"``, ``"1h30m"``, ``"90s"``), a number
    of seconds, ``-1`` for ever, ``0`` to unload at once; empty: the server's own default
    (``OLLAMA_KEEP_ALIVE``, 5 minutes)."""
    history_turns: int = Field(default=6, ge=0, le=50)
    system_prompt_file: UserPath | None = None
    max_tool_rounds: int = Field(default=4, ge=1, le=10)
    retry_interval_s: float = Field(default=5.0, gt=0)
    """How often the model is checked again while it does not answer (and, while it does,
    when it runs on this computer), so the tray follows it within seconds."""

    @model_validator(mode="before")
    @classmethod
    def _host_of_the_kind(cls, data: object) -> object:
        """No host given: Ollama's own address, or for ``openai`` llama.cpp's server's."""
        if isinstance(data, dict) and data.get("provider") == "openai" and "host" not in data:
            return {**data, "host": OPENAI_DEFAULT_HOST}
        return data

    @field_validator("host")
    @classmethod
    def _host_is_url(cls, v: str, info: ValidationInfo) -> str:
        openai = info.data.get("provider") == "openai"
        return _check_http_url(v, "http://192.168.1.100:8000/v1" if openai else OLLAMA_EXAMPLE)

    @field_validator("keep_alive", mode="before")
    @classmethod
    def _keep_alive_is_duration(cls, v: object) -> str | int | None:
        return _check_keep_alive(v)


class ElevenLabsSettings(_Section):
    """The hosted ElevenLabs voice (the API key lives in the keyring)."""

    voice_id: str = "21m00Tcm4TlvDq8ikWAM"
    model_id: str = "eleven_flash_v2_5"
    """Flash v2.5: ElevenLabs' lowest-latency model (a setting in your file is kept)."""
    output_format: Literal["pcm_16000", "pcm_22050", "pcm_24000"] = "pcm_16000"
    base_url: str = "https://api.elevenlabs.io"
    transport: Literal["websocket", "http"] = "websocket"
    """``websocket``: text streams in over one connection as the model writes it (falls back
    to ``http`` by itself if a proxy refuses the upgrade); ``http``: one request per sentence."""

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
    first_clause_words: int = Field(default=5, ge=0, le=40)
    """Start speaking at the first comma, semicolon, colon or dash after at least this many
    words, rather than at the end of the first sentence (``0``: whole sentences only)."""
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
