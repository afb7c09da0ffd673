"""API keys and the middleware that demands one on every route but ``/healthz``.

Keys come from a file (one per line; blank lines and lines starting with ``#`` are skipped)
and/or from ``HARK_SERVER__API_KEYS``. The file must not be readable or writable by other
users: the server refuses to start otherwise (``chmod 600 FILE``), because a key that anyone
on the machine can read protects nothing. With no key at all the server refuses to start too:
it never runs open.

A presented key is compared with *every* configured key through SHA-256 digests and
:func:`hmac.compare_digest`, so neither the position of a match nor the key's length shows in
the timing. Keys are never logged; logs and the rate limiter use :func:`key_id`, a short
fingerprint.

Authentication runs before routing, so a request without a valid key learns nothing about
which paths exist: every path but ``/healthz`` answers 401 without one.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import stat
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from app.shared.errors import ConfigCode
from app.shared.protocol import BEARER, HEALTH_PATH, ErrorCode
from remote.server.errors import ApiError, send_error
from remote.server.limits import RateLimiter
from remote.server.settings import ServerConfigError, ServerSettings
from remote.tls import MIN_API_KEY_CHARS

log = logging.getLogger(__name__)

KEY_ID_SCOPE = "hark.key_id"
"""Where the middleware leaves the caller's key fingerprint in the ASGI scope (for the log)."""
PUBLIC_PATHS = frozenset({HEALTH_PATH})


def key_id(key: str) -> str:
    """A short, stable fingerprint of a key, safe for logs (``k1a2b3c4d``)."""
    return "k" + hashlib.sha256(b"hark-server-key:" + key.encode()).hexdigest()[:8]


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()


def _check_key(key: str, where: str) -> str:
    if not key.isprintable() or any(ch.isspace() for ch in key) or not key.isascii():
        raise ServerConfigError(
            ConfigCode.SERVER_KEY_INVALID,
            f"the API key in {where} holds spaces or characters that cannot travel in an HTTP "
            "header; use letters, digits and punctuation only (e.g. from `openssl rand -hex 32`)",
        )
    if len(key) < MIN_API_KEY_CHARS:  # one rule for the file, the environment and --make-key
        raise ServerConfigError(
            ConfigCode.API_KEY_TOO_SHORT,
            f"the API key in {where} is shorter than {MIN_API_KEY_CHARS} characters, too easy "
            "to guess for a server on the network; use a long random key (`hark server "
            "--make-key FILE` makes one, or `openssl rand -hex 32`)",
        )
    return key


def read_key_file(path: Path) -> list[str]:
    """The keys in ``path``; refuses a missing file or one that other users may read."""
    try:
        info = path.stat()
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ServerConfigError(
            ConfigCode.SERVER_KEY_FILE_UNREADABLE,
            f"cannot read the API key file {path} ({type(exc).__name__}: {exc}); create it with "
            f"one key per line and `chmod 600 {path}`",
        ) from exc
    if info.st_mode & (stat.S_IROTH | stat.S_IWOTH):
        raise ServerConfigError(
            ConfigCode.SERVER_KEY_FILE_OPEN,
            f"the API key file {path} can be read or changed by every user of this machine; run "
            f"`chmod 600 {path}` and start again",
        )
    keys = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            keys.append(_check_key(stripped, f"{path} line {number}"))
    return keys


def bearer_token(value: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` value (scheme case-insensitive)."""
    if not value:
        return None
    scheme, _, token = value.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != BEARER.lower() or not token:
        return None
    return token


class ApiKeys:
    """The set of keys the server accepts; matching is constant-time (see the module doc)."""

    def __init__(self, keys: Iterable[str]) -> None:
        unique = dict.fromkeys(keys)
        self._entries: Sequence[tuple[bytes, str]] = [(_digest(k), key_id(k)) for k in unique]

    @classmethod
    def from_settings(cls, settings: ServerSettings) -> ApiKeys:
        """The keys of the key file and the environment; refuses to go on with none."""
        keys = [
            _check_key(s.get_secret_value().strip(), "HARK_SERVER__API_KEYS")
            for s in settings.api_keys
            if s.get_secret_value().strip()
        ]
        if settings.api_key_file is not None:
            keys += read_key_file(settings.api_key_file)
        if not keys:
            raise ServerConfigError(
                ConfigCode.SERVER_NO_API_KEY,
                "the Hark server has no API key and will not run open: put one key per line in "
                "a file (chmod 600) and set HARK_SERVER__API_KEY_FILE to it (or `hark server "
                "--api-key-file FILE`), or set HARK_SERVER__API_KEYS",
            )
        return cls(keys)

    def __len__(self) -> int:
        return len(self._entries)

    def identify(self, token: str) -> str | None:
        """The fingerprint of the key ``token`` matches, or None; compares with every key."""
        presented = _digest(token)
        found: str | None = None
        for digest, ident in self._entries:
            if hmac.compare_digest(presented, digest):
                found = ident
        return found


class AuthMiddleware:
    """ASGI middleware: a valid bearer key (and room in its rate limit) or 401/429.

    ``on_authorized(path)`` is called for every request that passes (the server's activity
    clock). The key fingerprint is left in ``scope["hark.key_id"]`` for the access log.
    """

    def __init__(
        self,
        app: ASGIApp,
        keys: ApiKeys,
        limiter: RateLimiter | None = None,
        on_authorized: Callable[[str], None] | None = None,
        failures: RateLimiter | None = None,
    ) -> None:
        self.app = app
        self.keys = keys
        self.limiter = limiter
        self.on_authorized = on_authorized
        self.failures = failures
        """Wrong keys per client address: once used up, the address gets 429 whatever it sends,
        before its key is even looked at (a right guess must not stand out)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan" or (
            scope["type"] == "http" and scope["path"] in PUBLIC_PATHS
        ):
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":  # no websocket routes exist; refuse without a word
            await send({"type": "websocket.close", "code": 1008})
            return
        client = client_address(scope)
        if self.failures is not None:
            blocked_s = self.failures.wait_s(client)
            if blocked_s > 0:
                await send_error(send, _too_many_failures(blocked_s))
                return
        token = bearer_token(Headers(scope=scope).get("authorization"))
        ident = self.keys.identify(token) if token is not None else None
        if ident is None:
            if token is not None:
                log.info("a wrong API key from %s", client)
                if self.failures is not None:
                    self.failures.acquire(client)
            await send_error(send, _unauthorized(token is not None))
            return
        scope[KEY_ID_SCOPE] = ident
        if self.limiter is not None:
            wait_s = self.limiter.acquire(ident)
            if wait_s > 0:
                retry = str(max(1, int(wait_s + 0.999)))
                await send_error(
                    send,
                    ApiError(
                        429,
                        ErrorCode.RATE_LIMITED,
                        f"too many requests with this API key (the limit is "
                        f"{self.limiter.per_minute} a minute); try again in {retry} s",
                        {"Retry-After": retry},
                    ),
                )
                return
        if self.on_authorized is not None:
            self.on_authorized(scope["path"])
        await self.app(scope, receive, send)


def client_address(scope: Scope) -> str:
    """The caller's address: uvicorn puts the one Caddy forwards here (trusted only from
    loopback), or the peer's own without Caddy."""
    client = scope.get("client")
    return str(client[0]) if client else "-"


def _too_many_failures(wait_s: float) -> ApiError:
    retry = str(max(1, int(wait_s + 0.999)))
    return ApiError(
        429,
        ErrorCode.RATE_LIMITED,
        f"too many wrong API keys from this address; try again in {retry} s with the right "
        "key (on the desktop: `hark secret set server-api-key`)",
        {"Retry-After": retry},
    )


def _unauthorized(presented: bool) -> ApiError:
    if presented:
        message = (
            "the API key is not valid for this server; check the key it was started with "
            "(on the desktop: `hark secret set server-api-key`)"
        )
        challenge = f'{BEARER} error="invalid_token"'
    else:
        message = "an API key is required: send the header `Authorization: Bearer <key>`"
        challenge = BEARER
    return ApiError(401, ErrorCode.UNAUTHORIZED, message, {"WWW-Authenticate": challenge})
