"""Limits that keep one busy or hostile client from taking the server down.

- :class:`RateLimiter`: a token bucket per API key (requests per minute, 429 when empty).
- :class:`BodyLimitMiddleware`: the request body may not exceed ``max_upload_mb``, checked on
  ``Content-Length`` first and counted while it is read (a chunked upload has no length);
  413 either way. Multipart routes also answer 415 to any other content type before reading.
- :class:`TranscriptionQueue`: a few transcriptions run, a few wait, the rest get 503 busy
  with a ``Retry-After`` estimated from recent run times.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncIterator, Callable, Collection
from dataclasses import dataclass

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.shared.protocol import ErrorCode
from remote.server.errors import ApiError, send_error

DRAIN_EXTRA_BYTES = 16 * 1024 * 1024
"""After refusing a body, read (and drop) up to this much more of it, so that the client,
still sending, gets the 413 instead of a reset connection. Larger bodies are cut off."""


@dataclass
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    """Token buckets keyed by API key fingerprint: ``per_minute`` requests, refilled evenly.

    A bucket holds one minute's worth, so a client may burst that much after a quiet minute.
    ``clock`` is injectable so tests can move time.
    """

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        if per_minute <= 0:
            raise ValueError("per_minute must be positive (leave the limiter out for no limit)")
        self.per_minute = per_minute
        self._rate = per_minute / 60.0
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def wait_s(self, key: str) -> float:
        """The seconds until ``key`` has a token again (0: it has one now); takes nothing."""
        bucket = self._buckets.get(key)
        if bucket is None:
            return 0.0
        tokens = min(
            float(self.per_minute), bucket.tokens + (self._clock() - bucket.at) * self._rate
        )
        return 0.0 if tokens >= 1.0 else (1.0 - tokens) / self._rate

    def acquire(self, key: str) -> float:
        """Take one token for ``key``: 0 when allowed, else the seconds until one is free."""
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(tokens=float(self.per_minute), at=now)
        bucket.tokens = min(float(self.per_minute), bucket.tokens + (now - bucket.at) * self._rate)
        bucket.at = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self._rate


class PerKeyLimit:
    """At most ``limit`` things at once per key (an API key's fingerprint)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._held: dict[str, int] = {}

    def try_acquire(self, key: str) -> bool:
        held = self._held.get(key, 0)
        if held >= self.limit:
            return False
        self._held[key] = held + 1
        return True

    def release(self, key: str) -> None:
        held = self._held.get(key, 0) - 1
        if held > 0:
            self._held[key] = held
        else:
            self._held.pop(key, None)

    def held(self, key: str) -> int:
        return self._held.get(key, 0)


class _TooLarge(Exception):
    """Raised into the app from ``receive`` once the body passes the limit."""


def _too_large(limit: int) -> ApiError:
    return ApiError(
        413,
        ErrorCode.TOO_LARGE,
        f"the request body is larger than this server accepts ({limit / 1048576:g} MiB); send "
        "a shorter or more compressed recording (e.g. Opus or MP3), or raise "
        "HARK_SERVER__MAX_UPLOAD_MB on the server",
    )


async def _drain(receive: Receive, budget: int) -> None:
    """Read and drop the rest of a body, up to ``budget`` bytes."""
    while budget > 0:
        message = await receive()
        if message["type"] != "http.request":
            return
        budget -= len(message.get("body", b""))
        if not message.get("more_body", False):
            return


class BodyLimitMiddleware:
    """413 for bodies over ``max_bytes``; 415 for non-multipart bodies on ``multipart_paths``.

    When the limit is crossed while the app reads, the app's own answer to the broken read
    is dropped and the 413 sent instead (it cannot have answered before reading its body).
    """

    def __init__(self, app: ASGIApp, max_bytes: int, multipart_paths: Collection[str] = ()) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.multipart_paths = frozenset(multipart_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        refusal = self._check_headers(scope, headers)
        if refusal is not None:
            declared = headers.get("content-length", "")
            if declared.isdigit() and int(declared) <= self.max_bytes + DRAIN_EXTRA_BYTES:
                await _drain(receive, int(declared))
            await send_error(send, refusal)
            return

        received = 0
        body_done = False
        exceeded = False
        started = False

        async def limited_receive() -> Message:
            nonlocal received, body_done, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                body_done = not message.get("more_body", False)
                if received > self.max_bytes:
                    exceeded = True
                    raise _TooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if exceeded:
                return  # the app's answer to the broken read; the 413 goes out below
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not exceeded:
                raise
        if exceeded and not started:
            if not body_done:
                await _drain(receive, DRAIN_EXTRA_BYTES)
            await send_error(send, _too_large(self.max_bytes))

    def _check_headers(self, scope: Scope, headers: Headers) -> ApiError | None:
        declared = headers.get("content-length")
        if declared is not None and (not declared.strip().isdigit()):
            return ApiError(400, ErrorCode.BAD_REQUEST, "the Content-Length header is not a number")
        if declared is not None and int(declared) > self.max_bytes:
            return _too_large(self.max_bytes)
        if scope["method"] == "POST" and scope["path"] in self.multipart_paths:
            kind = headers.get("content-type", "").split(";", 1)[0].strip().lower()
            if kind != "multipart/form-data":
                return ApiError(
                    415,
                    ErrorCode.UNSUPPORTED_MEDIA,
                    f"this route takes multipart/form-data (a `file` field with the audio), not "
                    f"{kind or 'a body without a content type'}",
                )
        return None


class QueueFull(Exception):
    """Every running slot and every waiting place is taken."""

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"busy; retry after {retry_after_s} s")
        self.retry_after_s = retry_after_s


class TranscriptionQueue:
    """At most ``concurrency`` transcriptions run and ``max_waiting`` wait; others are refused.

    Refusing at once (instead of queueing without end) keeps memory bounded and tells clients
    to come back (``Retry-After``, estimated from an average of recent run times).
    """

    def __init__(self, concurrency: int, max_waiting: int) -> None:
        if concurrency < 1 or max_waiting < 0:
            raise ValueError("concurrency must be at least 1 and max_waiting at least 0")
        self.concurrency = concurrency
        self.max_waiting = max_waiting
        self._semaphore = asyncio.Semaphore(concurrency)
        self._admitted = 0
        self._running = 0
        self._average_s = 1.0

    @property
    def running(self) -> int:
        """Transcriptions running now."""
        return self._running

    @property
    def waiting(self) -> int:
        """Transcriptions waiting for a slot."""
        return self._admitted - self._running

    def retry_after_s(self) -> int:
        """A fair guess at when a slot frees up, in whole seconds (at least 1)."""
        ahead = self.waiting + 1
        return max(1, math.ceil(self._average_s * ahead / self.concurrency))

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold a running slot for the body of the ``async with``; raises :class:`QueueFull`."""
        if self._admitted >= self.concurrency + self.max_waiting:
            raise QueueFull(self.retry_after_s())
        self._admitted += 1
        try:
            async with self._semaphore:
                self._running += 1
                started = time.perf_counter()
                try:
                    yield
                finally:
                    self._running -= 1
                    took = time.perf_counter() - started
                    self._average_s = 0.7 * self._average_s + 0.3 * took
        finally:
            self._admitted -= 1
