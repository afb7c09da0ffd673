"""Hark's chat model: an Ollama server reached over HTTP(S), streamed as it writes.

The reply is read line by line (NDJSON) while Ollama is still generating, so the pipeline can
start speaking the first sentence long before the last token. Every failure comes out as an
:class:`~app.shared.errors.LlmError` with a stable code and a message that says what to do:

=====================  ===================================================================
``llm-unreachable``    no connection (refused, DNS, TLS); names the host and the settings
``llm-timeout``        no connection, or no next chunk, within ``timeout_s``
``llm-model-missing``  the model is not on the server (``ollama pull MODEL``)
``llm-auth``           401/403 from the server or its proxy: the API key is wrong or missing
``llm-server-error``   any other error Ollama reports, before or in the middle of a stream
``llm-stream-cut``     the stream ended before Ollama's ``done`` object
``llm-bad-tool-call``  the model asked for a tool in a shape that cannot be read
``llm-ca-cert``        the pinned certificate file (``llm.ca_cert``) cannot be used
=====================  ===================================================================

TLS pinning (``llm.ca_cert``) is :mod:`app.shared.tls`.
"""

from __future__ import annotations

import json
import logging
import ssl
from collections.abc import AsyncGenerator, Mapping, Sequence
from typing import Any

import httpx

from app.core.types import BackendStatus, ChatDelta, ChatMessage, ToolSpec
from app.llm.wire import display_host, error_code, error_text, is_json_error, parse_tool_calls
from app.settings.schema import LlmSettings
from app.shared.errors import LlmCode, LlmError
from app.shared.tls import is_tls_error, pinned_ssl_context, public_ssl_context

log = logging.getLogger(__name__)

_HOST_HINT = "Set HARK_LLM__HOST or OLLAMA_HOST."


class OllamaChat:
    """:class:`~app.core.ports.ChatModel` over Ollama's ``/api/chat`` (streaming, tools).

    ``token`` is sent as ``Authorization: Bearer`` (the Hark server's API key) and never
    logged. Pass ``client`` to share or inject an ``httpx.AsyncClient`` (its TLS settings are
    then the caller's); otherwise one is built from ``settings`` and closed by :meth:`aclose`.
    """

    def __init__(
        self,
        settings: LlmSettings,
        token: str | None = None,
        client: httpx.AsyncClient | None = None,
        *,
        auth_hint: str = "`hark secret set llm-token` (or HARK_LLM_TOKEN)",
    ) -> None:
        self._settings = settings
        self._auth_hint = auth_hint
        self._host = settings.host.rstrip("/")
        self._shown_host = display_host(self._host)
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._timeout = httpx.Timeout(settings.timeout_s)
        self._setup_error: LlmError | None = None
        self._owns_client = client is None
        if client is None:
            verify = public_ssl_context()
            if settings.ca_cert is not None:
                try:
                    verify = pinned_ssl_context(settings.ca_cert.read_text(encoding="ascii"))
                except (OSError, ValueError, ssl.SSLError) as exc:
                    self._setup_error = LlmError(
                        LlmCode.CA_CERT,
                        f"the pinned certificate {settings.ca_cert} cannot be used ({exc}). "
                        "Point llm.ca_cert at the server's PEM certificate, or remove the "
                        "setting to use the system's certificates.",
                    )
                    log.warning("LLM certificate pin unusable: %s", exc)
            client = httpx.AsyncClient(verify=verify, timeout=self._timeout)
        self._client = client

    @property
    def host(self) -> str:
        return self._shown_host

    @property
    def model(self) -> str:
        return self._settings.model

    async def aclose(self) -> None:
        """Close the HTTP client if this object made it."""
        if self._owns_client:
            await self._client.aclose()

    # --- chat ----------------------------------------------------------------------------------

    def _chat_body(
        self, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec]
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self._settings.model,
            "messages": [m.to_wire() for m in messages],
            "stream": True,
        }
        if tools:
            body["tools"] = [t.to_wire() for t in tools]
        if self._settings.temperature is not None:
            body["options"] = {"temperature": self._settings.temperature}
        if self._settings.keep_alive is not None:
            body["keep_alive"] = self._settings.keep_alive
        return body

    async def stream_chat(
        self, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec]
    ) -> AsyncGenerator[ChatDelta, None]:
        """Stream the reply: text pieces, tool calls, then one ``ChatDelta(done=True)``.

        Raises :class:`LlmError` only; cancelling the consumer closes the HTTP stream.
        """
        if self._setup_error is not None:
            raise LlmError(self._setup_error.code, self._setup_error.message)
        body = self._chat_body(messages, tools)
        started = False
        try:
            async with self._client.stream(
                "POST",
                f"{self._host}/api/chat",
                json=body,
                headers=self._headers,
                timeout=self._timeout,
            ) as response:
                if response.status_code >= 300:  # redirects are not followed: say so
                    raise self._status_error(response.status_code, await response.aread())
                started = True
                async for line in response.aiter_lines():
                    if not line.strip():
                        continue
                    for delta in self._parse_line(line):
                        yield delta
                        if delta.done:
                            return
            raise LlmError(
                LlmCode.STREAM_CUT,
                f"Ollama at {self._shown_host} ended the reply before it was finished. "
                "Try again; if it keeps happening, check the server's log.",
            )
        except httpx.TimeoutException as exc:
            raise self._timeout_error(exc, started) from exc
        except (httpx.RemoteProtocolError, httpx.ReadError) as exc:
            if started:
                raise LlmError(
                    LlmCode.STREAM_CUT,
                    f"the connection to Ollama at {self._shown_host} broke in the middle of "
                    f"the reply ({exc or type(exc).__name__}). Try again.",
                ) from exc
            raise self._unreachable(exc) from exc
        except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError, OSError) as exc:
            raise self._unreachable(exc) from exc

    def _parse_line(self, line: str) -> list[ChatDelta]:
        try:
            obj = json.loads(line)
        except ValueError as exc:
            raise LlmError(
                LlmCode.SERVER_ERROR,
                f"Ollama at {self._shown_host} sent a line that is not JSON: {line[:200]!r}. "
                "Is HARK_LLM__HOST pointing at an Ollama server?",
            ) from exc
        if not isinstance(obj, Mapping):
            raise LlmError(
                LlmCode.SERVER_ERROR,
                f"Ollama at {self._shown_host} sent an unexpected line: {line[:200]!r}",
            )
        if "error" in obj:
            raise LlmError(
                LlmCode.SERVER_ERROR,
                f"Ollama at {self._shown_host} failed while writing the reply: {obj['error']}",
            )
        deltas: list[ChatDelta] = []
        message = obj.get("message")
        if isinstance(message, Mapping):
            content = message.get("content")
            if isinstance(content, str) and content:
                deltas.append(ChatDelta(content=content))
            if message.get("tool_calls"):
                deltas.append(ChatDelta(tool_calls=parse_tool_calls(message["tool_calls"])))
        if obj.get("done") is True:
            log.debug(
                "LLM reply done: reason=%s eval_count=%s eval_ms=%.0f",
                obj.get("done_reason"),
                obj.get("eval_count"),
                (obj.get("eval_duration") or 0) / 1e6,
            )
            deltas.append(ChatDelta(done=True))
        return deltas

    # --- warm-up -------------------------------------------------------------------------------

    async def warm_up(self, system_prompt: str, tools: Sequence[ToolSpec] = ()) -> None:
        """Load the model and evaluate the system prompt now, so the first turn finds both ready.

        One ``/api/chat`` request with the system prompt (and the tools, which the prompt
        template renders next to it) and ``num_predict: 1``: Ollama loads the model, keeps it
        for ``keep_alive``, and its prompt cache then holds the start every turn shares. Raises
        :class:`LlmError`; callers log it and go on (a turn works without it, only slower).
        """
        if self._setup_error is not None:
            raise LlmError(self._setup_error.code, self._setup_error.message)
        body = self._chat_body([ChatMessage("system", system_prompt)], tools)
        body["stream"] = False
        body["options"] = {**body.get("options", {}), "num_predict": 1}
        try:
            response = await self._client.post(
                f"{self._host}/api/chat", json=body, headers=self._headers, timeout=self._timeout
            )
        except httpx.TimeoutException as exc:
            raise self._timeout_error(exc, False) from exc
        except (httpx.HTTPError, httpx.InvalidURL, OSError) as exc:
            raise self._unreachable(exc) from exc
        if response.status_code >= 300:
            raise self._status_error(response.status_code, response.content)
        try:
            done = response.json()
        except ValueError:
            done = {}
        durations = done if isinstance(done, Mapping) else {}
        log.info(
            "LLM warmed up: model=%s load_ms=%.0f prompt_ms=%.0f",
            self._settings.model,
            (durations.get("load_duration") or 0) / 1e6,
            (durations.get("prompt_eval_duration") or 0) / 1e6,
        )

    # --- health --------------------------------------------------------------------------------

    async def check(self) -> BackendStatus:
        """Reachable, authorised, and the configured model pulled? Never raises."""
        if self._setup_error is not None:
            return BackendStatus(False, self._setup_error.code, self._setup_error.message)
        try:
            response = await self._client.get(
                f"{self._host}/api/tags", headers=self._headers, timeout=self._timeout
            )
            if response.status_code >= 300:  # redirects are not followed: say so
                raise self._status_error(response.status_code, response.content)
            data = response.json()
        except httpx.TimeoutException as exc:
            return self._status(self._timeout_error(exc, False))
        except (httpx.HTTPError, httpx.InvalidURL, OSError) as exc:
            return self._status(self._unreachable(exc))
        except LlmError as exc:
            return self._status(exc)
        except ValueError:
            return self._status(
                LlmError(
                    LlmCode.SERVER_ERROR,
                    f"{self._shown_host} answered /api/tags with something that is not JSON. "
                    f"Is it an Ollama server? {_HOST_HINT}",
                )
            )
        names = [
            str(m.get("name") or m.get("model"))
            for m in (data.get("models") or [] if isinstance(data, Mapping) else [])
            if isinstance(m, Mapping)
        ]
        if not model_available(self._settings.model, names):
            have = ", ".join(names) if names else "none"
            return self._status(
                LlmError(
                    LlmCode.MODEL_MISSING,
                    f"Ollama at {self._shown_host} does not have the model "
                    f"{self._settings.model} (it has: {have}). Run `ollama pull "
                    f"{self._settings.model}` there, or set HARK_LLM__MODEL to one it has.",
                )
            )
        log.debug("LLM ready: model=%s host=%s", self._settings.model, self._shown_host)
        return BackendStatus(
            True, LlmCode.READY, f"{self._settings.model} on {self._shown_host} is ready"
        )

    @staticmethod
    def _status(error: LlmError) -> BackendStatus:
        return BackendStatus(False, error.code, error.message)

    # --- error mapping -------------------------------------------------------------------------

    def _unreachable(self, exc: Exception) -> LlmError:
        detail = str(exc) or type(exc).__name__
        if is_tls_error(exc):
            pin = self._settings.ca_cert
            trust = f"the pinned certificate {pin}" if pin else "the system's certificates"
            detail = (
                f"the TLS handshake failed: the server's certificate does not match {trust} "
                f"({detail})"
            )
        return LlmError(
            LlmCode.UNREACHABLE,
            f"Ollama at {self._shown_host} did not answer: {detail}. Is `ollama serve` "
            f"running? {_HOST_HINT}",
        )

    def _timeout_error(self, exc: httpx.TimeoutException, started: bool) -> LlmError:
        limit = self._settings.timeout_s
        if isinstance(exc, httpx.ConnectTimeout):
            what = f"did not accept a connection within {limit:g} s"
        elif started:
            what = f"stopped sending the reply for more than {limit:g} s"
        else:
            what = f"did not start answering within {limit:g} s"
        return LlmError(
            LlmCode.TIMEOUT,
            f"Ollama at {self._shown_host} {what}. The server may be overloaded or still "
            "loading the model; try again, or raise HARK_LLM__TIMEOUT_S.",
        )

    def _status_error(self, status: int, body: bytes) -> LlmError:
        text = error_text(body)
        host = self._shown_host
        if status in (401, 403):
            return LlmError(
                LlmCode.AUTH,
                f"{host} refused the request (HTTP {status}: {text or 'unauthorized'}). Check "
                f"the server API key: {self._auth_hint}.",
            )
        if status == 503 and error_code(body) == "provisioning":
            return LlmError(
                LlmCode.PROVISIONING,
                f"the Hark server at {host} is still setting up ({text}); Hark will use it "
                "as soon as it is ready.",
            )
        if status == 404 and is_json_error(body):
            model = self._settings.model
            return LlmError(
                LlmCode.MODEL_MISSING,
                f"Ollama at {host} does not have the model {model} ({text}). Run "
                f"`ollama pull {model}` there, or set HARK_LLM__MODEL to one it has.",
            )
        if status == 404:
            return LlmError(
                LlmCode.SERVER_ERROR,
                f"{host} has no Ollama API (HTTP 404: {text}). Is it an Ollama server? "
                f"{_HOST_HINT}",
            )
        return LlmError(
            LlmCode.SERVER_ERROR, f"Ollama at {host} answered HTTP {status}: {text or 'no detail'}"
        )


def model_available(model: str, names: Sequence[str]) -> bool:
    """Whether ``model`` is among ``names``; a name without a tag means ``name:latest``."""

    def norm(name: str) -> str:
        return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"

    wanted = norm(model)
    return any(norm(n) == wanted for n in names)
