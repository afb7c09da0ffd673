"""Ask a language model server which models it has, and say in plain words whether Hark can
use it.

The Settings page and the first-run wizard check the language model with :func:`probe_llm`
before anything is saved: one ``GET /api/tags`` on Ollama (the call ``ollama list`` makes), or
``GET /models`` on an OpenAI-compatible server (``llm.provider = "openai"``), with the same TLS
rules as the chat clients. The answer is an :class:`LlmProbe`: the
models the server lists (for a model picker), a :class:`Verdict`, and :meth:`LlmProbe.words`,
a sentence for a person that says what was found and what to do next. It never raises.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

import certifi
import httpx
from pydantic import ValidationError

from app.llm.ollama import model_available
from app.settings.schema import LlmSettings
from app.shared.tls import is_tls_error, pinned_ssl_context

log = logging.getLogger(__name__)

OLLAMA_DOWNLOAD = "https://ollama.com/download"
OLLAMA_EXAMPLE = "http://192.168.1.100:11434"
OPENAI_EXAMPLE = "http://127.0.0.1:8080/v1"
PROBE_TIMEOUT_S = 10.0
"""A check waits at most this long (or the LLM timeout, when that is shorter)."""


class Verdict(StrEnum):
    """What a check of the language model found."""

    READY = "ready"
    MODEL_MISSING = "model-missing"
    NO_MODELS = "no-models"
    UNREACHABLE = "unreachable"
    TIMEOUT = "timeout"
    REFUSED = "refused"
    NOT_OLLAMA = "not-ollama"
    BAD_ADDRESS = "bad-address"
    BAD_CERT = "bad-cert"


@dataclass(frozen=True, slots=True)
class LlmProbe:
    """One check of a server: what it lists and what that means for the chosen model."""

    host: str
    model: str
    verdict: Verdict
    models: tuple[str, ...] = ()
    timeout_s: float = PROBE_TIMEOUT_S
    provider: str = "ollama"

    @property
    def ok(self) -> bool:
        """The server answers and has the model: Hark can talk."""
        return self.verdict is Verdict.READY

    @property
    def answered(self) -> bool:
        """A server of the chosen kind answered (whatever models it has)."""
        return self.verdict in (Verdict.READY, Verdict.MODEL_MISSING, Verdict.NO_MODELS)

    def has(self, model: str) -> bool:
        """Whether ``model`` is among the models the server listed."""
        if self.provider == "openai":
            return model in self.models
        return model_available(model, self.models)

    @property
    def pull_command(self) -> str:
        """What to run on the server to get the chosen model."""
        return f"ollama pull {self.model}"

    def words(self) -> str:
        """What was found and what to do, for a person (no codes, no settings keys)."""
        if self.provider == "openai":
            return self._openai_words()
        host, model = self.host, self.model
        match self.verdict:
            case Verdict.READY:
                return f"The language model answers: {model} is ready on {host}."
            case Verdict.MODEL_MISSING:
                return (
                    f"{host} answers, but it does not have the model {model}. Pick one it has, "
                    f"or get this one by running this on that computer: {self.pull_command}"
                )
            case Verdict.NO_MODELS:
                return (
                    f"{host} answers, but it has no models yet. Get one by running this on "
                    f"that computer: {self.pull_command}"
                )
            case Verdict.UNREACHABLE:
                return (
                    f"Nothing answers at {host}. Is Ollama running there? Start it (open the "
                    "Ollama app, or run: ollama serve), or check the address."
                )
            case Verdict.REFUSED:
                return (
                    f"{host} answers, but it wants a key that Hark does not have (or the key "
                    "is wrong). For a Hark server, choose it on the Server page with its API "
                    "key."
                )
            case Verdict.NOT_OLLAMA:
                return (
                    f"Something answers at {host}, but it is not an Ollama server. Check the "
                    "address: Ollama listens on port 11434."
                )
            case _:
                return self._common_words()

    def _openai_words(self) -> str:
        host, model = self.host, self.model
        match self.verdict:
            case Verdict.READY:
                return f"The language model answers: {model} is ready on {host}."
            case Verdict.MODEL_MISSING:
                have = ", ".join(self.models[:6])
                return (
                    f"{host} answers, but it does not serve the model {model}. Pick one it "
                    f"has ({have})."
                )
            case Verdict.NO_MODELS:
                return f"{host} answers, but it serves no models yet. Load one there first."
            case Verdict.UNREACHABLE:
                return (
                    f"Nothing answers at {host}. Is the server running there? Start it, or "
                    f"check the address (its base URL, like {OPENAI_EXAMPLE})."
                )
            case Verdict.REFUSED:
                return (
                    f"{host} answers, but it refused the API key (or wants one). Paste the "
                    "server's key in the API key field."
                )
            case Verdict.NOT_OLLAMA:
                return (
                    f"Something answers at {host}, but not as an OpenAI-compatible server. "
                    f"Check the address: it is the base URL, ending in /v1, like "
                    f"{OPENAI_EXAMPLE}."
                )
            case _:
                return self._common_words()

    def _common_words(self) -> str:
        host = self.host
        match self.verdict:
            case Verdict.TIMEOUT:
                return (
                    f"{host} did not answer within {self.timeout_s:g} seconds. It may be busy "
                    "or out of reach; check the address and try again."
                )
            case Verdict.BAD_ADDRESS:
                example = OPENAI_EXAMPLE if self.provider == "openai" else OLLAMA_EXAMPLE
                return f"“{host}” is not an address Hark can use. Write it like {example}."
            case _:
                return (
                    f"The secure connection to {host} failed: its certificate is not the one "
                    "Hark trusts. Check the address, or pick the server's certificate."
                )


def _verify(settings: LlmSettings) -> ssl.SSLContext | None:
    if settings.ca_cert is None:
        return ssl.create_default_context(cafile=certifi.where())
    try:
        return pinned_ssl_context(settings.ca_cert.read_text(encoding="ascii"))
    except (OSError, ValueError, ssl.SSLError):
        return None


async def probe_llm(
    settings: LlmSettings,
    token: str | None = None,
    *,
    client: httpx.AsyncClient | None = None,
) -> LlmProbe:
    """Check ``settings.host``: does a server of ``settings.provider`` answer, and does it
    have the model?

    ``token`` goes as ``Authorization: Bearer`` (a Hark server's key, or the OpenAI-compatible
    server's API key) and is never logged. ``client`` may be given by tests; otherwise one is
    made and closed here.
    """
    host = settings.host.rstrip("/")
    timeout = min(PROBE_TIMEOUT_S, settings.timeout_s)
    openai = settings.provider == "openai"

    def probe(verdict: Verdict, models: tuple[str, ...] = ()) -> LlmProbe:
        return LlmProbe(host, settings.model, verdict, models, timeout, settings.provider)

    verify = _verify(settings)
    if verify is None:
        return probe(Verdict.BAD_CERT)
    own = client is None
    http = client or httpx.AsyncClient(verify=verify, timeout=httpx.Timeout(timeout))
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        path = "/models" if openai else "/api/tags"
        response = await http.get(f"{host}{path}", headers=headers, timeout=timeout)
    except httpx.TimeoutException:
        return probe(Verdict.TIMEOUT)
    except (httpx.UnsupportedProtocol, httpx.InvalidURL):
        return probe(Verdict.BAD_ADDRESS)
    except (httpx.HTTPError, OSError) as exc:
        log.info("LLM check: %s did not answer (%s)", host, type(exc).__name__)
        return probe(Verdict.BAD_CERT if is_tls_error(exc) else Verdict.UNREACHABLE)
    finally:
        if own:
            await http.aclose()
    if response.status_code in (401, 403):
        return probe(Verdict.REFUSED)
    if response.status_code >= 300:
        return probe(Verdict.NOT_OLLAMA)
    try:
        data = response.json()
    except ValueError:
        return probe(Verdict.NOT_OLLAMA)
    names = _openai_ids(data) if openai else _ollama_names(data)
    if names is None:
        return probe(Verdict.NOT_OLLAMA)
    if not names:
        return probe(Verdict.NO_MODELS)
    found = probe(Verdict.READY, names)
    return found if found.has(settings.model) else probe(Verdict.MODEL_MISSING, names)


def _ollama_names(data: object) -> tuple[str, ...] | None:
    listed = data.get("models") if isinstance(data, Mapping) else None
    if not isinstance(listed, list):
        return None
    return tuple(
        str(m.get("name") or m.get("model"))
        for m in listed
        if isinstance(m, Mapping) and (m.get("name") or m.get("model"))
    )


def _openai_ids(data: object) -> tuple[str, ...] | None:
    listed = data.get("data") if isinstance(data, Mapping) else None
    if not isinstance(listed, list):
        return None
    return tuple(str(m["id"]) for m in listed if isinstance(m, Mapping) and m.get("id"))


def llm_settings(
    base: LlmSettings, host: str, model: str, provider: str | None = None
) -> LlmSettings | None:
    """``base`` with a typed address, model and kind of server, or None when the address is
    not a URL."""
    try:
        return LlmSettings.model_validate(
            {
                **base.model_dump(),
                "host": host.strip(),
                "model": model.strip() or base.model,
                "provider": provider or base.provider,
            }
        )
    except ValidationError:
        return None
