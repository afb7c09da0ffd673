"""The check-up of the language model (Ollama here, or behind the Hark server) and of the Hark
server itself, reached over the pinned TLS with the stored API key.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import httpx

from app.compose.build import build_chat, chat_settings
from app.doctor.check import Check
from app.llm.http_chat import HttpChat
from app.llm.ollama import model_available
from app.settings.schema import Settings
from app.settings.secrets import SecretStore
from app.shared.errors import LlmCode
from app.shared.protocol import AUTH_HEADER, BEARER, HEALTH_PATH, STATUS_PATH
from app.shared.tls import pinned_ssl_context


async def check_llm(settings: Settings, secrets: SecretStore) -> Check:
    """Does the language model answer, and does it have the configured model?"""
    chat = build_chat(settings, secrets)
    try:
        status = await chat.check()
    finally:
        if isinstance(chat, HttpChat):
            await chat.aclose()
    llm = chat_settings(settings)
    where = f"{llm.model} at {llm.host}"
    remote = settings.remote.url is not None
    if not remote and llm.provider == "openai":
        where += " (OpenAI-compatible)"
    if status.ok:
        return Check("language model", "ok", where)
    if not remote and llm.provider == "openai":
        openai_fixes: dict[str, str] = {
            LlmCode.MODEL_MISSING: "set llm.model (HARK_LLM__MODEL) to a model the server lists",
            LlmCode.UNREACHABLE: "start the server, or set HARK_LLM__HOST to its base URL "
            "(such as http://127.0.0.1:8080/v1)",
            LlmCode.AUTH: "store the server's key: hark secret set llm-api-key (or OPENAI_API_KEY)",
        }
        return Check(
            "language model", "fail", status.message, openai_fixes.get(status.code or "", "")
        )
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
