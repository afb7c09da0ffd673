"""What every chat model over HTTP(S) shares: the client and its TLS pin, the key, and the
failures told in words (no connection, a timeout, a refused key, a server still setting up).

:class:`~app.llm.ollama.OllamaChat` and :class:`~app.llm.openai_compat.OpenAIChat` build on it;
each adds its own wire format and what its own server's errors mean.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import AsyncGenerator
from typing import Any

import httpx

from app.core.types import BackendStatus
from app.llm.wire import display_host, error_code, error_text
from app.settings.schema import LlmSettings
from app.shared.errors import LlmCode, LlmError
from app.shared.tls import is_tls_error, pinned_ssl_context, public_ssl_context

log = logging.getLogger(__name__)


class HttpChat:
    """The HTTP side of a chat model. ``server`` names it in messages ("Ollama at …"), ``kind``
    in questions ("Is it an Ollama server?"), ``api`` the API it speaks; ``serve_hint`` says
    how to start it and ``host_hint`` where the address is set.

    ``token`` is sent as ``Authorization: Bearer`` and never logged. Pass ``client`` to share or
    inject an ``httpx.AsyncClient`` (its TLS settings are then the caller's); otherwise one is
    built from ``settings`` and closed by :meth:`aclose`.
    """

    server = "the server"
    api = "LLM"
    kind = "an LLM server"
    serve_hint = ""
    host_hint = "Set HARK_LLM__HOST."

    def __init__(
        self,
        settings: LlmSettings,
        token: str | None,
        client: httpx.AsyncClient | None,
        *,
        auth_hint: str,
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

    @property
    def _at(self) -> str:
        return f"{self.server} at {self._shown_host}"

    async def aclose(self) -> None:
        """Close the HTTP client if this object made it."""
        if self._owns_client:
            await self._client.aclose()

    def _raise_setup_error(self) -> None:
        if self._setup_error is not None:
            raise LlmError(self._setup_error.code, self._setup_error.message)

    @staticmethod
    def _status(error: LlmError) -> BackendStatus:
        return BackendStatus(False, error.code, error.message)

    def _ready(self) -> BackendStatus:
        log.debug("LLM ready: model=%s host=%s", self._settings.model, self._shown_host)
        return BackendStatus(
            True, LlmCode.READY, f"{self._settings.model} on {self._shown_host} is ready"
        )

    def _not_json(self, path: str) -> LlmError:
        return LlmError(
            LlmCode.SERVER_ERROR,
            f"{self._shown_host} answered {path} with something that is not JSON. Is it "
            f"{self.kind}? {self.host_hint}",
        )

    # --- requests ------------------------------------------------------------------------------

    async def _lines(self, path: str, body: dict[str, Any]) -> AsyncGenerator[str, None]:
        """POST ``body`` to ``path`` and hand out the streamed answer line by line; every
        failure of the connection comes out as an :class:`LlmError`. Use it under
        ``contextlib.aclosing``, so leaving early closes the stream at once."""
        self._raise_setup_error()
        started = False
        try:
            async with self._client.stream(
                "POST",
                f"{self._host}{path}",
                json=body,
                headers=self._headers,
                timeout=self._timeout,
            ) as response:
                if response.status_code >= 300:  # redirects are not followed: say so
                    raise self._status_error(response.status_code, await response.aread())
                started = True
                async for line in response.aiter_lines():
                    yield line
        except httpx.TimeoutException as exc:
            raise self._timeout_error(exc, started) from exc
        except (httpx.RemoteProtocolError, httpx.ReadError) as exc:
            if started:
                raise self._cut(exc) from exc
            raise self._unreachable(exc) from exc
        except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError, OSError) as exc:
            raise self._unreachable(exc) from exc

    async def _request(
        self, method: str, path: str, body: dict[str, Any] | None = None
    ) -> httpx.Response:
        """One whole request; a failure, or an answer that is not a success, raises
        :class:`LlmError`."""
        self._raise_setup_error()
        try:
            response = await self._client.request(
                method,
                f"{self._host}{path}",
                json=body,
                headers=self._headers,
                timeout=self._timeout,
            )
        except httpx.TimeoutException as exc:
            raise self._timeout_error(exc, False) from exc
        except (httpx.HTTPError, httpx.InvalidURL, OSError) as exc:
            raise self._unreachable(exc) from exc
        if response.status_code >= 300:  # redirects are not followed: say so
            raise self._status_error(response.status_code, response.content)
        return response

    async def _listing(self, path: str) -> Any:
        """The JSON a server lists its models with (``check()``); raises :class:`LlmError`."""
        response = await self._request("GET", path)
        try:
            return response.json()
        except ValueError:
            raise self._not_json(path) from None

    # --- error mapping -------------------------------------------------------------------------

    def _model_hint(self) -> str:
        return "Set HARK_LLM__MODEL to one it has."

    def _model_missing(self, detail: str) -> LlmError:
        """The server has no model by the configured name; ``detail``: what it said or has."""
        return LlmError(
            LlmCode.MODEL_MISSING,
            f"{self._at} does not have the model {self._settings.model} ({detail}). "
            f"{self._model_hint()}",
        )

    def _no_api(self, status: int, body: bytes) -> LlmError:
        """A 404 from something that is not this kind of server at all."""
        return LlmError(
            LlmCode.SERVER_ERROR,
            f"{self._shown_host} has no {self.api} API there (HTTP {status}: "
            f"{error_text(body)}). Is it {self.kind}? {self.host_hint}",
        )

    def _status_error(self, status: int, body: bytes) -> LlmError:
        """What an answer that is not a success means; each server kind says more."""
        return self._common_status_error(status, body) or self._other_status_error(status, body)

    def _unreachable(self, exc: Exception) -> LlmError:
        detail = str(exc) or type(exc).__name__
        if is_tls_error(exc):
            pin = self._settings.ca_cert
            trust = f"the pinned certificate {pin}" if pin else "the system's certificates"
            detail = (
                f"the TLS handshake failed: the server's certificate does not match {trust} "
                f"({detail})"
            )
        serve = f" {self.serve_hint}" if self.serve_hint else ""
        return LlmError(
            LlmCode.UNREACHABLE,
            f"{self._at} did not answer: {detail}.{serve} {self.host_hint}",
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
            f"{self._at} {what}. The server may be overloaded or still loading the model; try "
            "again, or raise HARK_LLM__TIMEOUT_S.",
        )

    def _cut(self, exc: Exception | None = None) -> LlmError:
        if exc is None:
            return LlmError(
                LlmCode.STREAM_CUT,
                f"{self._at} ended the reply before it was finished. Try again; if it keeps "
                "happening, check the server's log.",
            )
        return LlmError(
            LlmCode.STREAM_CUT,
            f"the connection to {self._at} broke in the middle of the reply "
            f"({exc or type(exc).__name__}). Try again.",
        )

    def _common_status_error(self, status: int, body: bytes) -> LlmError | None:
        """What a refused key or a Hark server still setting up means on any server."""
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
        return None

    def _other_status_error(self, status: int, body: bytes) -> LlmError:
        text = error_text(body)
        return LlmError(
            LlmCode.SERVER_ERROR, f"{self._at} answered HTTP {status}: {text or 'no detail'}"
        )
